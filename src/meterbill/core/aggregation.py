"""Meters: which events count, and partial aggregates that combine into quantities.

A :class:`Partial` summarises a meter's events of one group over one slice of time. Partials
of consecutive slices merge into the partial of their union, so the same code aggregates raw
events, hourly or daily buckets, or a mix of them (spec 4.2):

- ``count``, ``sum``, ``max``, ``unique_count`` and ``latest`` merge in any order;
- ``time_weighted`` keeps the first and last value seen and the integral of the value over
  the time between them (in value × seconds), so two slices merge when the first lies
  entirely before the second.

The integral of a time-weighted meter is finished into hours by :func:`quantity`, which adds
the value carried in from before the span and the last value held until the span's end.

Groups keep the limits of spec 7 (``core.limits.group_fits``): ingest rejects an event whose
group for a meter of its type would not (:func:`check_group`), and a meter leaves out a
stored event whose group does not fit (one accepted before the meter grouped by that
property), in the raw and the bucket path alike.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow

from meterbill.core.catalog import Aggregation, Meter
from meterbill.core.errors import InvalidEvent
from meterbill.core.events import Event, group_value, read_number
from meterbill.core.limits import (
    MAX_GROUP_KEY_BYTES,
    MAX_GROUP_VALUE_LENGTH,
    group_fits,
    group_size,
    unique_value,
)
from meterbill.core.periods import Span, WindowSize, floor_to

__all__ = [
    "GroupKey",
    "Partial",
    "aggregate",
    "bucketize",
    "carried",
    "check_group",
    "group_key",
    "has_line",
    "matches",
    "measure",
    "merge",
    "quantity",
]

GroupKey = tuple[str, ...]
_ZERO = Decimal(0)
_HOUR = Decimal(3600)
# Sums are exact. An event number has up to 30 integer and 18 decimal digits (spec 7), more
# than the 28 significant digits of Decimal's default context, and a rounded sum would
# depend on the order its parts were added in (events, buckets, pending events). 100 digits
# hold any sum of such numbers up to 10^52 of them; past that ``Inexact`` is raised instead
# of a silent rounding. PostgreSQL's NUMERIC, which merges buckets there, is exact too.
_SUMS = Context(prec=100, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])


@dataclass(slots=True)
class Partial:
    """A meter's aggregate over one slice of time, for one group.

    ``count`` counts the events the meter could read (all matching events for ``count``);
    ``skipped`` those whose property it could not read.
    """

    count: int = 0
    skipped: int = 0
    total: Decimal = _ZERO
    maximum: Decimal | None = None
    latest: tuple[datetime, str, Decimal] | None = None
    first: tuple[datetime, Decimal] | None = None
    last: tuple[datetime, Decimal] | None = None
    weighted: Decimal = _ZERO
    values: set[str] = field(default_factory=set)


def matches(meter: Meter, event: Event) -> bool:
    """Whether ``event`` is one of the meter's: its type, and every filter passes."""
    if event.event_type not in meter.event_types:
        return False
    properties = event.properties
    return all(group_value(properties.get(name)) in allowed for name, allowed in meter.filters)


def group_key(meter: Meter, event: Event) -> GroupKey:
    """The event's values of the meter's ``group_by``; a missing one is ``""``."""
    properties = event.properties
    return tuple(group_value(properties.get(name)) for name in meter.group_by)


def check_group(meter: Meter, event: Event) -> None:
    """Refuse an event whose group for ``meter`` breaks the limits (spec 7): a property the
    meter groups by longer than 200 characters (in its ``group_value`` form: an object or
    array as compact JSON), or a group whose stored text exceeds ``MAX_GROUP_KEY_BYTES``.
    Raises ``InvalidEvent`` naming the property and the meter."""
    group = group_key(meter, event)
    if group_fits(group):
        return
    for name, value in zip(meter.group_by, group, strict=True):
        if len(value) > MAX_GROUP_VALUE_LENGTH:
            raise InvalidEvent(
                f"property {name!r} is {len(value)} characters long; meter {meter.key!r}"
                f" groups by it and a group value has at most {MAX_GROUP_VALUE_LENGTH}"
                " characters"
            )
    raise InvalidEvent(
        f"the values of {', '.join(map(repr, meter.group_by))} take {group_size(group)} bytes"
        f" as a group of meter {meter.key!r}; a group takes at most {MAX_GROUP_KEY_BYTES}"
    )


def aggregate(meter: Meter, events: Iterable[Event]) -> dict[GroupKey, Partial]:
    """Partials per group of the meter's events among ``events`` (any order)."""
    ordered = sorted(
        (e for e in events if matches(meter, e)), key=lambda e: (e.timestamp, e.transaction_id)
    )
    partials: dict[GroupKey, Partial] = {}
    for event in ordered:
        group = group_key(meter, event)
        if not group_fits(group):
            continue
        partial = partials.setdefault(group, Partial())
        _add(meter, partial, event)
    return partials


def _add(meter: Meter, partial: Partial, event: Event) -> None:
    # Events arrive in (timestamp, transaction_id) order, which time_weighted relies on.
    kind = meter.aggregation
    if kind is Aggregation.COUNT:
        partial.count += 1
        return
    raw = event.properties.get(meter.property or "")
    if kind is Aggregation.UNIQUE_COUNT:
        if raw is None or isinstance(raw, dict | list):
            partial.skipped += 1
        else:
            partial.count += 1
            partial.values.add(unique_value(group_value(raw)))
        return
    value = read_number(raw)
    if value is None:
        partial.skipped += 1
        return
    partial.count += 1
    moment = event.timestamp
    if kind is Aggregation.SUM:
        partial.total = _SUMS.add(partial.total, value)
    elif kind is Aggregation.MAX:
        partial.maximum = value if partial.maximum is None else max(partial.maximum, value)
    elif kind is Aggregation.LATEST:
        candidate = (moment, event.transaction_id, value)
        if partial.latest is None or candidate[:2] >= partial.latest[:2]:
            partial.latest = candidate
    else:
        if partial.last is not None:
            partial.weighted += partial.last[1] * _seconds(partial.last[0], moment)
        if partial.first is None:
            partial.first = (moment, value)
        partial.last = (moment, value)


def bucketize(
    meter: Meter, events: Iterable[Event], sizes: Iterable[WindowSize]
) -> dict[tuple[GroupKey, WindowSize, datetime], Partial]:
    """Partials of the meter's events per group and UTC-aligned window of each size."""
    ordered = sorted(
        (e for e in events if matches(meter, e)), key=lambda e: (e.timestamp, e.transaction_id)
    )
    sizes = tuple(sizes)
    partials: dict[tuple[GroupKey, WindowSize, datetime], Partial] = {}
    for event in ordered:
        group = group_key(meter, event)
        if not group_fits(group):
            continue
        for size in sizes:
            key = (group, size, floor_to(event.timestamp, size))
            partial = partials.get(key)
            if partial is None:
                partial = partials[key] = Partial()
            _add(meter, partial, event)
    return partials


def merge(earlier: Partial, later: Partial) -> Partial:
    """The partial of two slices; for time_weighted, ``earlier`` must lie before ``later``."""
    merged = Partial(
        count=earlier.count + later.count,
        skipped=earlier.skipped + later.skipped,
        total=_SUMS.add(earlier.total, later.total),
        maximum=_max(earlier.maximum, later.maximum),
        latest=_latest(earlier.latest, later.latest),
        first=earlier.first or later.first,
        last=later.last or earlier.last,
        weighted=earlier.weighted + later.weighted,
        values=earlier.values | later.values,
    )
    if earlier.last is not None and later.first is not None:
        merged.weighted += earlier.last[1] * _seconds(earlier.last[0], later.first[0])
    return merged


def quantity(meter: Meter, partial: Partial, *, span: Span, carry: Decimal | None) -> Decimal:
    """The meter's value over ``span`` from the span's partial (not yet divided).

    ``carry`` is the time-weighted value in force when the span starts (the latest value
    before it), or None when there is none; other aggregations ignore it.
    """
    kind = meter.aggregation
    if kind is Aggregation.COUNT:
        return Decimal(partial.count)
    if kind is Aggregation.SUM:
        return partial.total
    if kind is Aggregation.MAX:
        return partial.maximum if partial.maximum is not None else _ZERO
    if kind is Aggregation.UNIQUE_COUNT:
        return Decimal(len(partial.values))
    if kind is Aggregation.LATEST:
        return partial.latest[2] if partial.latest is not None else _ZERO
    if partial.first is None or partial.last is None:
        held = carry * span.seconds if carry is not None else _ZERO
        return held / _HOUR
    held = partial.weighted + partial.last[1] * _seconds(partial.last[0], span.end)
    if carry is not None:
        held += carry * _seconds(span.start, partial.first[0])
    return held / _HOUR


def measure(meter: Meter, events: Iterable[Event], span: Span) -> dict[GroupKey, Decimal]:
    """The meter over ``span`` per group with a line, straight from raw events.

    The reference semantics of spec 4.2; storage reads buckets instead and must agree.
    """
    before: list[Event] = []
    inside: list[Event] = []
    for event in events:
        if event.timestamp < span.start:
            before.append(event)
        elif event.timestamp < span.end:
            inside.append(event)
    weighted = meter.aggregation is Aggregation.TIME_WEIGHTED
    carry = {g: carried(p, None) for g, p in aggregate(meter, before).items()} if weighted else {}
    partials = aggregate(meter, inside)
    result: dict[GroupKey, Decimal] = {}
    for group in set(partials) | set(carry):
        partial = partials.get(group, Partial())
        value = quantity(meter, partial, span=span, carry=carry.get(group))
        if has_line(meter, partial, value):
            result[group] = value
    return result


def carried(partial: Partial | None, carry: Decimal | None) -> Decimal | None:
    """The time-weighted value in force after a slice, given the value in force before it."""
    if partial is not None and partial.last is not None:
        return partial.last[1]
    return carry


def has_line(meter: Meter, partial: Partial, value: Decimal) -> bool:
    """Whether a group gets a usage line (spec 4.2): it has an event the meter could read in
    the period, or, for time_weighted, a carried-in value gives a non-zero quantity."""
    return partial.count > 0 or (meter.aggregation is Aggregation.TIME_WEIGHTED and value != 0)


def _seconds(start: datetime, end: datetime) -> Decimal:
    return Span(start, end).seconds


def _max(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def _latest(
    a: tuple[datetime, str, Decimal] | None, b: tuple[datetime, str, Decimal] | None
) -> tuple[datetime, str, Decimal] | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b[:2] >= a[:2] else a
