"""Invoice adjustments (spec 6.3-6.5, 6.7): product minimum and maximum, discounts, taxes,
and their order on an invoice. Every expectation is computed by hand in the comments."""

import itertools
from dataclasses import replace
from decimal import Decimal as D

import pytest

from meterbill.core.adjustments import (
    LINE_DISCOUNT,
    LINE_MAXIMUM,
    LINE_TAX,
    discount_lines,
    is_taxable,
    product_bounds,
    tax_lines,
)
from meterbill.core.breakdown import break_down
from meterbill.core.catalog import (
    Aggregation,
    Discount,
    FlatPrice,
    PerUnitPrice,
    Settings,
    Tax,
)
from meterbill.core.invoicing import PeriodRef, draft_invoices, period_discounts
from meterbill.core.periods import Span
from meterbill.core.rating import LINE_MINIMUM, Line, corrections, rate_period, totals
from tests.builders import at, catalog, customer, grant, meter, plan, product, subscription

JANUARY = Span(at("2026-01-01"), at("2026-02-01"))
# 15 of January's 31 days.
LATE_JANUARY = Span(at("2026-01-17"), at("2026-02-01"))

COMPUTE = replace(
    product(key="compute", name="Compute hours", price=PerUnitPrice(unit_price=D("0.40"))),
    maximum=D("600.00"),
)
EGRESS = product(key="egress", name="Egress", price=PerUnitPrice(unit_price=D("0.10")))
COMMIT = replace(
    product(key="commit", name="Commit", price=PerUnitPrice(unit_price=D("1"))),
    minimum=D("100.00"),
)
SUPPORT = replace(
    product(key="support", name="Support", line_item_type="support", price=FlatPrice(D("150"))),
    tax_exempt=True,
)
VAT = Tax(key="vat20", name="VAT 20%", rate=D("0.20"))
CATALOG = replace(
    catalog(
        meters=[
            meter(key=key, aggregation=Aggregation.SUM) for key in ("compute", "egress", "commit")
        ],
        products=[COMPUTE, EGRESS, COMMIT, SUPPORT],
        plans=[
            plan(key="growth", products=("egress", "compute", "support")),
            plan(key="commit", products=("commit",)),
            plan(key="floor", products=("compute",), minimum=D("700.00")),
        ],
    ),
    settings=Settings(taxes=(VAT,)),
)


def rate(
    plan_key: str,
    usage: dict[str, D],
    *,
    period: Span = JANUARY,
    discounts: tuple[Discount, ...] = (),
) -> list[Line]:
    return rate_period(
        catalog=CATALOG,
        plan=CATALOG.plans[plan_key],
        period=period,
        currency="USD",
        usage={key: {(): quantity} for key, quantity in usage.items()},
        discounts=discounts,
    )


def figures(lines: list[Line]) -> list[tuple[str, str, str | None, D, D]]:
    return [(line.name, line.type, line.product, line.quantity, line.amount) for line in lines]


def line(product_key: str | None, amount: str, *, kind: str = "usage", **extra: object) -> Line:
    value = D(amount)
    fields: dict[str, object] = {
        "key": f"{product_key}:{kind}",
        "name": product_key or kind,
        "product": product_key,
        "type": kind,
        "group": (),
        "quantity": D(1),
        "unit_price": None,
        "exact": value,
        "amount": value,
        **extra,
    }
    return Line(**fields)  # type: ignore[arg-type]


def discount(key: str, **fields: object) -> Discount:
    return Discount(key=key, starts_at=at("2026-01-01"), **fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------- product min and max


def test_a_crossed_maximum_takes_the_excess_off() -> None:
    # 2063.91 h × 0.40 = 825.564 → 825.56; maximum 600.00 → −225.56.
    lines = rate("growth", {"compute": D("2063.91")})
    assert figures(lines)[-1] == (
        "Compute hours - maximum",
        LINE_MAXIMUM,
        "compute",
        D(1),
        D("-225.56"),
    )
    assert lines[-1].unit_price is None
    assert sum(line.amount for line in lines) == D("750.00")  # 600 + support 150


def test_a_maximum_not_crossed_has_no_line() -> None:
    # 1500 h × 0.40 = 600.00: not above the maximum.
    assert [line.type for line in rate("growth", {"compute": D("1500")})] == ["usage", "support"]


def test_a_minimum_with_no_line_carries_the_whole_minimum() -> None:
    assert figures(rate("commit", {})) == [
        ("Commit - minimum", LINE_MINIMUM, "commit", D(1), D("100.00"))
    ]


def test_a_minimum_adds_the_difference() -> None:
    # 37.5 × 1 = 37.50; 100.00 − 37.50 = 62.50.
    assert figures(rate("commit", {"commit": D("37.5")}))[-1][-1] == D("62.50")


def test_minimum_and_maximum_are_prorated_for_a_partial_period() -> None:
    # Minimum 100 × 15/31 = 48.3870967…; spent 10.00 → 38.387… → 38.39.
    assert figures(rate("commit", {"commit": D("10")}, period=LATE_JANUARY))[-1][-1] == D("38.39")
    # Maximum 600 × 15/31 = 290.3225806…; 1000 h × 0.40 = 400.00 → −109.677… → −109.68.
    lines = rate("growth", {"compute": D("1000")}, period=LATE_JANUARY)
    assert figures(lines)[2] == (
        "Compute hours - maximum",
        LINE_MAXIMUM,
        "compute",
        D(1),
        D("-109.68"),
    )


def test_the_plan_minimum_compares_usage_with_product_maximum_lines() -> None:
    # 825.56 − 225.56 = 600.00 < 700.00 → true-up 100.00 (without the maximum: no true-up).
    lines = rate("floor", {"compute": D("2063.91")})
    assert figures(lines)[1:] == [
        ("Compute hours - maximum", LINE_MAXIMUM, "compute", D(1), D("-225.56")),
        ("Minimum spend true-up", LINE_MINIMUM, None, D(1), D("100.00")),
    ]


# --------------------------------------------------------------------- discounts

# egress 1096.9 × 0.10 = 109.69, compute 100 h × 0.40 = 40.00, support 150: 299.69 in all.
USAGE = {"egress": D("1096.9"), "compute": D("100")}


def test_a_percent_discount_on_products() -> None:
    # 10 % of 109.69 = 10.969 → −10.97.
    lines = rate(
        "growth", USAGE, discounts=(discount("launch", percent=D("10"), products=("egress",)),)
    )
    assert figures(lines)[-1] == ("Discount launch", LINE_DISCOUNT, None, D(1), D("-10.97"))


def test_percent_discounts_come_first_then_amounts_each_in_key_order() -> None:
    # z_pct: 10 % of 299.69 = 29.969 → −29.97; then a_amount −20.00, b_amount −5.00.
    found = rate(
        "growth",
        USAGE,
        discounts=(
            discount("b_amount", amount=D("5")),
            discount("z_pct", percent=D("10")),
            discount("a_amount", amount=D("20")),
        ),
    )
    assert [(line.name, line.amount) for line in found[-3:]] == [
        ("Discount z_pct", D("-29.97")),
        ("Discount a_amount", D("-20.00")),
        ("Discount b_amount", D("-5.00")),
    ]


def test_an_amount_discount_is_capped_by_what_remains() -> None:
    # 299.69 − 29.97 = 269.72 remains; 1000 is capped to it; then 0 remains → a 0.00 line.
    found = rate(
        "growth",
        USAGE,
        discounts=(
            discount("a_big", amount=D("1000")),
            discount("b_more", amount=D("10")),
            discount("pct", percent=D("10")),
        ),
    )
    assert [line.amount for line in found[-3:]] == [D("-29.97"), D("-269.72"), D("0.00")]
    assert sum(line.amount for line in found) == 0


def test_a_discount_with_products_is_capped_by_those_products() -> None:
    # compute lines 40.00: a 50.00 discount on compute takes 40.00 only.
    found = rate("growth", USAGE, discounts=(discount("c", amount=D("50"), products=("compute",)),))
    assert found[-1].amount == D("-40.00")


def test_a_percent_discount_counts_product_maximum_lines() -> None:
    # compute 825.56 − 225.56 = 600.00; 50 % → −300.00.
    found = rate(
        "growth",
        {"compute": D("2063.91")},
        discounts=(discount("half", percent=D("50"), products=("compute",)),),
    )
    assert found[-1].amount == D("-300.00")


def test_discounts_never_touch_purchases_or_corrections() -> None:
    lines = [
        line("egress", "100.00"),
        line(None, "500.00", kind="prepaid_credit_purchase"),
        line("egress", "40.00", corrects=at("2025-12-01")),
    ]
    assert [
        d.amount for d in discount_lines(lines, [discount("all", percent=D("50"))], currency="USD")
    ] == [D("-50.00")]


@pytest.mark.parametrize(
    ("starts_at", "periods", "applies_to"),
    [
        # Counted from the first period starting at or after starts_at, per subscription.
        ("2026-02-01", 2, ["2026-02-01", "2026-03-01"]),
        # Starting mid-January: January started before it; February is its first period.
        ("2026-01-15", 1, ["2026-02-01"]),
        ("2026-01-01", None, ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]),
    ],
)
def test_discount_periods_count_per_subscription(
    starts_at: str, periods: int | None, applies_to: list[str]
) -> None:
    offer = Discount(key="d", starts_at=at(starts_at), amount=D("1"), periods=periods)
    buyer = replace(
        customer(subscriptions=(subscription(plan="growth", starts_at=at("2026-01-01")),)),
        discounts=(offer,),
    )
    months = ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01"]
    found = [
        start
        for start, end in itertools.pairwise(months)
        if period_discounts(buyer, CATALOG, PeriodRef(Span(at(start), at(end)), "growth"))
    ]
    assert found == applies_to


# --------------------------------------------------------------------- taxes


def tax(lines: list[Line], *, currency: str = "USD", discounts: tuple[Discount, ...] = ()) -> D:
    [found] = tax_lines(lines, [VAT], catalog=CATALOG, discounts=discounts, currency=currency)
    assert (found.type, found.name, found.quantity, found.product) == (
        LINE_TAX,
        "VAT 20%",
        D(1),
        None,
    )
    return found.amount


def test_tax_over_discounts_and_corrections_not_exempt_products() -> None:
    # 109.69 − 10.97 + 6.35 (correction) = 105.07; support (exempt) and the purchase are
    # not taxed; the discount on support only is not taxable. 20 % → 21.014 → 21.01.
    launch = discount("launch", percent=D("10"), products=("egress",))
    care = discount("care", percent=D("10"), products=("support",))
    lines = [
        line("egress", "109.69"),
        line("support", "150.00", kind="support"),
        line(None, "-10.97", kind=LINE_DISCOUNT, key="discount:launch"),
        line(None, "-15.00", kind=LINE_DISCOUNT, key="discount:care"),
        line("egress", "6.35", corrects=at("2025-12-01")),
        line(None, "250.00", kind="prepaid_credit_purchase"),
    ]
    assert tax(lines, discounts=(launch, care)) == D("21.01")


def test_a_negative_taxable_base_gives_a_negative_tax_line() -> None:
    # −30.71 × 0.20 = −6.142 → −6.14.
    assert tax([line("egress", "-30.71", corrects=at("2025-12-01"))]) == D("-6.14")


@pytest.mark.parametrize(("base", "expected"), [("1234", D("247")), ("1232", D("246"))])
def test_yen_tax_rounds_to_whole_yen(base: str, expected: D) -> None:
    # 1234 × 0.20 = 246.8 → 247; 1232 × 0.20 = 246.4 → 246.
    assert tax([line("egress", base)], currency="JPY") == expected


def test_every_tax_of_the_customer_has_its_line_even_at_zero() -> None:
    assert tax([]) == D("0.00")


# --------------------------------------------------------------------- the whole invoice


def nimbus_january() -> list[Line]:
    """The golden scenario's first nimbus invoice (changes/expected.json), from its lines."""
    return [
        line("requests", "274.14"),
        line("egress", "25.93", key="e1"),
        line("egress", "50.00", key="e2"),
        line("egress", "33.76", key="e3"),
        line("compute", "825.56"),
        line("support", "150.00", kind="support"),
    ]


def test_the_golden_nimbus_january_invoice() -> None:
    # compute 825.56 → maximum −225.56; launch 10 % of 25.93 + 50 + 33.76 = 109.69 → −10.97;
    # subtotal 1122.86; VAT 20 % of 1122.86 − 150 (exempt) = 972.86 → 194.572 → 194.57;
    # the 25.00 credit pays the taxed amount: 1122.86 + 194.57 − 25 = 1292.43.
    lines = nimbus_january()
    lines += product_bounds(
        lines, catalog=CATALOG, plan=CATALOG.plans["growth"], fraction=D(1), currency="USD"
    )
    launch = discount("launch", percent=D("10"), products=("egress",))
    lines += discount_lines(lines, [launch], currency="USD")
    lines += tax_lines(lines, [VAT], catalog=CATALOG, discounts=[launch], currency="USD")
    assert [line.amount for line in lines[-3:]] == [D("-225.56"), D("-10.97"), D("194.57")]
    credit = grant(key="free", amount=D("25"), starts_at=at("2026-01-01"))
    figures_ = totals(lines, grants=[credit], balances={"free": D("25")}, period=JANUARY)
    assert (figures_.subtotal, figures_.tax, figures_.credits_applied, figures_.total) == (
        D("1122.86"),
        D("194.57"),
        D("25"),
        D("1292.43"),
    )


def test_credits_pay_the_tax_and_the_total_never_goes_below_zero() -> None:
    lines = [line("egress", "100.00"), line(None, "20.00", kind=LINE_TAX)]
    credit = grant(key="free", amount=D("500"), starts_at=at("2026-01-01"))
    balances = {"free": D("500")}
    figures_ = totals(lines, grants=[credit], balances=balances, period=JANUARY)
    assert (figures_.subtotal, figures_.tax, figures_.credits_applied, figures_.total) == (
        D("100.00"),
        D("20.00"),
        D("120.00"),
        D(0),
    )
    assert balances == {"free": D("380.00")}


def test_drafts_carry_tax_lines_over_their_corrections() -> None:
    # January: egress 1000 × 0.10 = 100.00, VAT 20.00. A December correction of −30.00 goes
    # on it and is taxed there: (100 − 30) × 0.20 = 14.00.
    buyer = replace(
        customer(subscriptions=(subscription(plan="growth", starts_at=at("2026-01-01")),)),
        taxes=("vat20",),
    )
    ref = PeriodRef(JANUARY, "growth")
    december = Span(at("2025-12-01"), at("2026-01-01"))
    [draft] = draft_invoices(
        customer=buyer,
        catalog=CATALOG,
        drafts=[ref],
        all_periods=[ref],
        usage={ref: {"egress": {(): D("1000")}}},
        used={},
        corrections={
            PeriodRef(december, "growth"): [line("egress", "-30.00", corrects=december.start)]
        },
    )
    assert [(line.type, line.amount) for line in draft.lines] == [
        ("usage", D("100.00")),
        ("support", D("150")),
        ("usage", D("-30.00")),
        (LINE_TAX, D("14.00")),
    ]
    assert (draft.totals.subtotal, draft.totals.tax, draft.totals.total) == (
        D("220.00"),
        D("14.00"),
        D("234.00"),
    )


# --------------------------------------------------------------------- corrections


def corrected(rerated: list[Line], billed: list[Line]) -> list[tuple[str, D, D]]:
    found = corrections(period=JANUARY, rerated=rerated, billed=billed)
    return [(line.name, line.quantity, line.amount) for line in found]


def test_adjustment_lines_are_corrected_and_tax_lines_never() -> None:
    launch = discount("launch", percent=D("10"), products=("egress",))
    billed = rate("commit", {"commit": D("40")}) + rate(
        "growth", {"egress": D("1096.9")}, discounts=(launch,)
    )
    billed.append(line(None, "21.94", kind=LINE_TAX, key="tax:vat20"))
    # Late usage: commit 120 (the 60.00 minimum line disappears), egress 1184.4 → 118.44,
    # launch −11.84 (it was −10.97: quantity 0, −0.87).
    rerated = rate("commit", {"commit": D("120")}) + rate(
        "growth", {"egress": D("1184.4")}, discounts=(launch,)
    )
    assert corrected(rerated, billed) == [
        ("Commit (late usage, 2026-01-01)", D(80), D("80.00")),
        ("Commit - minimum (late usage, 2026-01-01)", D(-1), D("-60.00")),
        ("Egress (late usage, 2026-01-01)", D("87.5"), D("8.75")),
        ("Discount launch (late usage, 2026-01-01)", D(0), D("-0.87")),
    ]


# --------------------------------------------------------------------- breakdowns


def test_breakdown_spreads_adjustments_evenly_and_tax_by_taxable_share() -> None:
    # Two day windows. Egress 30 then 10 units × 0.10 = 3.00 and 1.00 (line 4.00); support
    # 150.00 (exempt) and a product maximum −2.00 spread evenly (75.00 / 75.00, −1.00 /
    # −1.00, quantity 0); the discount −0.41 evenly: −0.205 each, floors −0.21 / −0.21,
    # the missing cent to the first (tie) → −0.20 / −0.21. The tax 0.80 follows the taxable
    # amounts 3.00 − 1.00 − 0.20 = 1.80 and 1.00 − 1.00 − 0.21 = −0.21 (support is exempt):
    # exact 0.80 × 1.80 / 1.59 = 0.9056… and 0.80 × −0.21 / 1.59 = −0.1056…; floors 0.90
    # and −0.11, the missing cent to the larger remainder → 0.91 and −0.11.
    days = [Span(at("2026-01-01"), at("2026-01-02")), Span(at("2026-01-02"), at("2026-01-03"))]
    egress = replace(line("egress", "4.00"), quantity=D(40), unit_price=D("0.10"))
    lines = [
        egress,
        line("support", "150.00", kind="support"),
        line("egress", "-2.00", kind=LINE_MAXIMUM),
        line(None, "-0.41", kind=LINE_DISCOUNT, key="discount:all"),
        line(None, "0.80", kind=LINE_TAX),
    ]
    cut = break_down(
        lines,
        catalog=CATALOG,
        windows=days,
        usage={"egress": {(): [D(30), D(10)]}},
        currency="USD",
        taxable=lambda li: is_taxable(li, catalog=CATALOG, discount_products={}),
    )
    assert [[(f.quantity, f.amount) for f in figures] for figures in cut] == [
        [(D(30), D("3.00")), (D(10), D("1.00"))],
        [(D(1), D("75.00")), (D(1), D("75.00"))],
        [(D(0), D("-1.00")), (D(0), D("-1.00"))],
        [(D(1), D("-0.20")), (D(1), D("-0.21"))],
        [(D(0), D("0.91")), (D(0), D("-0.11"))],
    ]
