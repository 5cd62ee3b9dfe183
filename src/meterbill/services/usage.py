"""Usage quantities for invoices and breakdowns, read from buckets (never a raw-event scan)
plus the accepted events not folded into them yet (``services.rollup``).

A span is cut into whole days, whole hours and, at sub-hour edges only, raw events
(:func:`meterbill.core.periods.decompose`); the partials of the pieces are merged in time
order, so every aggregation, time-weighted included, comes out as if computed from the raw
events.

In a read transaction, results are kept in the database's read cache under the customer's
usage stamp (``db.usage.usage_stamp``), read before computing and again after: a result is
kept only if nothing changed meanwhile, and served only while the stamp is the same.
"""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar, cast

from meterbill.core.aggregation import (
    GroupKey,
    Partial,
    aggregate,
    bucketize,
    carried,
    has_line,
    merge,
    quantity,
)
from meterbill.core.catalog import Aggregation, Meter
from meterbill.core.events import Event
from meterbill.core.money import written
from meterbill.core.periods import Span, WindowSize, decompose, floor_to
from meterbill.db import Session
from meterbill.db import usage as store
from meterbill.db.readcache import ReadCache

__all__ = [
    "MeterRef",
    "Preload",
    "divided",
    "memoized",
    "meter_series",
    "period_usage",
    "preloaded",
    "remembered",
    "window_usage",
]

_ZERO = Decimal(0)
_ONE_DAY = timedelta(seconds=WindowSize.DAY.seconds)
Pieces = dict[GroupKey, list[tuple[datetime, Partial]]]


@dataclass(frozen=True, slots=True)
class MeterRef:
    """A meter with its storage id (buckets are keyed by id)."""

    id: int
    meter: Meter

    @property
    def folded(self) -> bool:
        """Whether the fold fills this meter's buckets after ingest (``services.rollup``);
        a time-weighted meter's hours depend on the order of its values, so ingest
        recomputes them in the events' own transaction instead."""
        return self.meter.aggregation is not Aggregation.TIME_WEIGHTED


_READ_ATTEMPTS = 20
_ANY_ORDER = {Aggregation.COUNT, Aggregation.SUM, Aggregation.UNIQUE_COUNT, Aggregation.LATEST}

T = TypeVar("T")
S = TypeVar("S")
V = TypeVar("V")


class _Buckets:
    """The bucket reads of one computation: served from the read cache when the customer's
    revisions are those the cached reads were made at, and kept for later when the whole
    computation turns out to have seen one state (``keep``). Without a cache (a write
    transaction) every read goes to the database."""

    def __init__(
        self,
        cache: ReadCache | None = None,
        revisions: tuple[int, int] = (0, 0),
        preload: "Preload | None" = None,
    ) -> None:
        self.cache = cache
        self.revisions = revisions
        self.preload = preload
        self.fresh: dict[Hashable, dict[GroupKey, list[tuple[datetime, Partial]]]] = {}
        self.summaries: dict[Hashable, tuple[object, int]] = {}
        self.database_reads = 0

    def load(
        self,
        session: Session,
        ref: MeterRef,
        customer_id: str,
        size: WindowSize,
        segment: Span,
        *,
        cached: bool,
    ) -> dict[GroupKey, list[tuple[datetime, Partial]]]:
        unique = ref.meter.aggregation is Aggregation.UNIQUE_COUNT
        if self.preload is not None:
            held = self.preload.buckets(session, ref, customer_id, size, segment)
            if held is not None:
                return held
        key = ("buckets", customer_id, ref.id, ref.meter, size, segment)
        if cached and self.cache is not None:
            found = self.cache.get(key, self.revisions)
            if found is not None:
                return cast(dict[GroupKey, list[tuple[datetime, Partial]]], found)
        loaded = store.load_buckets(
            session,
            meter_id=ref.id,
            customer_id=customer_id,
            size=size,
            span=segment,
            with_values=unique,
        )
        self.database_reads += 1
        self.fresh[key] = loaded
        return loaded

    def summary(self, key: tuple[Hashable, ...], *, steady: bool) -> object | None:
        """A summary of stored buckets kept at these revisions (``steady``: the revisions
        read now are still those the computation began with), else None."""
        if not steady or self.cache is None:
            return None
        return self.cache.get(("summary", *key), self.revisions)

    def add_summary(self, key: tuple[Hashable, ...], value: object, *, weight: int) -> None:
        """Keep a summary of stored buckets with the bucket reads (see ``keep``)."""
        self.summaries[("summary", *key)] = (value, weight)

    def keep(self) -> None:
        if self.cache is None:
            return
        for key, loaded in self.fresh.items():
            weight = sum(len(pieces) for pieces in loaded.values())
            self.cache.put(key, self.revisions, loaded, weight=weight)
        for key, (value, weight) in self.summaries.items():
            self.cache.put(key, self.revisions, value, weight=weight)


_PRELOAD_INFO = "meterbill.usage_preload"


class Preload:
    """Many customers' stored usage read at once, for a batch that computes each of them in
    turn (a close): each customer has a span (its periods being closed, widened to whole
    days), and customers with the same span (the usual case: one billing month) are read
    together, per meter their day buckets over it in one statement and their pending
    events in it in another, instead of two statements per customer and meter. A customer
    with a span of its own (years unclosed) reads alone, so it never widens the others'.

    Valid only while the caller holds these customers' write locks: then no fold and no
    ingest can change their events, buckets or pending list, so what was read once holds
    for the whole batch (and needs no pending-first check, :func:`_consistent`). Anything
    else (hours, raw-event edges, other customers, spans outside a customer's) is read as
    always.
    """

    def __init__(self, spans: Mapping[str, Span]) -> None:
        self.spans = {
            customer: Span(floor_to(span.start, WindowSize.DAY), _ceil_day(span.end))
            for customer, span in spans.items()
        }
        self._sharing: dict[Span, list[str]] = defaultdict(list)
        for customer, span in sorted(self.spans.items()):
            self._sharing[span].append(customer)
        self._days: dict[tuple[int, Span], dict[str, Pieces]] = {}
        self._pending: dict[str, list[tuple[int, Event]]] = {}

    def _covers(self, customer_id: str, span: Span) -> Span | None:
        """The customer's span if it holds ``span``, else None."""
        held = self.spans.get(customer_id)
        if held is None or span.start < held.start or span.end > held.end:
            return None
        return held

    def buckets(
        self, session: Session, ref: MeterRef, customer_id: str, size: WindowSize, segment: Span
    ) -> Pieces | None:
        """The customer's ``size`` buckets starting in ``segment``, or None if not held."""
        held = self._covers(customer_id, segment)
        if size is not WindowSize.DAY or held is None:
            return None
        if (ref.id, held) not in self._days:
            self._days[ref.id, held] = store.load_customers_buckets(
                session,
                meter_id=ref.id,
                customer_ids=self._sharing[held],
                size=WindowSize.DAY,
                span=held,
                with_values=ref.meter.aggregation is Aggregation.UNIQUE_COUNT,
            )
        result: Pieces = {}
        for group, pieces in self._days[ref.id, held].get(customer_id, {}).items():
            low = bisect_left(pieces, segment.start, key=_start_of)
            high = bisect_left(pieces, segment.end, key=_start_of)
            if low < high:
                result[group] = pieces[low:high]
        return result

    def pending(
        self, ref: MeterRef, customer_id: str, span: Span
    ) -> list[tuple[int, Event]] | None:
        """The customer's pending events of the meter in ``span`` (none for a meter the
        fold leaves alone), or None if not held."""
        if not ref.folded:
            return []
        if self._covers(customer_id, span) is None:
            return None
        types = ref.meter.event_types
        return [
            (event_id, event)
            for event_id, event in self._pending.get(customer_id, ())
            if event.event_type in types and span.contains(event.timestamp)
        ]

    def read_pending(self, session: Session) -> None:
        """Read the pending events of every customer in its span."""
        for span, customers in self._sharing.items():
            self._pending.update(store.customers_pending(session, customers, span))


def _start_of(piece: tuple[datetime, Partial]) -> datetime:
    return piece[0]


def _ceil_day(moment: datetime) -> datetime:
    day = floor_to(moment, WindowSize.DAY)
    return day if day == moment else day + _ONE_DAY


@contextmanager
def preloaded(session: Session, spans: Mapping[str, Span]) -> Iterator[Preload]:
    """Read these customers' usage over their spans in bulk (:class:`Preload`) within the
    block; the caller holds their write locks for the whole block."""
    preload = Preload(spans)
    preload.read_pending(session)
    session.info[_PRELOAD_INFO] = preload
    try:
        yield preload
    finally:
        session.info.pop(_PRELOAD_INFO, None)


def _preload(session: Session, customer_id: str) -> Preload | None:
    found = session.info.get(_PRELOAD_INFO)
    if isinstance(found, Preload) and customer_id in found.spans:
        return found
    return None


def remembered(
    session: Session,
    customer_id: str,
    key: tuple[Hashable, ...],
    compute: Callable[[_Buckets], T],
    *,
    weight: Callable[[T], int],
) -> T:
    """``compute(buckets)``, or what it gave before if the customer's usage is as it was then.

    ``key`` must name everything else the result depends on (meter definitions, spans,
    catalog version…); ``compute`` must not change what it returns, nor the caller what it
    gets. Only read transactions have a cache (a write transaction may read its own writes,
    which could still roll back). The usage stamp is read before computing and again after;
    the result (and the bucket reads it made through ``buckets``) is kept only if both are
    equal, since a change committed in between may or may not be in it (PostgreSQL's read
    committed).
    """
    cache = store.read_cache(session)
    if cache is None:
        return compute(_Buckets(preload=_preload(session, customer_id)))
    full_key = ("usage", customer_id, *key)
    stamp = store.usage_stamp(session, customer_id)
    found = cache.get(full_key, stamp)
    if found is not None:
        return cast(T, found)
    buckets = _Buckets(cache, stamp[:2])
    result = compute(buckets)
    if store.usage_stamp(session, customer_id) == stamp:
        cache.put(full_key, stamp, result, weight=weight(result))
        buckets.keep()
    return result


_CONTENT = ("content",)


def memoized(
    session: Session, key: tuple[Hashable, ...], compute: Callable[[], T], *, weight: int
) -> T:
    """``compute()``, or what it gave before for an equal ``key``, which must hold *every*
    input of the computation (its content, not a revision: such an entry is never stale).

    Kept in the read cache of read transactions, like :func:`remembered`; a write
    transaction computes. Callers must not change what they get.
    """
    cache = store.read_cache(session)
    if cache is None:
        return compute()
    full_key = ("content", *key)
    found = cache.get(full_key, _CONTENT)
    if found is not None:
        return cast(T, found)
    result = compute()
    cache.put(full_key, _CONTENT, result, weight=weight)
    return result


def _remembered(
    session: Session,
    ref: MeterRef,
    customer_id: str,
    key: tuple[Hashable, ...],
    compute: Callable[[_Buckets], dict[GroupKey, V]],
    copy: Callable[[V], V],
) -> dict[GroupKey, V]:
    """:func:`remembered` for one meter's usage; callers get their own copy."""

    def weight(result: dict[GroupKey, V]) -> int:
        return sum(len(v) if isinstance(v, list) else 1 for v in result.values())

    found = remembered(session, customer_id, (ref.id, ref.meter, *key), compute, weight=weight)
    return {group: copy(value) for group, value in found.items()}


def _pieces(
    session: Session,
    ref: MeterRef,
    customer_id: str,
    span: Span,
    coarsest: WindowSize,
    buckets: _Buckets,
) -> Pieces:
    """The partials covering ``span``: buckets, plus the events still pending for them, plus
    raw events at sub-hour edges (read consistently: :func:`_consistent`)."""
    return _consistent(
        session,
        ref,
        customer_id,
        span,
        buckets,
        lambda tail, steady: _stored_pieces(
            session, ref, customer_id, span, coarsest, tail, buckets, steady
        ),
    )


def _consistent(
    session: Session,
    ref: MeterRef,
    customer_id: str,
    span: Span,
    buckets: _Buckets,
    read: Callable[[list[tuple[int, Event]], bool], T],
) -> T:
    """``read(tail, steady)`` of the stored usage with ``tail``, the events still pending in
    ``span`` (none for a time-weighted meter, which the fold leaves alone), such that no
    event is in neither or both.

    Pending events are read first, buckets next, and the pending ones checked to be still
    pending after: a fold that committed in between (possible under PostgreSQL's read
    committed) would have moved some of them into the buckets just read, and the read is
    made again. SQLite's read transactions see one snapshot, where this never happens.

    ``steady``: the customer's revisions, read after the pending events, are still those
    the computation started at (``buckets.revisions``), so buckets (or summaries of them)
    may come from the read cache: revisions only grow, so they held all along, no fold
    moved any event meanwhile, and the cached buckets are exactly those the pending events
    were read against. A read that went to the database is checked as above.
    """
    held = None if buckets.preload is None else buckets.preload.pending(ref, customer_id, span)
    if held is not None:
        return read(held, False)
    for _ in range(_READ_ATTEMPTS):
        tail = (
            store.pending_events(
                session, customer_id=customer_id, event_types=ref.meter.event_types, span=span
            )
            if ref.folded
            else []
        )
        steady = (
            buckets.cache is not None
            and store.usage_stamp(session, customer_id)[:2] == buckets.revisions
        )
        reads_before = buckets.database_reads
        result = read(tail, steady)
        from_cache = steady and buckets.database_reads == reads_before
        if not tail or from_cache:
            return result
        if store.still_pending(session, [event_id for event_id, _ in tail]) == len(tail):
            return result
    raise RuntimeError(f"usage of {customer_id} kept moving under {_READ_ATTEMPTS} reads")


def _summarized(
    session: Session,
    ref: MeterRef,
    customer_id: str,
    span: Span,
    coarsest: WindowSize,
    buckets: _Buckets,
    key: tuple[Hashable, ...],
    summarize: Callable[[Pieces], S],
    weight: Callable[[S], int],
) -> tuple[S, list[Event]]:
    """For an order-free meter over whole hours: ``summarize`` of its stored buckets over
    ``span`` (kept under the customer's revisions, so a read right after a new event does
    not summarize them again) and the events still pending in ``span``, read consistently.
    """
    full_key = (customer_id, ref.id, ref.meter, span, coarsest, *key)

    def read(tail: list[tuple[int, Event]], steady: bool) -> tuple[S, list[Event]]:
        pending = [event for _, event in tail]
        found = buckets.summary(full_key, steady=steady)
        if found is not None:
            return cast(S, found), pending
        stored = _stored_pieces(session, ref, customer_id, span, coarsest, (), buckets, steady)
        summary = summarize(stored)
        buckets.add_summary(full_key, summary, weight=weight(summary))
        return summary, pending

    return _consistent(session, ref, customer_id, span, buckets, read)


def _summarizable(ref: MeterRef, span: Span, windows: Sequence[Span] = ()) -> bool:
    """Whether stored usage over ``span`` (cut into ``windows``) can be summarized apart
    from the pending events: a meter whose partials merge to the same value, digits
    included, in any order (count, sum: its sums are exact, unique_count, latest: ties
    broken by time and transaction id; not max, which keeps the first of equal values,
    ``1.5`` or ``1.50``, nor time_weighted) over whole hours (no raw-event edge, whose
    events may still be pending)."""
    return (
        ref.meter.aggregation in _ANY_ORDER
        and _on_the_hour(span.start)
        and _on_the_hour(span.end)
        and all(_on_the_hour(window.start) for window in windows)
    )


def _on_the_hour(moment: datetime) -> bool:
    return moment == floor_to(moment, WindowSize.HOUR)


def _stored_pieces(
    session: Session,
    ref: MeterRef,
    customer_id: str,
    span: Span,
    coarsest: WindowSize,
    tail: Sequence[tuple[int, Event]],
    buckets: _Buckets,
    cached: bool,
) -> Pieces:
    meter = ref.meter
    result: Pieces = defaultdict(list)
    for size, segment in decompose(span, coarsest):
        if size is None:
            events = store.fetch_events(
                session, customer_id=customer_id, event_types=meter.event_types, span=segment
            )
            for group, partial in aggregate(meter, events).items():
                result[group].append((segment.start, partial))
            continue
        loaded = buckets.load(session, ref, customer_id, size, segment, cached=cached)
        for group, pieces in loaded.items():
            result[group].extend(pieces)
        waiting = [event for _, event in tail if segment.contains(event.timestamp)]
        if waiting:
            for (group, _, start), partial in bucketize(meter, waiting, (size,)).items():
                result[group].append((start, partial))
    for pieces in result.values():
        pieces.sort(key=lambda piece: piece[0])
    return result


def _carry_in(
    session: Session, ref: MeterRef, customer_id: str, moment: datetime
) -> dict[GroupKey, Decimal]:
    """Time-weighted values in force at ``moment``: the last value of each group before it."""
    hour = floor_to(moment, WindowSize.HOUR)
    carry = store.latest_before(session, meter_id=ref.id, customer_id=customer_id, moment=hour)
    if hour < moment:
        edge = store.fetch_events(
            session,
            customer_id=customer_id,
            event_types=ref.meter.event_types,
            span=Span(hour, moment),
        )
        for group, partial in aggregate(ref.meter, edge).items():
            value = carried(partial, carry.get(group))
            if value is not None:
                carry[group] = value
    return carry


def _merged(pieces: Sequence[tuple[datetime, Partial]]) -> Partial:
    total = Partial()
    for _, partial in pieces:
        total = merge(total, partial)
    return total


def period_usage(
    session: Session, ref: MeterRef, *, customer_id: str, span: Span, divisor: Decimal | None
) -> dict[GroupKey, Decimal]:
    """The meter's quantity over ``span`` per group that has a line (spec 4.2), divided by
    ``divisor`` (None: the meter's own value, not divided)."""
    return _remembered(
        session,
        ref,
        customer_id,
        ("period", span, written(divisor)),
        lambda buckets: _period_usage(session, ref, customer_id, span, divisor, buckets),
        _same,
    )


def _over(value: Decimal, divisor: Decimal | None) -> Decimal:
    """``value`` divided by ``divisor`` (None: not divided)."""
    return value if divisor is None else value / divisor


def _same(value: V) -> V:
    return value


def _period_usage(
    session: Session,
    ref: MeterRef,
    customer_id: str,
    span: Span,
    divisor: Decimal | None,
    buckets: _Buckets,
) -> dict[GroupKey, Decimal]:
    result: dict[GroupKey, Decimal]
    meter = ref.meter
    if _summarizable(ref, span):
        stored, tail = _summarized(
            session,
            ref,
            customer_id,
            span,
            WindowSize.DAY,
            buckets,
            ("period",),
            lambda pieces: {group: _merged(mine) for group, mine in pieces.items()},
            len,
        )
        added = aggregate(meter, tail)
        result = {}
        for group in stored.keys() | added.keys():
            partial = _plus(stored.get(group), added.get(group))
            value = quantity(meter, partial, span=span, carry=None)
            if has_line(meter, partial, value):
                result[group] = _over(value, divisor)
        return result
    pieces = _pieces(session, ref, customer_id, span, WindowSize.DAY, buckets)
    weighted = meter.aggregation is Aggregation.TIME_WEIGHTED
    carry = _carry_in(session, ref, customer_id, span.start) if weighted else {}
    result = {}
    for group in set(pieces) | set(carry):
        partial = _merged(pieces.get(group, []))
        value = quantity(meter, partial, span=span, carry=carry.get(group))
        if has_line(meter, partial, value):
            result[group] = _over(value, divisor)
    return result


def window_usage(
    session: Session,
    ref: MeterRef,
    *,
    customer_id: str,
    windows: Sequence[Span],
    size: WindowSize,
    groups: Mapping[GroupKey, object] | set[GroupKey],
    divisor: Decimal | None,
) -> dict[GroupKey, list[Decimal]]:
    """Per group, the meter over each window (the aggregation inside it), divided by
    ``divisor`` (None: not divided)."""
    if not windows:
        return {}
    return _remembered(
        session,
        ref,
        customer_id,
        ("windows", size, tuple(windows), frozenset(groups), written(divisor)),
        lambda buckets: _window_usage(
            session, ref, customer_id, windows, size, groups, divisor, buckets
        ),
        list,
    )


def _window_usage(
    session: Session,
    ref: MeterRef,
    customer_id: str,
    windows: Sequence[Span],
    size: WindowSize,
    groups: Mapping[GroupKey, object] | set[GroupKey],
    divisor: Decimal | None,
    buckets: _Buckets,
) -> dict[GroupKey, list[Decimal]]:
    meter = ref.meter
    span = Span(windows[0].start, windows[-1].end)
    if _summarizable(ref, span, windows):
        return _window_sums(session, ref, customer_id, windows, size, groups, divisor, buckets)
    pieces = _pieces(session, ref, customer_id, span, size, buckets)
    weighted = meter.aggregation is Aggregation.TIME_WEIGHTED
    carry = _carry_in(session, ref, customer_id, span.start) if weighted else {}
    result: dict[GroupKey, list[Decimal]] = {}
    for group in groups:
        series: list[Decimal] = []
        value_in_force = carry.get(group)
        for window, partial in zip(
            windows, _window_partials(pieces.get(group, []), windows), strict=True
        ):
            value = quantity(meter, partial, span=window, carry=value_in_force)
            series.append(_over(value, divisor))
            value_in_force = carried(partial, value_in_force)
        result[group] = series
    return result


def _window_partials(
    pieces: Sequence[tuple[datetime, Partial]], windows: Sequence[Span]
) -> list[Partial]:
    """Each window's partial from time-ordered pieces: a piece counts in the first window
    it starts before the end of."""
    partials: list[Partial] = []
    index = 0
    for window in windows:
        inside: list[tuple[datetime, Partial]] = []
        while index < len(pieces) and pieces[index][0] < window.end:
            inside.append(pieces[index])
            index += 1
        partials.append(_merged(inside))
    return partials


Cells = dict[GroupKey, tuple[list[Partial], list[Decimal]]]


def _window_sums(
    session: Session,
    ref: MeterRef,
    customer_id: str,
    windows: Sequence[Span],
    size: WindowSize,
    groups: Mapping[GroupKey, object] | set[GroupKey],
    divisor: Decimal | None,
    buckets: _Buckets,
) -> dict[GroupKey, list[Decimal]]:
    """:func:`_window_usage` of an order-free meter over whole hours: each group's stored
    partial and value per window are kept under the customer's revisions, and only the
    windows that pending events fall in are computed again."""
    meter = ref.meter
    span = Span(windows[0].start, windows[-1].end)

    def value(partial: Partial, window: Span) -> Decimal:
        return _over(quantity(meter, partial, span=window, carry=None), divisor)

    def summarize(pieces: Pieces) -> Cells:
        cells: Cells = {}
        for group, mine in pieces.items():
            partials = _window_partials(mine, windows)
            cells[group] = (partials, [value(p, w) for p, w in zip(partials, windows, strict=True)])
        return cells

    stored, tail = _summarized(
        session,
        ref,
        customer_id,
        span,
        size,
        buckets,
        ("windows", tuple(windows), written(divisor)),
        summarize,
        lambda cells: 2 * len(cells) * len(windows),
    )
    ends = [window.end for window in windows]
    by_window: dict[int, list[Event]] = defaultdict(list)
    for event in tail:
        by_window[bisect_right(ends, event.timestamp)].append(event)
    added: dict[GroupKey, dict[int, Partial]] = defaultdict(dict)
    for index, events in by_window.items():
        for group, partial in aggregate(meter, events).items():
            added[group][index] = partial
    result: dict[GroupKey, list[Decimal]] = {}
    for group in groups:
        found = stored.get(group)
        if found is None:
            partials = [Partial()] * len(windows)
            series = [value(Partial(), window) for window in windows]
        else:
            partials, series = found[0], list(found[1])
        for index, partial in added.get(group, {}).items():
            series[index] = value(_plus(partials[index], partial), windows[index])
        result[group] = series
    return result


def _plus(stored: Partial | None, pending: Partial | None) -> Partial:
    """Stored and pending partials of one group and slice (order-free meters only)."""
    if stored is None:
        return pending if pending is not None else Partial()
    return stored if pending is None else merge(stored, pending)


def divided(values: Mapping[GroupKey, Decimal], divisor: Decimal) -> dict[GroupKey, Decimal]:
    """A product's quantities from its meter's values (spec 4.2: value / divisor)."""
    return {group: value / divisor for group, value in values.items()}


def meter_series(
    session: Session,
    ref: MeterRef,
    *,
    customer_id: str,
    span: Span,
    windows: Sequence[Span],
    size: WindowSize,
) -> dict[GroupKey, list[Decimal]]:
    """The meter's own values per window for every group with usage in ``span``."""
    groups = set(period_usage(session, ref, customer_id=customer_id, span=span, divisor=None))
    return window_usage(
        session,
        ref,
        customer_id=customer_id,
        windows=windows,
        size=size,
        groups=groups,
        divisor=None,
    )
