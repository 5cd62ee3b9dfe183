"""Invoice lines cut into day windows that add up to the cent (spec 4.8)."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterbill.core.aggregation import GroupKey
from meterbill.core.breakdown import WindowFigure, break_down
from meterbill.core.catalog import (
    Aggregation,
    CreditKind,
    FlatPrice,
    GraduatedPrice,
    Interval,
    PackagePrice,
    PerUnitPrice,
    Tier,
    VolumePrice,
)
from meterbill.core.periods import Span, WindowSize, windows
from meterbill.core.rating import Line, corrections, rate_period
from tests.builders import at, catalog, grant, meter, plan, product

JANUARY = Span(at("2026-01-01"), at("2026-02-01"))
JANUARY_DAYS = windows(JANUARY, WindowSize.DAY)
WEEK = Span(at("2026-01-05"), at("2026-01-12"))  # Monday to Monday
WEEK_DAYS = windows(WEEK, WindowSize.DAY)

SUM, MAX = Aggregation.SUM, Aggregation.MAX
CATALOG = catalog(
    meters=[
        meter(key="minutes", aggregation=SUM),
        meter(key="gib", aggregation=SUM, group_by=("cluster_id",)),
        meter(key="calls", aggregation=Aggregation.COUNT),
        meter(key="seat_days", aggregation=SUM),
        meter(key="seats", aggregation=MAX),
    ],
    products=[
        product(key="nodes", meter="minutes", price=PerUnitPrice(unit_price=D("0.0023148"))),
        product(
            key="gib",
            price=GraduatedPrice(
                tiers=(
                    Tier(up_to=D(100), unit_price=D("0.10")),
                    Tier(up_to=None, unit_price=D("0.05")),
                )
            ),
        ),
        product(key="calls", price=PackagePrice(package_size=D(1_000), package_price=D("0.50"))),
        product(
            key="seat_days",
            price=VolumePrice(
                tiers=(Tier(up_to=D(10), unit_price=D(5)), Tier(up_to=None, unit_price=D(4)))
            ),
        ),
        product(key="seats", price=PerUnitPrice(unit_price=D(10))),
        product(key="support", price=FlatPrice(amount=D("500.00"))),
    ],
)

Series = dict[str, dict[GroupKey, list[D]]]


def rate_and_break_down(
    products: tuple[str, ...],
    series: Series,
    *,
    period: Span = WEEK,
    days: list[Span] = WEEK_DAYS,
    line_quantities: dict[str, dict[GroupKey, D]] | None = None,
) -> tuple[list[Line], list[list[WindowFigure]]]:
    """Rate the period from the window series (summed, unless given), then break it down."""
    interval = Interval.WEEK if period == WEEK else Interval.MONTH
    usage = line_quantities or {
        key: {group: sum(values, D(0)) for group, values in groups.items()}
        for key, groups in series.items()
    }
    lines = rate_period(
        catalog=CATALOG,
        plan=plan(products=products, interval=interval),
        period=period,
        currency="USD",
        usage=usage,
    )
    figures = break_down(lines, catalog=CATALOG, windows=days, usage=series, currency="USD")
    return lines, figures


def amounts(figures: list[WindowFigure]) -> list[D]:
    return [figure.amount for figure in figures]


def quantities(figures: list[WindowFigure]) -> list[D]:
    return [figure.quantity for figure in figures]


ZERO = D(0)


def test_per_unit_day_windows_add_up_to_the_line() -> None:
    # 1,440 minutes a day at 0.0023148 is 3.333312 a day; the line is 31 x 3.333312 =
    # 103.332672 → 103.33. Every day floors to 3.33 (31 x 3.33 = 103.23) and the ten cents
    # left go to the ten earliest days, all remainders being equal (0.3312 of a cent).
    lines, [nodes] = rate_and_break_down(
        ("nodes",), {"nodes": {(): [D(1440)] * 31}}, period=JANUARY, days=JANUARY_DAYS
    )

    assert [line.amount for line in lines] == [D("103.33")]
    assert [figure.exact for figure in nodes] == [D("3.3333120")] * 31
    assert amounts(nodes) == [D("3.34")] * 10 + [D("3.33")] * 21
    assert quantities(nodes) == [D(1440)] * 31


def test_flat_fee_is_spread_evenly() -> None:
    # 500.00 / 31 = 16.129032...: floors 31 x 16.12 = 499.72, the 28 cents left go to the
    # first 28 days.
    _, [support] = rate_and_break_down(("support",), {}, period=JANUARY, days=JANUARY_DAYS)

    assert amounts(support) == [D("16.13")] * 28 + [D("16.12")] * 3
    assert quantities(support) == [D(1)] * 31


def test_the_windows_of_an_invoice_add_up_to_its_subtotal() -> None:
    lines, figures = rate_and_break_down(
        ("nodes", "support"), {"nodes": {(): [D(1440)] * 31}}, period=JANUARY, days=JANUARY_DAYS
    )
    per_day = [sum(day, D(0)) for day in zip(*(amounts(f) for f in figures), strict=True)]

    # 3.34 + 16.13 (days 1-10), 3.33 + 16.13 (days 11-28), 3.33 + 16.12 (days 29-31).
    assert per_day == [D("19.47")] * 10 + [D("19.46")] * 18 + [D("19.45")] * 3
    assert sum(per_day, D(0)) == sum((line.amount for line in lines), D(0)) == D("603.33")


def test_graduated_windows_slice_the_cumulative_quantity_tier_by_tier() -> None:
    # 40 + 40 + 40 + 30 = 150: Tier 1 fills up on Wednesday, which shows on both tier lines.
    lines, [tier_1, tier_2] = rate_and_break_down(
        ("gib",), {"gib": {("c1",): [D(40), D(40), D(40), D(30), ZERO, ZERO, ZERO]}}
    )

    assert [(line.name, line.quantity, line.amount) for line in lines] == [
        ("gib - Tier 1", D(100), D("10.00")),
        ("gib - Tier 2", D(50), D("2.50")),
    ]
    assert quantities(tier_1) == [D(40), D(40), D(20), ZERO, ZERO, ZERO, ZERO]
    assert amounts(tier_1) == [D("4.00"), D("4.00"), D("2.00"), ZERO, ZERO, ZERO, ZERO]
    assert quantities(tier_2) == [ZERO, ZERO, D(20), D(30), ZERO, ZERO, ZERO]
    assert amounts(tier_2) == [ZERO, ZERO, D("1.00"), D("1.50"), ZERO, ZERO, ZERO]


def test_each_group_uses_its_own_series() -> None:
    _, [c1, c2] = rate_and_break_down(
        ("gib",),
        {
            "gib": {
                ("c1",): [D(10), ZERO, ZERO, ZERO, ZERO, ZERO, ZERO],
                ("c2",): [ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, D(20)],
            }
        },
    )

    assert amounts(c1) == [D("1.00"), ZERO, ZERO, ZERO, ZERO, ZERO, ZERO]
    assert amounts(c2) == [ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, D("2.00")]


def test_package_window_is_the_price_of_its_cumulative_end_less_its_start() -> None:
    # Cumulative 400, 800, 1200, 3000 → 1, 1, 2, 3 packages → 0.50, 0, 0.50, 0.50.
    lines, [calls] = rate_and_break_down(
        ("calls",), {"calls": {(): [D(400), D(400), D(400), D(1800), ZERO, ZERO, ZERO]}}
    )

    assert [line.amount for line in lines] == [D("1.50")]
    assert [f.exact for f in calls] == [D("0.50"), ZERO, D("0.50"), D("0.50"), ZERO, ZERO, ZERO]
    assert amounts(calls) == [D("0.50"), ZERO, D("0.50"), D("0.50"), ZERO, ZERO, ZERO]
    assert quantities(calls) == [D(400), D(400), D(400), D(1800), ZERO, ZERO, ZERO]


def test_volume_line_is_split_in_proportion_to_quantities() -> None:
    # 3 + 5 + 4 = 12 seat-days, all at the second tier: 48.00 → 3/12, 5/12 and 4/12 of it.
    lines, [seat_days] = rate_and_break_down(
        ("seat_days",), {"seat_days": {(): [D(3), ZERO, D(5), D(4), ZERO, ZERO, ZERO]}}
    )

    assert [line.amount for line in lines] == [D("48.00")]
    assert amounts(seat_days) == [D("12.00"), ZERO, D("20.00"), D("16.00"), ZERO, ZERO, ZERO]


@pytest.mark.parametrize(
    ("maxima", "line_max", "split"),
    [
        pytest.param(
            [D(1), D(1), D(1), ZERO, ZERO, ZERO, ZERO],
            D(1),
            [D("3.34"), D("3.33"), D("3.33"), ZERO, ZERO, ZERO, ZERO],
            id="10.00 over three equal maxima: the spare cent to the earliest",
        ),
        pytest.param(
            [D(2), D(4), ZERO, ZERO, ZERO, ZERO, ZERO],
            D(4),
            [D("13.33"), D("26.67"), ZERO, ZERO, ZERO, ZERO, ZERO],
            id="40.00 as 2:4, 13.333 and 26.667: the cent to the larger remainder",
        ),
    ],
)
def test_max_meter_allocates_the_line_in_proportion(
    maxima: list[D], line_max: D, split: list[D]
) -> None:
    _, [seats] = rate_and_break_down(
        ("seats",), {"seats": {(): maxima}}, line_quantities={"seats": {(): line_max}}
    )

    assert (quantities(seats), amounts(seats)) == (maxima, split)


def test_a_correction_line_is_spread_evenly() -> None:
    # 20 late GiB at Tier 2 = 1.00 → 1.00 / 7 = 0.142857...: two days get 0.15.
    billed = rate_period(
        catalog=CATALOG,
        plan=plan(products=("gib",), interval=Interval.WEEK),
        period=WEEK,
        currency="USD",
        usage={"gib": {("c1",): D(150)}},
    )
    rerated = rate_period(
        catalog=CATALOG,
        plan=plan(products=("gib",), interval=Interval.WEEK),
        period=WEEK,
        currency="USD",
        usage={"gib": {("c1",): D(170)}},
    )
    [late] = corrections(period=WEEK, rerated=rerated, billed=billed)

    [figures] = break_down(
        [late],
        catalog=CATALOG,
        windows=WEEK_DAYS,
        usage={"gib": {("c1",): [D(150), ZERO, ZERO, ZERO, ZERO, ZERO, D(20)]}},
        currency="USD",
    )

    assert amounts(figures) == [D("0.15"), D("0.15")] + [D("0.14")] * 5


MINOR_UNIT = {"USD": D("0.01"), "JPY": D(1), "KWD": D("0.001")}
DAILY = st.lists(
    st.decimals(min_value=0, max_value=3000, places=3, allow_nan=False, allow_infinity=False),
    min_size=7,
    max_size=7,
)
TOPUP = grant(key="topup", kind=CreditKind.PREPAID, amount=D("99.99"), starts_at=at("2026-01-06"))


def week_of(key: str, line_quantity: D, *, minimum: D | None, currency: str) -> list[Line]:
    """A week of one usage product, a flat fee, maybe a minimum and a prepaid purchase."""
    return rate_period(
        catalog=CATALOG,
        plan=plan(products=(key, "support"), interval=Interval.WEEK, minimum=minimum),
        period=WEEK,
        currency=currency,
        usage={key: {group_of(key): line_quantity}},
        purchases=[TOPUP],
    )


def group_of(key: str) -> GroupKey:
    return ("c1",) if key == "gib" else ()


@settings(max_examples=150, deadline=None)
@given(
    key=st.sampled_from(["nodes", "gib", "calls", "seat_days", "seats"]),
    daily=DAILY,
    minimum=st.none() | st.decimals(min_value=0, max_value=5000, places=2, allow_nan=False),
    currency=st.sampled_from(sorted(MINOR_UNIT)),
)
def test_every_lines_windows_add_up_to_the_line(
    key: str, daily: list[D], minimum: D | None, currency: str
) -> None:
    line_quantity = max(daily) if key == "seats" else sum(daily, D(0))
    lines = week_of(key, line_quantity, minimum=minimum, currency=currency)

    figures = break_down(
        lines,
        catalog=CATALOG,
        windows=WEEK_DAYS,
        usage={key: {group_of(key): daily}},
        currency=currency,
    )

    assert [sum(amounts(f), D(0)) for f in figures] == [line.amount for line in lines]
    unit = MINOR_UNIT[currency]
    assert [a for f in figures for a in amounts(f) if a.quantize(unit) != a] == []


@settings(max_examples=100, deadline=None)
@given(key=st.sampled_from(["nodes", "gib", "calls", "seat_days"]), daily=DAILY)
def test_additive_windows_add_up_to_the_line_quantity(key: str, daily: list[D]) -> None:
    lines = [
        line
        for line in week_of(key, sum(daily, D(0)), minimum=None, currency="USD")
        if line.product == key
    ]

    figures = break_down(
        lines,
        catalog=CATALOG,
        windows=WEEK_DAYS,
        usage={key: {group_of(key): daily}},
        currency="USD",
    )

    assert [sum(quantities(f), D(0)) for f in figures] == [line.quantity for line in lines]
