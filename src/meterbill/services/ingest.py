"""Usage ingest: validate, de-duplicate and store raw events.

One call handles one batch in the caller's transaction. Each event is accepted, reported as
a duplicate (its customer and ``transaction_id`` were already accepted), or rejected with a
reason; a rejected event never affects the others of its batch (spec 3).

An accepted event is stored and listed as pending in the same transaction; the buckets of
its order-free meters get it when :mod:`meterbill.services.rollup` folds it (shortly after,
off the request), and every read adds the events still pending (``services.usage``), so it
counts at once. Time-weighted meters, whose hours depend on the order of their values, are
recomputed here, in the event's transaction.

A batch with rejected events writes one ``events.rejected`` webhook event (its counts and
the first :data:`REJECTS_IN_EVENT` reasons) in the same transaction; accepted events write
nothing more.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from meterbill.core.aggregation import Partial, bucketize, check_group, merge
from meterbill.core.catalog import Aggregation, Meter
from meterbill.core.errors import InvalidEvent
from meterbill.core.events import Event, validate_event
from meterbill.core.periods import Span, WindowSize, floor_to
from meterbill.db import Session
from meterbill.db import catalog as catalog_store
from meterbill.db import invoices as invoice_store
from meterbill.db import usage as store
from meterbill.services.catalog import CatalogState
from meterbill.services.jsonio import JSONError, dumps_text
from meterbill.services.outbox import emit
from meterbill.services.usage import MeterRef

__all__ = [
    "REJECTS_IN_EVENT",
    "BatchSummary",
    "Outcome",
    "Status",
    "apply_events",
    "apply_to_meters",
    "deferred_types",
    "ingest_batch",
    "rebuild_meter",
]

_SIZES = (WindowSize.HOUR, WindowSize.DAY)
REJECTS_IN_EVENT = 5
"""How many rejected events an ``events.rejected`` webhook event lists."""


class Status(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one event of a batch."""

    status: Status
    transaction_id: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class BatchSummary:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0

    def add(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.status is Status.ACCEPTED:
                self.accepted += 1
            elif outcome.status is Status.DUPLICATE:
                self.duplicate += 1
            else:
                self.rejected += 1


def _transaction_id(item: object) -> str | None:
    if isinstance(item, dict):
        value = item.get("transaction_id")
        return value if isinstance(value, str) else None
    return None


def deferred_types(state: CatalogState, event_types: Iterable[str]) -> set[str]:
    """The event types among ``event_types`` that feed an order-free meter, whose buckets
    the fold updates after ingest."""
    return {
        event_type
        for event_type in event_types
        if any(ref.folded for ref in state.by_event_type.get(event_type, ()))
    }


def _grouping(state: CatalogState, event_type: str) -> tuple[Meter, ...]:
    """The meters of ``event_type`` that group by something."""
    return tuple(ref.meter for ref in state.by_event_type.get(event_type, ()) if ref.meter.group_by)


def ingest_batch(
    session: Session,
    state: CatalogState,
    items: Sequence[object],
    *,
    now: datetime,
    only_customer: str | None = None,
) -> list[Outcome]:
    """Ingest decoded events (a ``JSONError`` item stands for a line that was not JSON).

    Besides ``validate_event``'s checks, an event is rejected when its group for a meter of
    its type breaks the limits (``check_group``: a group value over 200 characters, spec 7),
    so that no stored group can exceed what the database indexes.

    With ``only_customer`` (a customer's API key), events of any other customer are
    rejected exactly like events of an unknown one, so nothing about them leaks.
    """
    outcomes: list[Outcome | None] = [None] * len(items)
    valid: list[tuple[int, Event]] = []
    grouping: dict[str, tuple[Meter, ...]] = {}
    for index, item in enumerate(items):
        if isinstance(item, JSONError):
            outcomes[index] = Outcome(Status.REJECTED, None, str(item))
            continue
        try:
            event = validate_event(item, now=now)
            meters = grouping.get(event.event_type)
            if meters is None:
                meters = grouping[event.event_type] = _grouping(state, event.event_type)
            for meter in meters:
                check_group(meter, event)
            valid.append((index, event))
        except InvalidEvent as error:
            outcomes[index] = Outcome(Status.REJECTED, _transaction_id(item), str(error))
    owners = catalog_store.resolve_customers(session, {event.customer_id for _, event in valid})
    fresh: dict[tuple[str, str], tuple[int, Event]] = {}
    for index, event in valid:
        customer_id = owners.get(event.customer_id)
        if customer_id is None or only_customer not in (None, customer_id):
            reason = f"unknown customer '{event.customer_id}'"
            outcomes[index] = Outcome(Status.REJECTED, event.transaction_id, reason)
            continue
        key = (customer_id, event.transaction_id)
        if key in fresh:
            outcomes[index] = Outcome(Status.DUPLICATE, event.transaction_id)
            continue
        resolved = Event(
            event.transaction_id, customer_id, event.event_type, event.timestamp, event.properties
        )
        fresh[key] = (index, resolved)
    stored = _store(session, state, [event for _, event in fresh.values()], now=now)
    for key, (index, event) in fresh.items():
        status = Status.ACCEPTED if key in stored else Status.DUPLICATE
        outcomes[index] = Outcome(status, event.transaction_id)
    final = [outcome or Outcome(Status.REJECTED, None, "not processed") for outcome in outcomes]
    if len(stored) < len(items):  # not every event accepted: maybe some rejected
        _report_rejects(session, final, now=now)
    return final


def _report_rejects(session: Session, outcomes: Sequence[Outcome], *, now: datetime) -> None:
    """One ``events.rejected`` webhook event for a batch that had rejected events."""
    summary = BatchSummary()
    summary.add(outcomes)
    if not summary.rejected:
        return
    first = [
        {"index": index, "transaction_id": outcome.transaction_id, "reason": outcome.reason}
        for index, outcome in enumerate(outcomes)
        if outcome.status is Status.REJECTED
    ][:REJECTS_IN_EVENT]
    emit(
        session,
        "events.rejected",
        {
            "accepted": summary.accepted,
            "duplicate": summary.duplicate,
            "rejected": summary.rejected,
            "rejects": first,
        },
        at=now,
    )


def _store(
    session: Session, state: CatalogState, events: list[Event], *, now: datetime
) -> set[tuple[str, str]]:
    if not events:
        return set()
    types = {event.event_type for event in events}
    weighted = any(not ref.folded for t in types for ref in state.by_event_type.get(t, ()))
    # Buckets of order-free meters are updated later by the fold, so concurrent batches of
    # the same customers only need to exclude what reads and rewrites (closing an invoice,
    # alerts, a time-weighted meter's recomputed hours): a shared lock, unless this batch
    # itself feeds a time-weighted meter.
    catalog_store.lock_customers(
        session, {event.customer_id for event in events}, shared=not weighted
    )
    # In key order, so that concurrent writers of the same keys wait instead of deadlocking.
    events = sorted(events, key=lambda event: (event.customer_id, event.transaction_id))
    inserted = store.insert_events(
        session,
        [
            {
                "customer_id": event.customer_id,
                "transaction_id": event.transaction_id,
                "event_type": event.event_type,
                "timestamp": event.timestamp,
                "arrived_at": now,
                "properties": dumps_text(event.properties),
            }
            for event in events
        ],
        pending=deferred_types(state, types),
    )
    accepted = [e for e in events if (e.customer_id, e.transaction_id) in inserted]
    by_customer: dict[str, list[Event]] = defaultdict(list)
    for event in accepted:
        by_customer[event.customer_id].append(event)
    if weighted:
        apply_to_meters(session, state, accepted, folded=False)
    invoice_store.flag_late_usage(
        session, {customer: [e.timestamp for e in evs] for customer, evs in by_customer.items()}
    )
    return inserted


def apply_to_meters(
    session: Session, state: CatalogState, events: list[Event], *, folded: bool
) -> None:
    """Fold events into the buckets of every meter of their types that the fold fills
    (``folded``) or that ingest recomputes (not ``folded``: time-weighted), in meter order."""
    by_meter: dict[int, tuple[MeterRef, list[Event]]] = {}
    for event in events:
        for ref in state.by_event_type.get(event.event_type, ()):
            if ref.folded is folded:
                by_meter.setdefault(ref.id, (ref, []))[1].append(event)
    for _, (ref, mine) in sorted(by_meter.items()):
        apply_events(session, ref, mine)


def apply_events(session: Session, ref: MeterRef, events: list[Event]) -> None:
    """Fold newly stored events (of any customers) into the meter's hour and day buckets."""
    by_customer: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_customer[event.customer_id].append(event)
    updates: dict[tuple[str, tuple[str, ...], WindowSize, datetime], Partial] = {}
    for customer_id, mine in by_customer.items():
        partials = bucketize(ref.meter, mine, _SIZES)
        if ref.meter.aggregation is Aggregation.TIME_WEIGHTED:
            hours = {(group, start) for group, size, start in partials if size is WindowSize.HOUR}
            if hours:
                refresh_time_weighted(session, ref, customer_id, hours)
            continue
        updates.update(((customer_id, *key), partial) for key, partial in partials.items())
    if updates:
        store.add_buckets(session, meter_id=ref.id, updates=updates, merge=merge)


def refresh_time_weighted(
    session: Session, ref: MeterRef, customer_id: str, hours: set[tuple[tuple[str, ...], datetime]]
) -> None:
    """Recompute the hour buckets that got events, then their days, from the raw events.

    A time-weighted partial depends on the order of the values inside its slice, so an event
    that lands between two others cannot be folded in; the touched hours are recomputed
    (an hour of a gauge holds few events) and each touched day is merged from its hours.
    """
    session.flush()
    meter = ref.meter
    touched_hours = sorted({start for _, start in hours})
    updates: dict[tuple[tuple[str, ...], WindowSize, datetime], Partial] = {}
    for start in touched_hours:
        span = Span(start, start + timedelta(hours=1))
        events = store.fetch_events(
            session, customer_id=customer_id, event_types=meter.event_types, span=span
        )
        for (group, size, bucket), partial in bucketize(meter, events, (WindowSize.HOUR,)).items():
            updates[(group, size, bucket)] = partial
    store.write_buckets(
        session,
        meter_id=ref.id,
        customer_id=customer_id,
        updates=updates,
        replace=True,
        merge=merge,
    )
    session.flush()
    days = sorted({floor_to(start, WindowSize.DAY) for start in touched_hours})
    day_updates: dict[tuple[tuple[str, ...], WindowSize, datetime], Partial] = {}
    for day in days:
        loaded = store.load_buckets(
            session,
            meter_id=ref.id,
            customer_id=customer_id,
            size=WindowSize.HOUR,
            span=Span(day, day + timedelta(days=1)),
        )
        for group, pieces in loaded.items():
            total = Partial()
            for _, partial in pieces:
                total = merge(total, partial)
            day_updates[(group, WindowSize.DAY, day)] = total
    store.write_buckets(
        session,
        meter_id=ref.id,
        customer_id=customer_id,
        updates=day_updates,
        replace=True,
        merge=merge,
    )


def rebuild_meter(session: Session, ref: MeterRef) -> None:
    """Rebuild all of a meter's buckets from the raw events (new or changed meter).

    Every customer's lock is taken first, so no fold runs meanwhile; an order-free meter is
    rebuilt from the folded events only (the fold adds the pending ones, which reads add
    until then), a time-weighted one from all of them (the fold leaves it alone).
    """
    rows = catalog_store.customer_rows(session)
    catalog_store.lock_customers(session, [row.id for row in rows])
    store.delete_buckets(session, meter_id=ref.id)
    session.flush()
    for row in rows:
        for batch in store.iter_customer_events(
            session,
            customer_id=row.id,
            event_types=ref.meter.event_types,
            folded_only=ref.folded,
        ):
            apply_events(session, ref, batch)
