"""Billing periods and breakdown windows: half-open ``[start, end)`` spans in UTC.

With ``anchor: calendar`` a ``month`` plan bills calendar months, a ``week`` plan
Monday-to-Monday weeks (spec 4.1), a ``quarter`` plan the quarters from 1 January, 1 April,
1 July and 1 October, a ``year`` plan years from 1 January (spec 5.4); a subscription that
starts or ends inside a period gets a partial first or last period. With
``anchor: subscription`` period *i* starts at the subscription's ``starts_at`` stepped *i*
intervals (:func:`step`: same weekday and time, or same day of month and time, clamped to a
shorter month); there is no partial first period, and an ``ends_at`` inside a period still
makes a partial last one.
"""

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from meterbill.core.catalog import Anchor, Interval
from meterbill.core.errors import InvalidEvent, InvalidRequest
from meterbill.core.events import parse_timestamp

__all__ = [
    "EPOCH",
    "SUPPORTED",
    "Span",
    "WindowSize",
    "anchored_period",
    "billing_periods",
    "ceil_to",
    "check_supported",
    "decompose",
    "epoch_seconds",
    "floor_to",
    "full_period",
    "parse_instant",
    "period_containing",
    "step",
    "windows",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class WindowSize(StrEnum):
    HOUR = "hour"
    DAY = "day"

    @property
    def seconds(self) -> int:
        return 3600 if self is WindowSize.HOUR else 86400


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A half-open interval of time: ``start`` included, ``end`` excluded."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"span ends before it starts: {self.start} > {self.end}")

    @property
    def seconds(self) -> Decimal:
        return _seconds(self.end - self.start)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def overlaps(self, other: "Span") -> bool:
        return self.start < other.end and other.start < self.end

    def clip(self, other: "Span") -> "Span | None":
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Span(start, end) if start < end else None


def _seconds(delta: timedelta) -> Decimal:
    # Exact, microseconds included; timedelta.total_seconds() would go through float.
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


SUPPORTED = Span(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
"""The times meterbill computes with: far enough for any bill, safe from datetime's edges."""


def check_supported(moment: datetime, what: str) -> datetime:
    """``moment`` if it lies in :data:`SUPPORTED`, else an ``InvalidRequest`` naming ``what``."""
    if not SUPPORTED.contains(moment):
        raise InvalidRequest(
            f"{what} must be from 2000-01-01T00:00:00Z up to 2100-01-01T00:00:00Z, "
            f"got {moment.isoformat()}"
        )
    return moment


def parse_instant(value: str, what: str) -> datetime:
    """An RFC 3339 time given by a user (a query value, a CLI option), checked for range."""
    try:
        moment = parse_timestamp(value)
    except InvalidEvent as error:
        raise InvalidRequest(f"{what}: {error}") from None
    return check_supported(moment, what)


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since the Unix epoch, rounded down (no float on the way)."""
    delta = moment - EPOCH
    return delta.days * 86400 + delta.seconds


_MONTHS = {Interval.MONTH: 1, Interval.QUARTER: 3, Interval.YEAR: 12}
_WEEK = timedelta(days=7)


def step(moment: datetime, interval: Interval, count: int) -> datetime:
    """``moment`` moved on ``count`` intervals, keeping the time of day (spec 5.4, 5.5).

    ``week``: ``count`` × 7 days (the same weekday). ``month``, ``quarter``, ``year``:
    ``count`` × 1, 3 or 12 months on the same day of the month, clamped to the last day of a
    shorter month. Always counted from ``moment`` itself, never from an earlier clamped
    result: 31 January steps to 28 February (count 1) and to 31 March (count 2).
    """
    if interval is Interval.WEEK:
        return moment + _WEEK * count
    months = moment.month - 1 + count * _MONTHS[interval]
    year, month = moment.year + months // 12, months % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_containing(interval: Interval, moment: datetime) -> Span:
    """The full calendar period of ``interval`` that contains ``moment``."""
    moment = moment.astimezone(UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval is Interval.WEEK:
        start = day - timedelta(days=day.weekday())
        return Span(start, start + _WEEK)
    first_month = {
        Interval.MONTH: day.month,
        Interval.QUARTER: (day.month - 1) // 3 * 3 + 1,
        Interval.YEAR: 1,
    }[interval]
    start = day.replace(month=first_month, day=1)
    return Span(start, step(start, interval, 1))


def anchored_period(interval: Interval, anchored_at: datetime, moment: datetime) -> Span:
    """The full period of ``interval`` anchored at ``anchored_at`` that contains ``moment``:
    ``[step(anchored_at, i), step(anchored_at, i + 1))`` for the one ``i`` that holds it."""
    if interval is Interval.WEEK:
        index = (moment - anchored_at) // _WEEK
    else:
        months = (moment.year - anchored_at.year) * 12 + moment.month - anchored_at.month
        index = months // _MONTHS[interval]
    # The month count is only an estimate: clamping and the time of day move it by one.
    while step(anchored_at, interval, index) > moment:
        index -= 1
    while step(anchored_at, interval, index + 1) <= moment:
        index += 1
    return Span(step(anchored_at, interval, index), step(anchored_at, interval, index + 1))


def full_period(interval: Interval, period: Span, *, anchored_at: datetime | None = None) -> Span:
    """The full period a (possibly partial) period belongs to: the calendar one, or with
    ``anchored_at`` (the ``starts_at`` of a subscription on an anchored plan) the anchored
    one. Flat proration and the plan minimum divide by its seconds (spec 4.3, 4.5, 5.7)."""
    if anchored_at is None:
        return period_containing(interval, period.start)
    return anchored_period(interval, anchored_at, period.start)


def billing_periods(
    interval: Interval,
    starts_at: datetime,
    ends_at: datetime | None,
    *,
    until: datetime,
    anchor: Anchor = Anchor.CALENDAR,
) -> Iterator[Span]:
    """Periods of a subscription that have started by ``until`` (inclusive), in order.

    Calendar periods: the first and last are clipped to the subscription's
    ``[starts_at, ends_at)``. Anchored periods start at ``starts_at`` stepped *i* intervals;
    only the last can be partial (clipped to ``ends_at``).
    """
    index = 0
    cursor = starts_at
    while cursor <= until and (ends_at is None or cursor < ends_at):
        if anchor is Anchor.SUBSCRIPTION:
            index += 1
            following = step(starts_at, interval, index)
        else:
            following = period_containing(interval, cursor).end
        end = following if ends_at is None else min(following, ends_at)
        yield Span(cursor, end)
        cursor = end


def windows(span: Span, size: WindowSize) -> list[Span]:
    """UTC-aligned hour or day windows covering ``span``, the first and last clipped to it."""
    width = size.seconds
    first = epoch_seconds(span.start) // width * width
    result: list[Span] = []
    cursor = EPOCH + timedelta(seconds=first)
    while cursor < span.end:
        following = cursor + timedelta(seconds=width)
        result.append(Span(max(cursor, span.start), min(following, span.end)))
        cursor = following
    return result


def floor_to(moment: datetime, size: WindowSize) -> datetime:
    """The start of the UTC-aligned window of ``size`` that contains ``moment``."""
    seconds = epoch_seconds(moment)
    return EPOCH + timedelta(seconds=seconds // size.seconds * size.seconds)


def ceil_to(moment: datetime, size: WindowSize) -> datetime:
    """The first window boundary of ``size`` at or after ``moment``."""
    floor = floor_to(moment, size)
    return floor if floor == moment else floor + timedelta(seconds=size.seconds)


def decompose(span: Span, coarsest: WindowSize) -> list[tuple[WindowSize | None, Span]]:
    """Cut ``span`` into segments readable from pre-aggregated buckets, in time order.

    Each segment is ``(size, segment)``: whole aligned days (when ``coarsest`` is a day),
    whole aligned hours, or ``None`` for a sub-hour edge that only the raw events can answer.
    Periods and breakdown windows are hour-aligned in practice, so edges are rare.
    """
    first_hour, last_hour = (
        ceil_to(span.start, WindowSize.HOUR),
        floor_to(span.end, WindowSize.HOUR),
    )
    if first_hour >= last_hour:
        return [(None, span)] if span.start < span.end else []
    result: list[tuple[WindowSize | None, Span]] = []
    if span.start < first_hour:
        result.append((None, Span(span.start, first_hour)))
    first_day, last_day = ceil_to(first_hour, WindowSize.DAY), floor_to(last_hour, WindowSize.DAY)
    if coarsest is WindowSize.DAY and first_day < last_day:
        for size, start, end in (
            (WindowSize.HOUR, first_hour, first_day),
            (WindowSize.DAY, first_day, last_day),
            (WindowSize.HOUR, last_day, last_hour),
        ):
            if start < end:
                result.append((size, Span(start, end)))
    else:
        result.append((WindowSize.HOUR, Span(first_hour, last_hour)))
    if last_hour < span.end:
        result.append((None, Span(last_hour, span.end)))
    return result
