"""Properties of invoice adjustments (spec 6), through the pure core: product minimum and
maximum, discounts and taxes on random usage.

- the breakdown windows add up to each line and to subtotal + tax;
- an invoice never goes below zero, whatever the discounts, credits and corrections;
- applying the same discount to more lines never raises the total.
"""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from meterbill.core.adjustments import is_taxable
from meterbill.core.breakdown import break_down
from meterbill.core.catalog import (
    Aggregation,
    Catalog,
    Customer,
    Discount,
    FlatPrice,
    Interval,
    PerUnitPrice,
    Settings,
    Tax,
)
from meterbill.core.invoicing import PeriodRef, draft_invoices
from meterbill.core.periods import Span, WindowSize, windows
from meterbill.core.rating import Line
from tests.builders import at, catalog, customer, grant, meter, plan, product, subscription

D = Decimal
# A week plan: seven day windows keep every example fast.
WEEK = Span(at("2026-01-05"), at("2026-01-12"))
DAYS = list(windows(WEEK, WindowSize.DAY))

money = st.decimals(min_value=0, max_value=500, places=2)
quantity = st.decimals(min_value=0, max_value=200, places=3)
optional_money = st.none() | money


@st.composite
def catalogs(draw: st.DrawFn) -> Catalog:
    unit_price = D(draw(st.sampled_from(["0.37", "1", "0.001"])))
    a = replace(
        product(key="a", name="A", price=PerUnitPrice(unit_price=unit_price)),
        minimum=draw(optional_money),
        maximum=draw(optional_money),
        tax_exempt=draw(st.booleans()),
    )
    b = replace(
        product(key="b", name="B", price=PerUnitPrice(unit_price=D("0.25"))),
        maximum=draw(optional_money),
        tax_exempt=draw(st.booleans()),
    )
    flat = replace(
        product(key="s", name="S", price=FlatPrice(amount=draw(money))),
        tax_exempt=draw(st.booleans()),
    )
    if a.minimum is not None and a.maximum is not None and a.maximum < a.minimum:
        a = replace(a, maximum=a.minimum)
    rates = draw(st.lists(st.sampled_from(["0.20", "0.055", "0", "0.1"]), max_size=2))
    taxes = tuple(Tax(f"t{i}", f"Tax {i}", D(rate)) for i, rate in enumerate(rates))
    return replace(
        catalog(
            meters=[meter(key=k, aggregation=Aggregation.SUM) for k in ("a", "b")],
            products=[a, b, flat],
            plans=[
                plan(
                    key="weekly",
                    products=("a", "b", "s"),
                    interval=Interval.WEEK,
                    minimum=draw(optional_money),
                )
            ],
        ),
        settings=Settings(taxes=taxes),
    )


@st.composite
def discount_lists(draw: st.DrawFn) -> tuple[Discount, ...]:
    found: list[Discount] = []
    for index in range(draw(st.integers(min_value=0, max_value=3))):
        scoped = draw(st.sampled_from([(), ("a",), ("b",), ("a", "s")]))
        if draw(st.booleans()):
            value = {"percent": draw(st.decimals(min_value=0, max_value=100, places=1))}
        else:
            value = {"amount": draw(money)}
        found.append(
            Discount(key=f"d{index}", starts_at=WEEK.start, products=scoped, **value)  # type: ignore[arg-type]
        )
    return tuple(found)


series = st.lists(quantity, min_size=len(DAYS), max_size=len(DAYS))


def draft(
    cat: Catalog,
    discounts: tuple[Discount, ...],
    usage: dict[str, list[Decimal]],
    *,
    credit: Decimal = D(0),
    corrections: tuple[Line, ...] = (),
) -> tuple[Customer, list[Line], tuple[Decimal, Decimal, Decimal]]:
    buyer = replace(
        customer(
            subscriptions=(subscription(plan="weekly", starts_at=WEEK.start),),
            credits=(grant(key="c", amount=credit, starts_at=WEEK.start),) if credit else (),
        ),
        discounts=discounts,
        taxes=tuple(tax.key for tax in cat.settings.taxes),
    )
    ref = PeriodRef(WEEK, "weekly")
    earlier = Span(WEEK.start - timedelta(days=7), WEEK.start)
    [result] = draft_invoices(
        customer=buyer,
        catalog=cat,
        drafts=[ref],
        all_periods=[ref],
        usage={ref: {key: {(): sum(values, D(0))} for key, values in usage.items()}},
        used={},
        corrections={PeriodRef(earlier, "weekly"): list(corrections)} if corrections else {},
    )
    t = result.totals
    return buyer, list(result.lines), (t.subtotal, t.tax, t.total)


@settings(max_examples=150, deadline=None)
@given(catalogs(), discount_lists(), series, series)
def test_windows_add_up_to_each_line_and_to_subtotal_plus_tax(
    cat: Catalog, discounts: tuple[Discount, ...], a: list[Decimal], b: list[Decimal]
) -> None:
    buyer, lines, (subtotal, tax, _) = draft(cat, discounts, {"a": a, "b": b})
    scoped = {d.key: d.products for d in buyer.discounts}
    cut = break_down(
        lines,
        catalog=cat,
        windows=DAYS,
        usage={"a": {(): a}, "b": {(): b}},
        currency="USD",
        taxable=lambda line: is_taxable(line, catalog=cat, discount_products=scoped),
    )
    for line, figures in zip(lines, cut, strict=True):
        assert sum((figure.amount for figure in figures), D(0)) == line.amount
    assert sum((f.amount for figures in cut for f in figures), D(0)) == subtotal + tax


@settings(max_examples=150, deadline=None)
@given(
    catalogs(),
    discount_lists(),
    series,
    series,
    money,
    st.lists(st.decimals(min_value=-300, max_value=300, places=2), max_size=2),
)
def test_an_invoice_never_goes_below_zero(
    cat: Catalog,
    discounts: tuple[Discount, ...],
    a: list[Decimal],
    b: list[Decimal],
    credit: Decimal,
    corrected: list[Decimal],
) -> None:
    earlier = WEEK.start - timedelta(days=7)
    corrections = tuple(
        Line(
            key=f"late{i}",
            name="A (late usage)",
            product="a",
            type="usage",
            group=(),
            quantity=D(1),
            unit_price=None,
            exact=amount,
            amount=amount,
            corrects=earlier,
        )
        for i, amount in enumerate(corrected)
    )
    _, lines, (subtotal, tax, total) = draft(
        cat, discounts, {"a": a, "b": b}, credit=credit, corrections=corrections
    )
    assert 0 <= total <= max(subtotal + tax, D(0))
    # The period's own lines, discounts included, never go below zero either.
    own = [line for line in lines if line.corrects is None and line.type != "tax"]
    assert sum((line.amount for line in own), D(0)) >= 0
    assert all(line.amount <= 0 for line in lines if line.type == "discount")


@settings(max_examples=150, deadline=None)
@given(
    catalogs(),
    series,
    series,
    st.decimals(min_value=0, max_value=100, places=1) | money,
    st.booleans(),
    st.sampled_from([("a",), ("b",), ("s",)]),
    st.sampled_from(["b", "s"]),
)
def test_a_discount_on_more_lines_never_raises_the_total(
    cat: Catalog,
    a: list[Decimal],
    b: list[Decimal],
    value: Decimal,
    percent: bool,
    fewer: tuple[str, ...],
    extra: str,
) -> None:
    kind = "percent" if percent else "amount"
    if percent and value > 100:
        value = D(100)

    def total(products: tuple[str, ...]) -> Decimal:
        offer = Discount(key="d", starts_at=WEEK.start, products=products, **{kind: value})  # type: ignore[arg-type]
        return draft(cat, (offer,), {"a": a, "b": b})[2][2]

    more = tuple(dict.fromkeys((*fewer, extra)))
    assert total(more) <= total(fewer)
    # All lines (no products) is the widest scope.
    assert total(()) <= total(more)
