"""Billing periods, UTC-aligned windows and bucket decomposition (spec 4.1, 4.8)."""

from datetime import datetime
from decimal import Decimal as D

import pytest

from meterbill.core.catalog import Interval
from meterbill.core.periods import (
    Span,
    WindowSize,
    billing_periods,
    ceil_to,
    decompose,
    floor_to,
    full_period,
    period_containing,
    windows,
)
from tests.builders import at

MONTH, WEEK = Interval.MONTH, Interval.WEEK
HOUR, DAY = WindowSize.HOUR, WindowSize.DAY


def span(start: str, end: str) -> Span:
    return Span(at(start), at(end))


@pytest.mark.parametrize(
    ("interval", "moment", "period"),
    [
        pytest.param(
            MONTH, at("2026-01-15T12:00"), span("2026-01-01", "2026-02-01"), id="mid-January"
        ),
        pytest.param(
            MONTH, at("2026-03-01"), span("2026-03-01", "2026-04-01"), id="first instant of March"
        ),
        pytest.param(
            MONTH,
            at("2026-12-31T23:59:59.999999"),
            span("2026-12-01", "2027-01-01"),
            id="December ends on the next January 1st",
        ),
        pytest.param(
            MONTH,
            at("2028-02-29T08:00"),
            span("2028-02-01", "2028-03-01"),
            id="February 29th of the leap year 2028",
        ),
        pytest.param(
            WEEK,
            at("2026-01-01T09:00"),
            span("2025-12-29", "2026-01-05"),
            id="Thursday 2026-01-01 is in the week from Monday 2025-12-29",
        ),
        pytest.param(
            WEEK, at("2026-01-05"), span("2026-01-05", "2026-01-12"), id="Monday midnight opens"
        ),
        pytest.param(
            WEEK,
            at("2026-01-11T23:59:59.999999"),
            span("2026-01-05", "2026-01-12"),
            id="Sunday's last microsecond closes",
        ),
    ],
)
def test_period_containing(interval: Interval, moment: datetime, period: Span) -> None:
    assert period_containing(interval, moment) == period


@pytest.mark.parametrize(
    ("period", "seconds"),
    [
        pytest.param(span("2026-01-01", "2026-02-01"), D(2_678_400), id="31 days"),
        pytest.param(span("2026-02-01", "2026-03-01"), D(2_419_200), id="February 2026: 28 days"),
        pytest.param(span("2028-02-01", "2028-03-01"), D(2_505_600), id="February 2028: 29 days"),
        pytest.param(span("2026-01-05", "2026-01-12"), D(604_800), id="a week"),
        pytest.param(
            Span(at("2026-01-01T10:00"), at("2026-01-01T10:00:00.250000")),
            D("0.25"),
            id="microseconds are exact",
        ),
    ],
)
def test_span_seconds(period: Span, seconds: D) -> None:
    assert period.seconds == seconds


def test_span_refuses_to_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="span ends before it starts"):
        Span(at("2026-01-02"), at("2026-01-01"))


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        pytest.param(at("2026-01-01"), True, id="start included"),
        pytest.param(at("2026-01-31T23:59:59.999999"), True, id="last microsecond included"),
        pytest.param(at("2026-02-01"), False, id="end excluded"),
        pytest.param(at("2025-12-31T23:59:59.999999"), False, id="before the start"),
    ],
)
def test_spans_are_half_open(moment: datetime, inside: bool) -> None:
    assert span("2026-01-01", "2026-02-01").contains(moment) is inside


@pytest.mark.parametrize(
    ("period", "full"),
    [
        pytest.param(
            span("2026-01-15T12:00", "2026-02-01"),
            span("2026-01-01", "2026-02-01"),
            id="partial first month",
        ),
        pytest.param(
            span("2026-03-01", "2026-03-10"), span("2026-03-01", "2026-04-01"), id="partial last"
        ),
    ],
)
def test_full_period_of_a_partial_period(period: Span, full: Span) -> None:
    assert full_period(MONTH, period) == full


@pytest.mark.parametrize(
    ("interval", "starts_at", "ends_at", "until", "periods"),
    [
        pytest.param(
            MONTH,
            at("2025-11-01"),
            None,
            at("2026-01-15"),
            [
                span("2025-11-01", "2025-12-01"),
                span("2025-12-01", "2026-01-01"),
                span("2026-01-01", "2026-02-01"),
            ],
            id="calendar months across December to January",
        ),
        pytest.param(
            MONTH,
            at("2028-01-20"),
            None,
            at("2028-03-01"),
            [
                span("2028-01-20", "2028-02-01"),
                span("2028-02-01", "2028-03-01"),
                span("2028-03-01", "2028-04-01"),
            ],
            id="leap February in full",
        ),
        pytest.param(
            MONTH,
            at("2026-01-15T12:00"),
            at("2026-03-10"),
            at("2026-12-31"),
            [
                span("2026-01-15T12:00", "2026-02-01"),
                span("2026-02-01", "2026-03-01"),
                span("2026-03-01", "2026-03-10"),
            ],
            id="partial first and last periods",
        ),
        pytest.param(
            MONTH,
            at("2026-01-01"),
            at("2026-03-01"),
            at("2026-12-31"),
            [span("2026-01-01", "2026-02-01"), span("2026-02-01", "2026-03-01")],
            id="ending on a boundary adds no empty period",
        ),
        pytest.param(
            MONTH,
            at("2026-01-01"),
            None,
            at("2026-02-01"),
            [span("2026-01-01", "2026-02-01"), span("2026-02-01", "2026-03-01")],
            id="until exactly at a period start includes that period",
        ),
        pytest.param(
            MONTH,
            at("2026-01-01"),
            None,
            at("2026-01-31T23:59:59.999999"),
            [span("2026-01-01", "2026-02-01")],
            id="until just before the next period leaves it out",
        ),
        pytest.param(
            MONTH, at("2026-02-01"), None, at("2026-01-31"), [], id="until before the start"
        ),
        pytest.param(
            WEEK,
            at("2026-01-01T12:00"),
            None,
            at("2026-01-12"),
            [
                span("2026-01-01T12:00", "2026-01-05"),
                span("2026-01-05", "2026-01-12"),
                span("2026-01-12", "2026-01-19"),
            ],
            id="weeks run Monday to Monday",
        ),
    ],
)
def test_billing_periods(
    interval: Interval,
    starts_at: datetime,
    ends_at: datetime | None,
    until: datetime,
    periods: list[Span],
) -> None:
    assert list(billing_periods(interval, starts_at, ends_at, until=until)) == periods


@pytest.mark.parametrize(
    ("period", "size", "expected"),
    [
        pytest.param(
            span("2026-01-01T10:30", "2026-01-01T13:00"),
            HOUR,
            [
                span("2026-01-01T10:30", "2026-01-01T11:00"),
                span("2026-01-01T11:00", "2026-01-01T12:00"),
                span("2026-01-01T12:00", "2026-01-01T13:00"),
            ],
            id="hours: first window clipped to 10:30",
        ),
        pytest.param(
            span("2026-01-01T10:30", "2026-01-01T12:45"),
            HOUR,
            [
                span("2026-01-01T10:30", "2026-01-01T11:00"),
                span("2026-01-01T11:00", "2026-01-01T12:00"),
                span("2026-01-01T12:00", "2026-01-01T12:45"),
            ],
            id="hours: both ends clipped",
        ),
        pytest.param(
            span("2026-01-01T10:30", "2026-01-03T05:15"),
            DAY,
            [
                span("2026-01-01T10:30", "2026-01-02"),
                span("2026-01-02", "2026-01-03"),
                span("2026-01-03", "2026-01-03T05:15"),
            ],
            id="days: both ends clipped",
        ),
        pytest.param(
            span("2026-01-01T10:10", "2026-01-01T10:50"),
            HOUR,
            [span("2026-01-01T10:10", "2026-01-01T10:50")],
            id="a span inside one hour is one window",
        ),
        pytest.param(
            span("2026-01-31T22:00", "2026-02-01T02:00"),
            DAY,
            [span("2026-01-31T22:00", "2026-02-01"), span("2026-02-01", "2026-02-01T02:00")],
            id="days across a month end",
        ),
    ],
)
def test_windows(period: Span, size: WindowSize, expected: list[Span]) -> None:
    assert windows(period, size) == expected


def test_day_windows_of_january() -> None:
    days = windows(span("2026-01-01", "2026-02-01"), DAY)

    assert len(days) == 31
    assert days[0] == span("2026-01-01", "2026-01-02")
    assert days[-1] == span("2026-01-31", "2026-02-01")


@pytest.mark.parametrize(
    ("moment", "size", "floor", "ceil"),
    [
        pytest.param(
            at("2026-01-01T10:30"), HOUR, at("2026-01-01T10:00"), at("2026-01-01T11:00"), id="10:30"
        ),
        pytest.param(
            at("2026-01-01T10:00"),
            HOUR,
            at("2026-01-01T10:00"),
            at("2026-01-01T10:00"),
            id="on an hour",
        ),
        pytest.param(
            at("2026-01-01T10:00:00.000001"),
            HOUR,
            at("2026-01-01T10:00"),
            at("2026-01-01T11:00"),
            id="one microsecond past an hour",
        ),
        pytest.param(
            at("2026-01-01T10:30"), DAY, at("2026-01-01"), at("2026-01-02"), id="day of 10:30"
        ),
        pytest.param(at("2026-01-02"), DAY, at("2026-01-02"), at("2026-01-02"), id="on a day"),
        pytest.param(
            at("2026-12-31T23:59:59"),
            DAY,
            at("2026-12-31"),
            at("2027-01-01"),
            id="last second of the year",
        ),
    ],
)
def test_floor_and_ceil(
    moment: datetime, size: WindowSize, floor: datetime, ceil: datetime
) -> None:
    assert (floor_to(moment, size), ceil_to(moment, size)) == (floor, ceil)


@pytest.mark.parametrize(
    ("period", "coarsest", "segments"),
    [
        pytest.param(
            span("2026-01-01", "2026-02-01"),
            DAY,
            [(DAY, span("2026-01-01", "2026-02-01"))],
            id="a month is one day segment",
        ),
        pytest.param(
            span("2026-01-01", "2026-02-01"),
            HOUR,
            [(HOUR, span("2026-01-01", "2026-02-01"))],
            id="a month read from hours is one hour segment",
        ),
        pytest.param(
            span("2026-01-01T10:30", "2026-01-03T05:15"),
            DAY,
            [
                (None, span("2026-01-01T10:30", "2026-01-01T11:00")),
                (HOUR, span("2026-01-01T11:00", "2026-01-02")),
                (DAY, span("2026-01-02", "2026-01-03")),
                (HOUR, span("2026-01-03", "2026-01-03T05:00")),
                (None, span("2026-01-03T05:00", "2026-01-03T05:15")),
            ],
            id="raw, hours, days, hours, raw",
        ),
        pytest.param(
            span("2026-01-01T10:30", "2026-01-03T05:15"),
            HOUR,
            [
                (None, span("2026-01-01T10:30", "2026-01-01T11:00")),
                (HOUR, span("2026-01-01T11:00", "2026-01-03T05:00")),
                (None, span("2026-01-03T05:00", "2026-01-03T05:15")),
            ],
            id="raw, hours, raw when days are not allowed",
        ),
        pytest.param(
            span("2026-01-01T02:00", "2026-01-01T20:00"),
            DAY,
            [(HOUR, span("2026-01-01T02:00", "2026-01-01T20:00"))],
            id="whole hours but no whole day",
        ),
        pytest.param(
            span("2026-01-01T10:10", "2026-01-01T10:50"),
            DAY,
            [(None, span("2026-01-01T10:10", "2026-01-01T10:50"))],
            id="sub-hour span is raw",
        ),
        pytest.param(
            span("2026-01-01T10:30", "2026-01-01T11:15"),
            DAY,
            [(None, span("2026-01-01T10:30", "2026-01-01T11:15"))],
            id="crossing an hour without a whole hour is raw",
        ),
        pytest.param(
            span("2026-01-01T10:00", "2026-01-01T10:00"), DAY, [], id="empty span has no segment"
        ),
    ],
)
def test_decompose(
    period: Span, coarsest: WindowSize, segments: list[tuple[WindowSize | None, Span]]
) -> None:
    assert decompose(period, coarsest) == segments
