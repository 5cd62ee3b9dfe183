"""A period's usage → invoice lines, rounding once per line, and late-usage corrections.

Spec 4.2 to 4.5 and 4.7.
"""

from datetime import datetime
from decimal import Decimal as D

import pytest

from meterbill.core.aggregation import GroupKey
from meterbill.core.catalog import (
    Aggregation,
    CreditKind,
    FlatPrice,
    GraduatedPrice,
    PerUnitPrice,
    Tier,
)
from meterbill.core.errors import Unrepresentable
from meterbill.core.periods import Span
from meterbill.core.rating import Line, corrections, rate_period, totals
from tests.builders import at, catalog, grant, meter, plan, product

JANUARY = Span(at("2026-01-01"), at("2026-02-01"))
# A subscription that starts on January 17th: 15 of January's 31 days.
LATE_JANUARY = Span(at("2026-01-17"), at("2026-02-01"))

GIB = product(
    key="gib",
    name="GiB written",
    meter="bytes",
    description="GiB written -- {cluster_id}",
    price=GraduatedPrice(
        tiers=(
            Tier(up_to=D(100), unit_price=D("0.10")),
            Tier(up_to=D(1_000), unit_price=D("0.05")),
            Tier(up_to=None, unit_price=D("0.01")),
        )
    ),
)
CALLS = product(
    key="calls",
    name="API calls",
    meter="calls",
    price=GraduatedPrice(tiers=(Tier(up_to=None, unit_price=D("0.002")),)),
)
TINY = product(
    key="tiny",
    name="Tiny",
    meter="tiny",
    price=PerUnitPrice(unit_price=D("0.005")),
)
SUPPORT = product(
    key="support",
    name="Support - Business Plan",
    line_item_type="support",
    price=FlatPrice(amount=D("500.00")),
)
PLATFORM = product(
    key="platform",
    name="Platform fee",
    price=FlatPrice(amount=D("500.00"), prorate=True),
)

CATALOG = catalog(
    meters=[
        meter(key="bytes", aggregation=Aggregation.SUM, group_by=("cluster_id",)),
        meter(key="calls", aggregation=Aggregation.COUNT),
        meter(key="tiny", aggregation=Aggregation.SUM, group_by=("region",)),
    ],
    products=[GIB, CALLS, TINY, SUPPORT, PLATFORM],
)

BYOC = plan(key="byoc", products=("gib", "support"))
MINIMUM = plan(key="minimum", products=("gib",), minimum=D("100.00"))
PRORATED = plan(key="prorated", products=("platform",))

Usage = dict[str, dict[GroupKey, D]]


def rate(
    usage: Usage,
    *,
    plan_: str = "byoc",
    period: Span = JANUARY,
    currency: str = "USD",
) -> list[Line]:
    plans = {p.key: p for p in (BYOC, MINIMUM, PRORATED)}
    return rate_period(
        catalog=CATALOG, plan=plans[plan_], period=period, currency=currency, usage=usage
    )


def summary(lines: list[Line]) -> list[tuple[str, str, D, D]]:
    """Name, type, quantity and rounded amount of each line, in order."""
    return [(line.name, line.type, line.quantity, line.amount) for line in lines]


def test_graduated_product_in_two_groups_and_a_flat_fee() -> None:
    lines = rate({"gib": {("c2",): D(40), ("c1",): D(150)}})

    assert [
        (line.name, line.group, line.tier, line.quantity, line.unit_price, line.amount)
        for line in lines
    ] == [
        ("GiB written - Tier 1", (("cluster_id", "c1"),), 1, D(100), D("0.10"), D("10.00")),
        ("GiB written - Tier 2", (("cluster_id", "c1"),), 2, D(50), D("0.05"), D("2.50")),
        ("GiB written - Tier 1", (("cluster_id", "c2"),), 1, D(40), D("0.10"), D("4.00")),
        ("Support - Business Plan", (), None, D(1), None, D("500.00")),
    ]


def test_usage_lines_carry_type_and_description() -> None:
    lines = rate({"gib": {("c1",): D(40)}})

    assert [(line.type, line.description) for line in lines] == [
        ("usage", "GiB written -- c1"),
        ("support", None),
    ]


def test_zero_quantity_shows_one_tier_1_line_of_zero() -> None:
    assert summary(rate({"gib": {("c1",): D(0)}})) == [
        ("GiB written - Tier 1", "usage", D(0), D("0.00")),
        ("Support - Business Plan", "support", D(1), D("500.00")),
    ]


def test_a_product_without_usage_has_no_line() -> None:
    assert summary(rate({})) == [("Support - Business Plan", "support", D(1), D("500.00"))]


def test_a_single_tier_product_has_no_tier_suffix() -> None:
    single = plan(key="single", products=("calls",))
    lines = rate_period(
        catalog=CATALOG,
        plan=single,
        period=JANUARY,
        currency="USD",
        usage={"calls": {(): D(1_234)}},
    )

    assert [(line.name, line.tier, line.amount) for line in lines] == [
        ("API calls", 1, D("2.47"))  # 1,234 × 0.002 = 2.468
    ]


@pytest.mark.parametrize(
    ("plan_", "period", "amount", "exact_to_12_places"),
    [
        pytest.param(
            "prorated",
            LATE_JANUARY,
            D("241.94"),
            D("241.935483870968"),
            id="prorated: 500.00 x 15/31",
        ),
        pytest.param(
            "prorated",
            Span(at("2026-03-01"), at("2026-03-10")),
            D("145.16"),
            D("145.161290322581"),
            id="prorated last period: 500.00 x 9/31",
        ),
        pytest.param(
            "prorated",
            JANUARY,
            D("500.00"),
            D("500.000000000000"),
            id="prorated full period pays the amount",
        ),
    ],
)
def test_prorated_flat_fee(plan_: str, period: Span, amount: D, exact_to_12_places: D) -> None:
    [line] = rate({}, plan_=plan_, period=period)

    assert (line.quantity, line.amount) == (D(1), amount)
    assert line.exact.quantize(D("1e-12")) == exact_to_12_places


def test_unprorated_flat_fee_pays_in_full_on_a_partial_period() -> None:
    assert summary(rate({}, period=LATE_JANUARY)) == [
        ("Support - Business Plan", "support", D(1), D("500.00"))
    ]


@pytest.mark.parametrize(
    ("period", "quantity", "lines"),
    [
        pytest.param(
            JANUARY,
            D(40),
            [
                ("GiB written - Tier 1", "usage", D(40), D("4.00")),
                ("Minimum spend true-up", "minimum", D(1), D("96.00")),
            ],
            id="100.00 minimum, 4.00 spent",
        ),
        pytest.param(
            LATE_JANUARY,
            D(40),
            [
                ("GiB written - Tier 1", "usage", D(40), D("4.00")),
                # 100.00 x 15/31 = 48.387096774..., less 4.00 = 44.387096774...
                ("Minimum spend true-up", "minimum", D(1), D("44.39")),
            ],
            id="prorated minimum on 15 of 31 days",
        ),
        pytest.param(
            JANUARY,
            D(5_500),
            [
                ("GiB written - Tier 1", "usage", D(100), D("10.00")),
                ("GiB written - Tier 2", "usage", D(900), D("45.00")),
                ("GiB written - Tier 3", "usage", D(4_500), D("45.00")),
            ],
            id="minimum met exactly: no true-up",
        ),
    ],
)
def test_minimum_spend(period: Span, quantity: D, lines: list[tuple[str, str, D, D]]) -> None:
    assert summary(rate({"gib": {("c1",): quantity}}, plan_="minimum", period=period)) == lines


def test_line_order_plan_products_then_minimum_then_purchases() -> None:
    ordered = plan(key="ordered", products=("support", "gib"), minimum=D("1000.00"))
    topup = grant(
        key="topup-1",
        kind=CreditKind.PREPAID,
        amount=D("250.00"),
        price=D("200.00"),
        starts_at=at("2026-01-15"),
    )
    gift = grant(key="gift", kind=CreditKind.PREPAID, amount=D("50.00"), starts_at=at("2026-01-20"))

    lines = rate_period(
        catalog=CATALOG,
        plan=ordered,
        period=JANUARY,
        currency="USD",
        usage={"gib": {("c1",): D(10)}},
        purchases=[topup, gift],
    )

    assert [(line.key, line.name, line.type, line.quantity, line.amount) for line in lines] == [
        ('["support",[],null]', "Support - Business Plan", "support", D(1), D("500.00")),
        ('["gib",["c1"],1]', "GiB written - Tier 1", "usage", D(10), D("1.00")),
        # The purchases do not count towards the minimum: 1000.00 - 501.00.
        ("minimum", "Minimum spend true-up", "minimum", D(1), D("499.00")),
        (
            "prepaid_credit_purchase:topup-1",
            "Prepaid credit purchase",
            "prepaid_credit_purchase",
            D(1),
            D("200.00"),
        ),
        (
            "prepaid_credit_purchase:gift",
            "Prepaid credit purchase",
            "prepaid_credit_purchase",
            D(1),
            D("50.00"),
        ),
    ]


def test_each_line_is_rounded_once_and_the_subtotal_adds_rounded_lines() -> None:
    only_tiny = plan(key="tiny", products=("tiny",))
    lines = rate_period(
        catalog=CATALOG,
        plan=only_tiny,
        period=JANUARY,
        currency="USD",
        usage={"tiny": {("eu",): D(1), ("us",): D(1)}},
    )

    # Each line is 0.005 exactly and 0.01 rounded; the unrounded sum would round to 0.01.
    assert [(line.exact, line.amount) for line in lines] == [
        (D("0.005"), D("0.01")),
        (D("0.005"), D("0.01")),
    ]
    assert totals(lines, grants=(), balances={}, period=JANUARY).subtotal == D("0.02")


def test_tier_lines_are_rounded_separately() -> None:
    # 100 x 0.10 + 0.5 x 0.05 + 0 = 10.00 and 0.025 → 0.03 (half up).
    lines = rate({"gib": {("c1",): D("100.5")}}, plan_="minimum")

    assert [(line.name, line.exact, line.amount) for line in lines] == [
        ("GiB written - Tier 1", D("10.0"), D("10.00")),
        ("GiB written - Tier 2", D("0.025"), D("0.03")),
        ("Minimum spend true-up", D("89.97"), D("89.97")),
    ]


def test_yen_lines_round_to_whole_yen() -> None:
    # 25 x 0.10 = 2.5 → 3 yen; the flat fee 500.00 stays 500.
    assert summary(rate({"gib": {("c1",): D(25)}}, currency="JPY")) == [
        ("GiB written - Tier 1", "usage", D(25), D(3)),
        ("Support - Business Plan", "support", D(1), D(500)),
    ]


# Corrections: January was issued with these lines; late events then change the usage.


def late(name: str) -> str:
    return f"{name} (late usage, 2026-01-01)"


def corrected(lines: list[Line]) -> list[tuple[str, GroupKey, D, D, datetime | None]]:
    return [
        (line.name, tuple(v for _, v in line.group), line.quantity, line.amount, line.corrects)
        for line in lines
    ]


JAN_1 = at("2026-01-01")


def test_late_usage_bills_only_the_difference() -> None:
    billed = rate({"gib": {("c1",): D(150)}})
    rerated = rate({"gib": {("c1",): D(170)}})

    assert corrected(corrections(period=JANUARY, rerated=rerated, billed=billed)) == [
        (late("GiB written - Tier 2"), ("c1",), D(20), D("1.00"), JAN_1)
    ]


def test_late_usage_crossing_a_bound_corrects_both_tiers() -> None:
    # Billed 80 (Tier 1: 8.00); now 130 = 100 in Tier 1 (10.00) + 30 in Tier 2 (1.50).
    billed = rate({"gib": {("c1",): D(80)}})
    rerated = rate({"gib": {("c1",): D(130)}})

    assert corrected(corrections(period=JANUARY, rerated=rerated, billed=billed)) == [
        (late("GiB written - Tier 1"), ("c1",), D(20), D("2.00"), JAN_1),
        (late("GiB written - Tier 2"), ("c1",), D(30), D("1.50"), JAN_1),
    ]


def test_a_lower_rerating_corrects_with_negative_lines() -> None:
    # A latest-value meter can fall: billed 150 (10.00 + 2.50), now 90 (9.00 only).
    billed = rate({"gib": {("c1",): D(150)}})
    rerated = rate({"gib": {("c1",): D(90)}})

    assert corrected(corrections(period=JANUARY, rerated=rerated, billed=billed)) == [
        (late("GiB written - Tier 1"), ("c1",), D(-10), D("-1.00"), JAN_1),
        (late("GiB written - Tier 2"), ("c1",), D(-50), D("-2.50"), JAN_1),
    ]


def test_a_group_seen_only_late_gets_a_correction_line() -> None:
    billed = rate({"gib": {("c1",): D(50)}})
    rerated = rate({"gib": {("c1",): D(50), ("c3",): D(7)}})

    assert corrected(corrections(period=JANUARY, rerated=rerated, billed=billed)) == [
        (late("GiB written - Tier 1"), ("c3",), D(7), D("0.70"), JAN_1)
    ]


def test_no_difference_no_correction() -> None:
    billed = rate({"gib": {("c1",): D(150)}})

    assert (
        corrections(period=JANUARY, rerated=rate({"gib": {("c1",): D(150)}}), billed=billed) == []
    )


def test_earlier_corrections_count_as_billed() -> None:
    billed = rate({"gib": {("c1",): D(80)}})
    first = corrections(period=JANUARY, rerated=rate({"gib": {("c1",): D(130)}}), billed=billed)
    rerated = rate({"gib": {("c1",): D(140)}})

    assert corrected(corrections(period=JANUARY, rerated=rerated, billed=billed + first)) == [
        (late("GiB written - Tier 2"), ("c1",), D(10), D("0.50"), JAN_1)
    ]


def test_late_usage_shrinks_the_minimum_true_up() -> None:
    # Billed 4.00 + true-up 96.00; now 6.00 + 94.00: the invoice total does not move.
    billed = rate({"gib": {("c1",): D(40)}}, plan_="minimum")
    rerated = rate({"gib": {("c1",): D(60)}}, plan_="minimum")

    assert corrected(corrections(period=JANUARY, rerated=rerated, billed=billed)) == [
        (late("GiB written - Tier 1"), ("c1",), D(20), D("2.00"), JAN_1),
        (late("Minimum spend true-up"), (), D(0), D("-2.00"), JAN_1),
    ]


def test_purchases_are_never_corrected() -> None:
    topup = grant(
        key="topup", kind=CreditKind.PREPAID, amount=D("250.00"), starts_at=at("2026-01-15")
    )
    billed = rate_period(
        catalog=CATALOG, plan=BYOC, period=JANUARY, currency="USD", usage={}, purchases=[topup]
    )

    assert corrections(period=JANUARY, rerated=rate({}), billed=billed) == []


def test_a_correction_line_keeps_the_key_and_holds_the_exact_difference() -> None:
    billed = rate({"gib": {("c1",): D(150)}})
    [line] = corrections(period=JANUARY, rerated=rate({"gib": {("c1",): D(171)}}), billed=billed)

    # 71 x 0.05 = 3.55 billed now, 2.50 before: the rounded amounts differ by 1.05.
    assert (line.key, line.tier, line.exact, line.amount) == (
        '["gib",["c1"],2]',
        2,
        D("1.05"),
        D("1.05"),
    )


def test_a_line_that_cannot_be_stored_names_its_product() -> None:
    # 10^30 GiB at 0.01 (the top tier), and a flat fee of 10^25: neither fits in cents.
    with pytest.raises(Unrepresentable, match=r"^product 'gib': amount "):
        rate({"gib": {("c1",): D("999999999999999999999999999999")}})
    huge = product(key="huge", name="Huge", price=FlatPrice(amount=D("1e25")))
    with pytest.raises(Unrepresentable, match=r"^product 'huge': amount 1E"):
        rate_period(
            catalog=catalog(products=[huge]),
            plan=plan(key="p", products=("huge",)),
            period=JANUARY,
            currency="USD",
            usage={},
        )


# Spec 6.1, 6.2: the changes/ scenario's egress (GB), graduated with tier flat amounts and
# 50 free GB per region and period.
EGRESS = product(
    key="egress",
    name="Egress (GB)",
    meter="egress",
    free_quantity=D(50),
    price=GraduatedPrice(
        tiers=(
            Tier(up_to=D(500), unit_price=D("0.09"), flat_amount=D("5.00")),
            Tier(up_to=D(2_000), unit_price=D("0.07"), flat_amount=D("20.00")),
            Tier(up_to=None, unit_price=D("0.05")),
        )
    ),
)
EGRESS_CATALOG = catalog(
    meters=[meter(key="egress", aggregation=Aggregation.SUM, group_by=("region",))],
    products=[EGRESS],
)


def rate_egress(usage: dict[GroupKey, D]) -> list[Line]:
    return rate_period(
        catalog=EGRESS_CATALOG,
        plan=plan(products=("egress",)),
        period=JANUARY,
        currency="USD",
        usage={"egress": usage},
    )


@pytest.mark.parametrize(
    ("quantity", "lines"),
    [
        pytest.param(
            "5.02589055",
            [("Egress (GB) - Tier 1", D("5.02589055"), D("0.09"), D(0))],
            id="wholly free: one Tier 1 of 0, no flat amount",
        ),
        pytest.param(
            "282.544842509",
            # 232.544842509 x 0.09 = 20.92903582581 + 5.00 = 25.92903582581 → 25.93
            [("Egress (GB) - Tier 1", D("282.544842509"), D("0.09"), D("25.93"))],
            id="free units on Tier 1 with its flat amount",
        ),
        pytest.param(
            "550",
            # 500 x 0.09 + 5.00 = 50.00; the tier 2 bound is reached, not entered.
            [("Egress (GB) - Tier 1", D(550), D("0.09"), D("50.00"))],
            id="exactly the tier 1 bound after the free units",
        ),
        pytest.param(
            "845.233374644",
            # Tier 2: 295.233374644 x 0.07 = 20.66633622508 + 20.00 → 40.67
            [
                ("Egress (GB) - Tier 1", D(550), D("0.09"), D("50.00")),
                ("Egress (GB) - Tier 2", D("295.233374644"), D("0.07"), D("40.67")),
            ],
            id="across a bound: each tier its flat amount",
        ),
    ],
)
def test_free_quantity_and_flat_amounts_on_lines(
    quantity: str, lines: list[tuple[str, D, D, D]]
) -> None:
    rated = rate_egress({("ap-south",): D(quantity)})

    assert [(line.name, line.quantity, line.unit_price, line.amount) for line in rated] == lines


def test_free_quantity_is_per_group() -> None:
    # 40 GB in eu-west and 40 in us-east: each region has its own 50 free GB.
    lines = rate_egress({("eu-west",): D(40), ("us-east",): D(40)})

    assert summary(lines) == [
        ("Egress (GB) - Tier 1", "usage", D(40), D(0)),
        ("Egress (GB) - Tier 1", "usage", D(40), D(0)),
    ]


def test_late_usage_with_free_units_and_flat_amounts_bills_the_difference() -> None:
    # The changes/ scenario's January: eu-west 282.544842509 GB billed 25.93, late
    # 30.649151163 GB → 313.193993672: 263.193993672 x 0.09 + 5.00 = 28.68745943048 →
    # 28.69, so +2.76. us-east billed 550 (50.00) + 196.621147641 (13.76363033487 + 20.00 →
    # 33.76); late 90.682440159 GB all in Tier 2 → 287.3035878 x 0.07 + 20.00 =
    # 40.111251146 → 40.11, so +6.35 on Tier 2 only (Tier 1 and its flat amount unchanged).
    billed = rate_egress({("eu-west",): D("282.544842509"), ("us-east",): D("746.621147641")})
    rerated = rate_egress({("eu-west",): D("313.193993672"), ("us-east",): D("837.3035878")})

    assert corrected(corrections(period=JANUARY, rerated=rerated, billed=billed)) == [
        (late("Egress (GB) - Tier 1"), ("eu-west",), D("30.649151163"), D("2.76"), JAN_1),
        (late("Egress (GB) - Tier 2"), ("us-east",), D("90.682440159"), D("6.35"), JAN_1),
    ]


def test_free_quantity_is_not_prorated_on_a_partial_period() -> None:
    # A subscription from 17 January (15 of 31 days) still has all 50 free GB:
    # 282.544842509 - 50 = 232.544842509 x 0.09 + 5.00 → 25.93, as for the whole month.
    lines = rate_period(
        catalog=EGRESS_CATALOG,
        plan=plan(products=("egress",)),
        period=LATE_JANUARY,
        currency="USD",
        usage={"egress": {("eu-west",): D("282.544842509")}},
    )

    assert summary(lines) == [("Egress (GB) - Tier 1", "usage", D("282.544842509"), D("25.93"))]
