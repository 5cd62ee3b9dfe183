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


# --------------------------------------------------------------------------- spec 6.1, 6.2

ADJUSTED = catalog(
    meters=[
        meter(key="egress", aggregation=SUM),
        meter(key="requests", aggregation=SUM),
        meter(key="seats", aggregation=SUM),
        meter(key="calls", aggregation=SUM),
    ],
    products=[
        # Tier 1 (0-100] at 0.10 + 5.00, then 0.05 + 20.00; the first 30 units free.
        product(
            key="egress",
            price=GraduatedPrice(
                tiers=(
                    Tier(up_to=D(100), unit_price=D("0.10"), flat_amount=D("5.00")),
                    Tier(up_to=None, unit_price=D("0.05"), flat_amount=D("20.00")),
                )
            ),
            free_quantity=D(30),
        ),
        product(key="requests", price=PerUnitPrice(unit_price=D("0.01")), free_quantity=D(100)),
        # Up to 10 at 5 + 2.00, more at 4 + 10.00; the first 2 free.
        product(
            key="seats",
            price=VolumePrice(
                tiers=(
                    Tier(up_to=D(10), unit_price=D(5), flat_amount=D("2.00")),
                    Tier(up_to=None, unit_price=D(4), flat_amount=D("10.00")),
                )
            ),
            free_quantity=D(2),
        ),
        product(
            key="calls",
            price=PackagePrice(package_size=D(1_000), package_price=D("0.50")),
            free_quantity=D(500),
        ),
        product(key="support", price=FlatPrice(amount=D("70.00"))),
    ],
)


def adjusted_week(
    products: tuple[str, ...], series: Series
) -> tuple[list[Line], list[list[WindowFigure]]]:
    lines = rate_period(
        catalog=ADJUSTED,
        plan=plan(products=products, interval=Interval.WEEK),
        period=WEEK,
        currency="USD",
        usage={
            key: {group: sum(values, D(0)) for group, values in groups.items()}
            for key, groups in series.items()
        },
    )
    figures = break_down(lines, catalog=ADJUSTED, windows=WEEK_DAYS, usage=series, currency="USD")
    return lines, figures


def test_graduated_free_units_first_then_each_tier_flat_amount_where_it_is_entered() -> None:
    # 20, 20, 40, 50, 0, 10, 0 = 140 units, 30 free, 110 charged.
    # Cumulative 20 / 40 / 80 / 130 / 130 / 140 → charged 0 / 10 / 50 / 100 / 100 / 110.
    # Monday is free; Tuesday enters tier 1: 10 x 0.10 + 5.00; Saturday enters tier 2:
    # 10 x 0.05 + 20.00. Tier 1 shows the 30 free units: 130 units, 10.00 + 5.00.
    lines, [tier_1, tier_2] = adjusted_week(
        ("egress",), {"egress": {(): [D(20), D(20), D(40), D(50), ZERO, D(10), ZERO]}}
    )

    assert [(line.name, line.quantity, line.unit_price, line.amount) for line in lines] == [
        ("egress - Tier 1", D(130), D("0.10"), D("15.00")),
        ("egress - Tier 2", D(10), D("0.05"), D("20.50")),
    ]
    assert quantities(tier_1) == [D(20), D(20), D(40), D(50), ZERO, ZERO, ZERO]
    assert amounts(tier_1) == [ZERO, D("6.00"), D("4.00"), D("5.00"), ZERO, ZERO, ZERO]
    assert quantities(tier_2) == [ZERO, ZERO, ZERO, ZERO, ZERO, D(10), ZERO]
    assert amounts(tier_2) == [ZERO, ZERO, ZERO, ZERO, ZERO, D("20.50"), ZERO]


def test_wholly_free_graduated_line_has_windows_of_zero() -> None:
    lines, [tier_1] = adjusted_week(
        ("egress",), {"egress": {(): [D(10), ZERO, D(15), ZERO, ZERO, ZERO, D(5)]}}
    )

    assert [(line.name, line.quantity, line.amount) for line in lines] == [
        ("egress - Tier 1", D(30), ZERO)
    ]
    assert quantities(tier_1) == [D(10), ZERO, D(15), ZERO, ZERO, ZERO, D(5)]
    assert amounts(tier_1) == [ZERO] * 7


def test_per_unit_windows_pay_after_the_free_units() -> None:
    # 60 + 60 + 100 = 220, 100 free: Monday free, Tuesday 20 x 0.01, Wednesday 100 x 0.01.
    lines, [requests] = adjusted_week(
        ("requests",), {"requests": {(): [D(60), D(60), D(100), ZERO, ZERO, ZERO, ZERO]}}
    )

    assert [(line.quantity, line.amount) for line in lines] == [(D(220), D("1.20"))]
    assert amounts(requests) == [ZERO, D("0.20"), D("1.00"), ZERO, ZERO, ZERO, ZERO]
    assert quantities(requests) == [D(60), D(60), D(100), ZERO, ZERO, ZERO, ZERO]


def test_volume_line_with_flat_amount_in_proportion_to_charged_quantities() -> None:
    # 1 + 3 + 5 + 4 = 13 seats, 2 free: 11 charged at tier 2, 44 + 10.00 = 54.00.
    # Charged per day: 0, 2, 5, 4 → 54 x 2/11 = 9.818..., x 5/11 = 24.545..., x 4/11 =
    # 19.636...: floors 9.81 + 24.54 + 19.63 = 53.98, the two cents to the largest
    # remainders (0.81 and 0.63 of a cent).
    lines, [seats] = adjusted_week(
        ("seats",), {"seats": {(): [D(1), D(3), D(5), D(4), ZERO, ZERO, ZERO]}}
    )

    assert [(line.quantity, line.unit_price, line.amount) for line in lines] == [
        (D(13), D(4), D("54.00"))
    ]
    assert amounts(seats) == [ZERO, D("9.82"), D("24.54"), D("19.64"), ZERO, ZERO, ZERO]
    assert quantities(seats) == [D(1), D(3), D(5), D(4), ZERO, ZERO, ZERO]


def test_package_windows_count_packages_of_the_charged_quantity() -> None:
    # Cumulative 400 / 800 / 1,200 / 3,000, 500 free → charged 0 / 300 / 700 / 2,500 →
    # 0, 1, 1, 3 packages → 0, 0.50, 0, 1.00; the line: 3 packages, 1.50.
    lines, [calls] = adjusted_week(
        ("calls",), {"calls": {(): [D(400), D(400), D(400), D(1800), ZERO, ZERO, ZERO]}}
    )

    assert [(line.quantity, line.amount) for line in lines] == [(D(3000), D("1.50"))]
    assert amounts(calls) == [ZERO, D("0.50"), ZERO, D("1.00"), ZERO, ZERO, ZERO]


def test_volume_flat_amount_is_spread_like_the_rest_of_the_line() -> None:
    # No free units: 3 + 5 + 4 = 12 seats at tier 2 of FLAT volume: 48 + 10.00 = 58.00 →
    # 3/12 = 14.50, 5/12 = 24.1666..., 4/12 = 19.3333...: the spare cent to Wednesday.
    flat_seats = catalog(
        meters=[meter(key="seats", aggregation=SUM)],
        products=[product(key="seats", price=ADJUSTED.products["seats"].price)],
    )
    series: Series = {"seats": {(): [D(3), ZERO, D(5), D(4), ZERO, ZERO, ZERO]}}
    lines = rate_period(
        catalog=flat_seats,
        plan=plan(products=("seats",), interval=Interval.WEEK),
        period=WEEK,
        currency="USD",
        usage={"seats": {(): D(12)}},
    )
    [seats] = break_down(lines, catalog=flat_seats, windows=WEEK_DAYS, usage=series, currency="USD")

    assert [line.amount for line in lines] == [D("58.00")]
    assert amounts(seats) == [D("14.50"), ZERO, D("24.17"), D("19.33"), ZERO, ZERO, ZERO]


def test_adjusted_windows_of_an_invoice_add_up_to_its_subtotal() -> None:
    # Egress as above (15.00 + 20.50) and support 70.00 / 7 = 10.00 a day.
    lines, figures = adjusted_week(
        ("egress", "support"),
        {"egress": {(): [D(20), D(20), D(40), D(50), ZERO, D(10), ZERO]}},
    )
    per_day = [sum(day, D(0)) for day in zip(*(amounts(f) for f in figures), strict=True)]

    assert per_day == [
        D("10.00"),
        D("16.00"),
        D("14.00"),
        D("15.00"),
        D("10.00"),
        D("30.50"),
        D("10.00"),
    ]
    assert sum(per_day, D(0)) == sum((line.amount for line in lines), D(0)) == D("105.50")


@st.composite
def adjusted_graduated(draw: st.DrawFn) -> tuple[GraduatedPrice, D]:
    """A graduated price of 1-4 tiers with random flat amounts, and a free quantity."""
    bounds = sorted(
        draw(st.sets(st.integers(min_value=1, max_value=4000), min_size=0, max_size=3).map(list))
    )
    money = st.decimals(min_value=0, max_value=50, places=2, allow_nan=False)
    unit = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False)
    tiers = tuple(
        Tier(
            up_to=None if up_to is None else D(up_to),
            unit_price=draw(unit),
            flat_amount=draw(money),
        )
        for up_to in [*bounds, None]
    )
    free = draw(st.decimals(min_value=0, max_value=5000, places=3, allow_nan=False))
    return GraduatedPrice(tiers=tiers), free


def graduated_total(price: GraduatedPrice, quantity: D, free: D) -> D:
    """Spec 6.1, 6.2 for a whole line: every tier the charged quantity goes above the lower
    bound of adds its units at its unit price and its flat amount."""
    charged = max(D(0), quantity - free)
    total = D(0)
    lower = D(0)
    for tier in price.tiers:
        if charged <= lower:
            break
        upper = charged if tier.up_to is None else min(charged, tier.up_to)
        total += (upper - lower) * tier.unit_price + tier.flat_amount
        lower = tier.up_to if tier.up_to is not None else charged
    return total


@settings(max_examples=200, deadline=None)
@given(priced=adjusted_graduated(), daily=DAILY, currency=st.sampled_from(sorted(MINOR_UNIT)))
def test_graduated_windows_with_flat_amounts_and_free_units_add_up_to_each_line(
    priced: tuple[GraduatedPrice, D], daily: list[D], currency: str
) -> None:
    price, free = priced
    adjusted = catalog(
        meters=[meter(key="egress", aggregation=SUM)],
        products=[product(key="egress", price=price, free_quantity=free)],
    )
    lines = rate_period(
        catalog=adjusted,
        plan=plan(products=("egress",), interval=Interval.WEEK),
        period=WEEK,
        currency=currency,
        usage={"egress": {(): sum(daily, D(0))}},
    )

    figures = break_down(
        lines, catalog=adjusted, windows=WEEK_DAYS, usage={"egress": {(): daily}}, currency=currency
    )

    assert [sum((f.exact for f in line), D(0)) for line in figures] == [
        line.exact for line in lines
    ]
    # The lines themselves against the rule written out once more, tier by tier.
    assert sum((line.exact for line in lines), D(0)) == graduated_total(
        price, sum(daily, D(0)), free
    )
    assert sum((line.quantity for line in lines), D(0)) == sum(daily, D(0))
    assert [sum(amounts(f), D(0)) for f in figures] == [line.amount for line in lines]
    assert [sum(quantities(f), D(0)) for f in figures] == [line.quantity for line in lines]


def test_the_changes_scenario_egress_week_uses_up_the_free_gb_first() -> None:
    # nimbus eu-west, 1-7 February 2026 (changes/ expected breakdown), as a week of its own:
    # 50 free GB, tier 1 at 0.09 + 5.00. Cumulative after five days 46.4348059: all free.
    # Day 6 reaches 55.76646224: 5.76646224 x 0.09 + 5.00 = 5.5189816016; day 7
    # 9.484183442 x 0.09 = 0.85357650978. The line: 15.250645682 x 0.09 + 5.00 =
    # 6.37255811138 → 6.37; floors 5.51 + 0.85, the spare cent to day 6 (0.898 of a cent
    # against 0.358).
    egress = catalog(
        meters=[meter(key="egress", aggregation=SUM, group_by=("region",))],
        products=[
            product(
                key="egress",
                name="Egress (GB)",
                free_quantity=D(50),
                price=GraduatedPrice(
                    tiers=(
                        Tier(up_to=D(500), unit_price=D("0.09"), flat_amount=D("5.00")),
                        Tier(up_to=D(2000), unit_price=D("0.07"), flat_amount=D("20.00")),
                        Tier(up_to=None, unit_price=D("0.05")),
                    )
                ),
            )
        ],
    )
    daily = [
        D(text)
        for text in [
            "8.427041887",
            "12.023820764",
            "6.360718175",
            "10.068552467",
            "9.554672607",
            "9.33165634",
            "9.484183442",
        ]
    ]
    lines = rate_period(
        catalog=egress,
        plan=plan(products=("egress",), interval=Interval.WEEK),
        period=WEEK,
        currency="USD",
        usage={"egress": {("eu-west",): sum(daily, D(0))}},
    )

    [figures] = break_down(
        lines,
        catalog=egress,
        windows=WEEK_DAYS,
        usage={"egress": {("eu-west",): daily}},
        currency="USD",
    )

    assert [(line.name, line.quantity, line.amount) for line in lines] == [
        ("Egress (GB) - Tier 1", D("65.250645682"), D("6.37"))
    ]
    assert [f.exact for f in figures][5:] == [D("5.51898160160"), D("0.85357650978")]
    assert amounts(figures) == [ZERO] * 5 + [D("5.52"), D("0.85")]
    assert quantities(figures) == daily
