"""Loading a customer's usage in-process, and checking what the draft invoice then says.

Two loaders, both in meterbill's own code:

* ``ingest``: ``ingest_batch`` in batches, one transaction per batch, exactly what the CLI
  and the HTTP API run for each batch (minus parsing);
* ``bulk``: the same rows through ``meterbill.db.usage.insert_events`` (in batches), the
  partials folded in memory with ``bucketize`` / ``merge`` and written by one
  ``write_buckets`` call per meter: the same stored state, built in one pass (for a customer
  with no buckets yet).

Only the time spent inside meterbill is counted; making the events is not.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from meterbill.cli.folding import fold_all
from meterbill.core.aggregation import Partial, bucketize, merge
from meterbill.core.events import Event, validate_event
from meterbill.core.periods import WindowSize
from meterbill.db import usage as usage_store
from meterbill.db.database import Database
from meterbill.services.catalog import load_catalog
from meterbill.services.ingest import Status, ingest_batch
from meterbill.services.invoicing import InvoiceView
from meterbill.services.jsonio import dumps_text

__all__ = ["LOADERS", "Load", "Tally", "bulk_load", "check_draft", "ingest_load"]

LOADERS = ("ingest", "bulk")
_SIZES = (WindowSize.HOUR, WindowSize.DAY)


@dataclass(slots=True)
class Tally:
    """What was sent: bytes per (customer, cluster), to check the draft against."""

    bytes: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, batch: Iterable[dict[str, object]]) -> None:
        for item in batch:
            properties = item["properties"]
            assert isinstance(properties, dict)
            key = (str(item["customer_id"]), str(properties["cluster_id"]))
            amount = properties["uncompressed_bytes"]
            assert isinstance(amount, int)
            self.bytes[key] = self.bytes.get(key, 0) + amount


@dataclass(frozen=True, slots=True)
class Load:
    accepted: int
    seconds: float


def ingest_load(
    database: Database, batches: Iterable[list[dict[str, object]]], *, now: datetime
) -> Load:
    """``ingest_batch`` per batch, each in its own transaction, then the fold of what they
    left pending (timed too: the state reads are measured on is the folded one)."""
    accepted = 0
    seconds = 0.0
    for batch in batches:
        started = time.perf_counter()
        with database.transaction() as session:
            outcomes = ingest_batch(session, load_catalog(session), batch, now=now)
        seconds += time.perf_counter() - started
        accepted += sum(outcome.status is Status.ACCEPTED for outcome in outcomes)
    started = time.perf_counter()
    fold_all(database)
    seconds += time.perf_counter() - started
    return Load(accepted, seconds)


def bulk_load(
    database: Database,
    customer_id: str,
    batches: Iterable[list[dict[str, object]]],
    *,
    now: datetime,
) -> Load:
    """Events in batches, then every bucket of the customer in one write (see module doc).

    The events must be the customer's first and come in time order (merge order matters
    for time-weighted meters only, but the benchmark keeps it right anyway).
    """
    accepted = 0
    seconds = 0.0
    with database.transaction() as session:
        state = load_catalog(session)
    folded: dict[int, dict[tuple[tuple[str, ...], WindowSize, datetime], Partial]] = {}
    for batch in batches:
        started = time.perf_counter()
        events = [validate_event(item, now=now) for item in batch]
        if any(event.customer_id != customer_id for event in events):
            raise ValueError(f"bulk_load takes events of {customer_id!r} only")
        with database.transaction() as session:
            accepted += len(usage_store.insert_events(session, [_row(e, now) for e in events]))
        for event_type in {event.event_type for event in events}:
            for ref in state.by_event_type.get(event_type, ()):
                mine = folded.setdefault(ref.id, {})
                for key, partial in bucketize(ref.meter, events, _SIZES).items():
                    earlier = mine.get(key)
                    mine[key] = partial if earlier is None else merge(earlier, partial)
        seconds += time.perf_counter() - started
    started = time.perf_counter()
    with database.transaction() as session:
        for meter_id, updates in folded.items():
            usage_store.write_buckets(
                session,
                meter_id=meter_id,
                customer_id=customer_id,
                updates=updates,
                replace=False,
                merge=merge,
            )
    seconds += time.perf_counter() - started
    return Load(accepted, seconds)


def _row(event: Event, now: datetime) -> dict[str, object]:
    # The row ingest_batch stores (services.ingest._store).
    return {
        "customer_id": event.customer_id,
        "transaction_id": event.transaction_id,
        "event_type": event.event_type,
        "timestamp": event.timestamp,
        "arrived_at": now,
        "properties": dumps_text(event.properties),
    }


def check_draft(view: InvoiceView, tally: Tally, *, product: str, divisor: int) -> str:
    """Compare the draft's ``product`` lines with the bytes sent; '' when they all match."""
    expected = {
        cluster: Decimal(amount) / Decimal(divisor)
        for (customer, cluster), amount in tally.bytes.items()
        if customer == view.customer.id
    }
    found = {
        dict(line.group).get("cluster_id", ""): line.quantity
        for line in view.lines
        if line.product == product
    }
    if set(found) != set(expected):
        return f"{len(found)} {product} lines for {len(expected)} clusters sent"
    wrong = [c for c in expected if abs(found[c] - expected[c]) > Decimal("1e-12")]
    if wrong:
        return f"{len(wrong)} of {len(expected)} clusters differ (first: {wrong[0]})"
    return ""
