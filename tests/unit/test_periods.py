"""Billing periods, UTC-aligned windows and bucket decomposition (spec 4.1, 4.8)."""

from datetime import datetime
from decimal import Decimal as D

import pytest

from meterbill.core.catalog import Anchor, Interval
from meterbill.core.periods import (
    Span,
    WindowSize,
    anchored_period,
    billing_periods,
    ceil_to,
    decompose,
    floor_to,
    full_period,
    period_containing,
    step,
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


# --------------------------------------------------------------------------- 5.4 anchors

QUARTER, YEAR = Interval.QUARTER, Interval.YEAR
CALENDAR, SUBSCRIPTION = Anchor.CALENDAR, Anchor.SUBSCRIPTION


@pytest.mark.parametrize(
    ("moment", "interval", "count", "expected"),
    [
        pytest.param(
            at("2026-01-31T10:30"), MONTH, 1, at("2026-02-28T10:30"), id="31 Jan -> 28 Feb"
        ),
        pytest.param(
            at("2026-01-31T10:30"), MONTH, 2, at("2026-03-31T10:30"), id="31 Jan -> 31 Mar"
        ),
        pytest.param(at("2028-01-31"), MONTH, 1, at("2028-02-29"), id="31 Jan -> 29 Feb 2028"),
        pytest.param(at("2027-01-29"), MONTH, 1, at("2027-02-28"), id="29 Jan -> 28 Feb 2027"),
        pytest.param(at("2028-01-29"), MONTH, 1, at("2028-02-29"), id="29 Jan -> 29 Feb 2028"),
        pytest.param(at("2026-12-31"), MONTH, 2, at("2027-02-28"), id="across the year end"),
        pytest.param(at("2026-11-30T08:00"), QUARTER, 1, at("2027-02-28T08:00"), id="quarter"),
        pytest.param(at("2028-02-29"), YEAR, 1, at("2029-02-28"), id="29 Feb -> 28 Feb 2029"),
        pytest.param(at("2028-02-29"), YEAR, 4, at("2032-02-29"), id="29 Feb restored in 2032"),
        pytest.param(at("2026-01-01T12:00"), WEEK, 3, at("2026-01-22T12:00"), id="three weeks"),
        pytest.param(at("2026-03-31"), MONTH, -1, at("2026-02-28"), id="backwards, clamped"),
    ],
)
def test_step(moment: datetime, interval: Interval, count: int, expected: datetime) -> None:
    assert step(moment, interval, count) == expected


@pytest.mark.parametrize(
    ("interval", "moment", "period"),
    [
        pytest.param(QUARTER, at("2026-02-15T09:00"), span("2026-01-01", "2026-04-01"), id="Q1"),
        pytest.param(QUARTER, at("2026-04-01"), span("2026-04-01", "2026-07-01"), id="Q2 opens"),
        pytest.param(
            QUARTER, at("2026-09-30T23:59:59.999999"), span("2026-07-01", "2026-10-01"), id="Q3"
        ),
        pytest.param(
            QUARTER, at("2026-12-31T23:00"), span("2026-10-01", "2027-01-01"), id="Q4 ends in 2027"
        ),
        pytest.param(YEAR, at("2028-02-29T12:00"), span("2028-01-01", "2029-01-01"), id="year"),
    ],
)
def test_calendar_quarters_and_years(interval: Interval, moment: datetime, period: Span) -> None:
    assert period_containing(interval, moment) == period


@pytest.mark.parametrize(
    ("interval", "anchor", "starts_at", "ends_at", "until", "periods"),
    [
        pytest.param(
            MONTH,
            SUBSCRIPTION,
            at("2026-01-31T10:30"),
            None,
            at("2026-05-01"),
            [
                span("2026-01-31T10:30", "2026-02-28T10:30"),
                span("2026-02-28T10:30", "2026-03-31T10:30"),
                span("2026-03-31T10:30", "2026-04-30T10:30"),
                span("2026-04-30T10:30", "2026-05-31T10:30"),
            ],
            id="31st: clamped to 28 Feb and 30 Apr, restored in March and May, 10:30 kept",
        ),
        pytest.param(
            MONTH,
            SUBSCRIPTION,
            at("2028-01-31"),
            None,
            at("2028-03-31"),
            [
                span("2028-01-31", "2028-02-29"),
                span("2028-02-29", "2028-03-31"),
                span("2028-03-31", "2028-04-30"),
            ],
            id="31st in the leap year 2028: 29 Feb",
        ),
        pytest.param(
            MONTH,
            SUBSCRIPTION,
            at("2027-01-30T06:00"),
            None,
            at("2027-03-30T06:00"),
            [
                span("2027-01-30T06:00", "2027-02-28T06:00"),
                span("2027-02-28T06:00", "2027-03-30T06:00"),
                span("2027-03-30T06:00", "2027-04-30T06:00"),
            ],
            id="30th in 2027: 28 Feb, then the 30th again",
        ),
        pytest.param(
            MONTH,
            SUBSCRIPTION,
            at("2028-01-29"),
            None,
            at("2028-03-01"),
            [span("2028-01-29", "2028-02-29"), span("2028-02-29", "2028-03-29")],
            id="29th in 2028: 29 Feb exists, no clamping",
        ),
        pytest.param(
            MONTH,
            SUBSCRIPTION,
            at("2027-01-29"),
            None,
            at("2027-03-01"),
            [span("2027-01-29", "2027-02-28"), span("2027-02-28", "2027-03-29")],
            id="29th in 2027: 28 Feb",
        ),
        pytest.param(
            WEEK,
            SUBSCRIPTION,
            at("2026-01-01T12:00"),  # a Thursday
            None,
            at("2026-01-15T12:00"),
            [
                span("2026-01-01T12:00", "2026-01-08T12:00"),
                span("2026-01-08T12:00", "2026-01-15T12:00"),
                span("2026-01-15T12:00", "2026-01-22T12:00"),
            ],
            id="weeks from Thursday noon to Thursday noon",
        ),
        pytest.param(
            QUARTER,
            SUBSCRIPTION,
            at("2026-11-30T08:00"),
            None,
            at("2027-06-01"),
            [
                span("2026-11-30T08:00", "2027-02-28T08:00"),
                span("2027-02-28T08:00", "2027-05-30T08:00"),
                span("2027-05-30T08:00", "2027-08-30T08:00"),
            ],
            id="quarters from 30 Nov: 28 Feb, then 30 May",
        ),
        pytest.param(
            YEAR,
            SUBSCRIPTION,
            at("2028-02-29"),
            None,
            at("2031-12-31"),
            [
                span("2028-02-29", "2029-02-28"),
                span("2029-02-28", "2030-02-28"),
                span("2030-02-28", "2031-02-28"),
                span("2031-02-28", "2032-02-29"),
            ],
            id="years from 29 Feb 2028: 28 Feb until 29 Feb 2032",
        ),
        pytest.param(
            MONTH,
            SUBSCRIPTION,
            at("2026-01-20T10:30"),
            at("2026-03-05T12:00"),
            at("2026-12-31"),
            [
                span("2026-01-20T10:30", "2026-02-20T10:30"),
                span("2026-02-20T10:30", "2026-03-05T12:00"),
            ],
            id="anchored: no partial first period, a partial last one",
        ),
        pytest.param(
            MONTH,
            SUBSCRIPTION,
            at("2026-01-20"),
            at("2026-03-20"),
            at("2026-12-31"),
            [span("2026-01-20", "2026-02-20"), span("2026-02-20", "2026-03-20")],
            id="anchored: ending on a boundary adds no empty period",
        ),
        pytest.param(
            QUARTER,
            CALENDAR,
            at("2026-02-15T09:00"),
            None,
            at("2026-08-01"),
            [
                span("2026-02-15T09:00", "2026-04-01"),
                span("2026-04-01", "2026-07-01"),
                span("2026-07-01", "2026-10-01"),
            ],
            id="calendar quarters with a partial first one",
        ),
        pytest.param(
            YEAR,
            CALENDAR,
            at("2026-03-10T06:00"),
            at("2027-10-01"),
            at("2030-01-01"),
            [span("2026-03-10T06:00", "2027-01-01"), span("2027-01-01", "2027-10-01")],
            id="calendar years with partial first and last",
        ),
    ],
)
def test_billing_periods_with_intervals_and_anchors(
    interval: Interval,
    anchor: Anchor,
    starts_at: datetime,
    ends_at: datetime | None,
    until: datetime,
    periods: list[Span],
) -> None:
    found = list(billing_periods(interval, starts_at, ends_at, until=until, anchor=anchor))

    assert found == periods


@pytest.mark.parametrize(
    ("interval", "anchored_at", "period", "full", "seconds"),
    [
        pytest.param(
            MONTH,
            at("2026-01-31T10:30"),
            span("2026-02-28T10:30", "2026-03-14T10:30"),
            span("2026-02-28T10:30", "2026-03-31T10:30"),
            D(31 * 86400),
            id="partial last after a clamped start: the full period is 31 days",
        ),
        pytest.param(
            MONTH,
            at("2026-01-20"),
            span("2026-02-20", "2026-03-05"),
            span("2026-02-20", "2026-03-20"),
            D(28 * 86400),
            id="20 Feb to 20 Mar",
        ),
        pytest.param(
            QUARTER,
            at("2026-11-30T08:00"),
            span("2027-02-28T08:00", "2027-04-01"),
            span("2027-02-28T08:00", "2027-05-30T08:00"),
            D(91 * 86400),
            id="anchored quarter",
        ),
        pytest.param(
            WEEK,
            at("2026-01-01T12:00"),
            span("2026-01-15T12:00", "2026-01-17"),
            span("2026-01-15T12:00", "2026-01-22T12:00"),
            D(7 * 86400),
            id="anchored week",
        ),
        pytest.param(
            YEAR,
            None,
            span("2026-03-10T06:00", "2027-01-01"),
            span("2026-01-01", "2027-01-01"),
            D(365 * 86400),
            id="calendar year of a partial first period",
        ),
        pytest.param(
            QUARTER,
            None,
            span("2026-02-15T09:00", "2026-04-01"),
            span("2026-01-01", "2026-04-01"),
            D(90 * 86400),
            id="calendar Q1 of a partial first period",
        ),
    ],
)
def test_full_period_of_anchored_and_calendar_periods(
    interval: Interval, anchored_at: datetime | None, period: Span, full: Span, seconds: D
) -> None:
    found = full_period(interval, period, anchored_at=anchored_at)

    assert found == full
    assert found.seconds == seconds


@pytest.mark.parametrize(
    ("moment", "period"),
    [
        pytest.param(
            at("2026-03-31T10:29:59"),
            span("2026-02-28T10:30", "2026-03-31T10:30"),
            id="just before the 31 Mar start",
        ),
        pytest.param(
            at("2026-03-31T10:30"),
            span("2026-03-31T10:30", "2026-04-30T10:30"),
            id="at the 31 Mar start",
        ),
        pytest.param(
            at("2026-02-28T10:00"),
            span("2026-01-31T10:30", "2026-02-28T10:30"),
            id="28 Feb before 10:30 is still January's period",
        ),
        pytest.param(
            at("2027-01-15"),
            span("2026-12-31T10:30", "2027-01-31T10:30"),
            id="a year later",
        ),
    ],
)
def test_anchored_period_containing(moment: datetime, period: Span) -> None:
    assert anchored_period(MONTH, at("2026-01-31T10:30"), moment) == period


def test_day_windows_of_an_anchored_period_are_cut_at_utc_midnights() -> None:
    period = span("2026-01-20T10:30", "2026-02-20T10:30")

    days = windows(period, DAY)

    assert len(days) == 32
    assert days[0] == span("2026-01-20T10:30", "2026-01-21")
    assert days[1] == span("2026-01-21", "2026-01-22")
    assert days[-1] == span("2026-02-20", "2026-02-20T10:30")
    assert sum((w.seconds for w in days), D(0)) == period.seconds
    # The 10:30 edges are read from raw events, the rest from hour and day buckets.
    assert decompose(period, DAY)[0] == (None, span("2026-01-20T10:30", "2026-01-20T11:00"))
    assert decompose(period, DAY)[-1] == (None, span("2026-02-20T10:00", "2026-02-20T10:30"))
