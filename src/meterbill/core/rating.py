"""A billing period's usage → invoice lines → totals (spec 4.2–4.7).

The pipeline is pure: the caller supplies each usage product's quantity per group, the
grants and their balances; this module returns lines whose amounts are exact and rounded
once, a subtotal that is the sum of the rounded lines, and the credits drawn.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from string import Formatter

from meterbill.core.aggregation import GroupKey
from meterbill.core.catalog import Catalog, CreditGrant, Discount, FlatPrice, Plan, Product
from meterbill.core.credits import CreditUse, balance_after, draw_credits
from meterbill.core.errors import Unrepresentable
from meterbill.core.money import round_money
from meterbill.core.periods import Span, full_period
from meterbill.core.pricing import rate

__all__ = [
    "LINE_MINIMUM",
    "LINE_PURCHASE",
    "Line",
    "Totals",
    "corrections",
    "describe",
    "line_key",
    "rate_period",
    "totals",
]

LINE_MINIMUM = "minimum"
LINE_PURCHASE = "prepaid_credit_purchase"
_LINE_TAX = "tax"  # core.adjustments.LINE_TAX (that module builds on this one)
_ZERO = Decimal(0)
_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Line:
    """One invoice line: exact amount and the amount rounded to the currency's minor unit.

    ``key`` identifies the line across re-ratings of the same period (product, group and
    tier), so late usage can be billed as the difference per line. ``corrects`` is the start
    of the earlier period a correction line bills late usage for and ``corrects_plan`` the
    plan of its subscription: together they name the subscription's period (spec 5.3).
    """

    key: str
    name: str
    product: str | None
    type: str
    group: tuple[tuple[str, str], ...]
    quantity: Decimal
    unit_price: Decimal | None
    exact: Decimal
    amount: Decimal
    description: str | None = None
    tier: int | None = None
    corrects: datetime | None = None
    corrects_plan: str | None = None

    @property
    def group_dict(self) -> dict[str, str]:
        return dict(self.group)


@dataclass(frozen=True, slots=True)
class Totals:
    """``subtotal`` is every line but the tax lines, ``tax`` the tax lines (spec 6.5);
    ``total`` = subtotal + tax − credits_applied, never below zero."""

    subtotal: Decimal
    credits: tuple[CreditUse, ...]
    credits_applied: Decimal
    total: Decimal
    credit_balance_after: Decimal
    tax: Decimal = _ZERO


def line_key(product: str, group: GroupKey, tier: int | None) -> str:
    return json.dumps([product, list(group), tier], separators=(",", ":"))


def describe(product: Product, group: Mapping[str, str]) -> str | None:
    """The product's description template filled with the line's group values."""
    if product.description is None:
        return None
    fields = {
        name: group.get(name, "")
        for _, name, _, _ in Formatter().parse(product.description)
        if name
    }
    return product.description.format(**fields)


def rate_period(
    *,
    catalog: Catalog,
    plan: Plan,
    period: Span,
    currency: str,
    usage: Mapping[str, Mapping[GroupKey, Decimal]],
    purchases: Sequence[CreditGrant] = (),
    anchored_at: datetime | None = None,
    discounts: Sequence[Discount] = (),
) -> list[Line]:
    """Every line of one period: usage and flat products in plan order, then product
    minimum and maximum lines, the plan minimum true-up, the ``discounts`` that apply to
    the period (``core.invoicing.period_discounts``), then prepaid credit purchases
    (spec 6). Taxes come later, once corrections are on the invoice
    (``core.adjustments.tax_lines``).

    ``usage`` maps a usage product's key to its quantity per group (already divided by the
    product's ``quantity_divisor``); a group absent from it has no line. ``anchored_at`` is
    the subscription's ``starts_at`` when the plan is anchored to it
    (``core.invoicing.period_anchor``): a partial period is then prorated against the
    anchored full period, not the calendar one (spec 5.7).
    """
    lines: list[Line] = []
    full = full_period(plan.interval, period, anchored_at=anchored_at)
    fraction = period.seconds / full.seconds
    for key in plan.products:
        product = catalog.products[key]
        try:
            if isinstance(product.price, FlatPrice):
                lines.append(_flat_line(product, product.price, fraction, currency))
                continue
            meter = catalog.meters[product.meter or ""]
            for group in sorted(usage.get(key, {})):
                quantity = usage[key][group]
                lines.extend(_usage_lines(product, meter.group_by, group, quantity, currency))
        except Unrepresentable as error:
            raise error.within(product=key) from None
    # Imported here: core.adjustments builds its lines with this module's Line.
    from meterbill.core.adjustments import discount_lines, product_bounds

    lines.extend(
        product_bounds(lines, catalog=catalog, plan=plan, fraction=fraction, currency=currency)
    )
    if plan.minimum is not None:
        spent = sum((line.amount for line in lines), _ZERO)
        floor = plan.minimum * fraction
        if spent < floor:
            try:
                minimum = _fixed_line(
                    LINE_MINIMUM, "Minimum spend true-up", floor - spent, currency
                )
            except Unrepresentable as error:
                raise error.within(product=f"minimum of plan {plan.key}") from None
            lines.append(minimum)
    lines.extend(discount_lines(lines, discounts, currency=currency))
    for grant in purchases:
        try:
            line = _fixed_line(
                LINE_PURCHASE, "Prepaid credit purchase", grant.purchase_price, currency
            )
        except Unrepresentable as error:
            raise error.within(product=f"prepaid credit purchase {grant.key}") from None
        lines.append(replace(line, key=f"{LINE_PURCHASE}:{grant.key}"))
    return lines


def _usage_lines(
    product: Product,
    dimensions: tuple[str, ...],
    group: GroupKey,
    quantity: Decimal,
    currency: str,
) -> list[Line]:
    values = dict(zip(dimensions, group, strict=True))
    charges = rate(
        product.price, quantity, group=values, product=product.key, free=product.free_quantity
    )
    tiered = any(charge.tier is not None for charge in charges)
    many_tiers = tiered and len(getattr(product.price, "tiers", ())) > 1
    return [
        Line(
            key=line_key(product.key, group, charge.tier if tiered else None),
            name=f"{product.name} - Tier {charge.tier}" if many_tiers else product.name,
            product=product.key,
            type=product.line_item_type,
            group=tuple(values.items()),
            quantity=charge.quantity,
            unit_price=charge.unit_price,
            exact=charge.amount,
            amount=round_money(charge.amount, currency),
            description=describe(product, values),
            tier=charge.tier if tiered else None,
        )
        for charge in charges
    ]


def _flat_line(product: Product, price: FlatPrice, fraction: Decimal, currency: str) -> Line:
    exact = price.amount * fraction if price.prorate else price.amount
    return Line(
        key=line_key(product.key, (), None),
        name=product.name,
        product=product.key,
        type=product.line_item_type,
        group=(),
        quantity=_ONE,
        unit_price=None,
        exact=exact,
        amount=round_money(exact, currency),
        description=product.description,
    )


def _fixed_line(kind: str, name: str, exact: Decimal, currency: str) -> Line:
    return Line(
        key=kind,
        name=name,
        product=None,
        type=kind,
        group=(),
        quantity=_ONE,
        unit_price=None,
        exact=exact,
        amount=round_money(exact, currency),
    )


def corrections(
    *,
    period: Span,
    plan: str | None = None,
    rerated: Iterable[Line],
    billed: Iterable[Line],
) -> list[Line]:
    """Late-usage correction lines for an issued ``period`` of a subscription to ``plan``
    (spec 4.7).

    Each is the difference, per line key, between re-rating the period with all its events
    and everything already billed for it (the issued invoice and earlier corrections).
    Adjustment lines (product minimum and maximum, plan minimum, discounts) are corrected
    like any other line (quantity 0 when the line exists both times, 1 or -1 when it
    appeared or disappeared); tax lines never are (spec 5.7).
    """
    billed_by_key: dict[str, tuple[Decimal, Decimal]] = {}
    for line in billed:
        quantity, amount = billed_by_key.get(line.key, (_ZERO, _ZERO))
        billed_by_key[line.key] = (quantity + line.quantity, amount + line.amount)
    template = {line.key: line for line in billed}
    now_by_key: dict[str, Line] = {line.key: line for line in rerated}
    template.update(now_by_key)
    date = period.start.date().isoformat()
    result: list[Line] = []
    for key, line in template.items():
        if line.type in (LINE_PURCHASE, _LINE_TAX):
            continue
        current = now_by_key.get(key)
        quantity = current.quantity if current else _ZERO
        amount = current.amount if current else _ZERO
        old_quantity, old_amount = billed_by_key.get(key, (_ZERO, _ZERO))
        if quantity == old_quantity and amount == old_amount:
            continue
        base = line.name.split(" (late usage, ")[0]
        result.append(
            replace(
                line,
                name=f"{base} (late usage, {date})",
                quantity=quantity - old_quantity,
                exact=amount - old_amount,
                amount=amount - old_amount,
                corrects=period.start,
                corrects_plan=plan,
            )
        )
    return result


def totals(
    lines: Sequence[Line],
    *,
    grants: Sequence[CreditGrant],
    balances: dict[str, Decimal],
    period: Span,
) -> Totals:
    """Subtotal (all lines but tax lines), tax, credits drawn (updating ``balances``),
    total and the balance left. Credits pay the taxed amount, never a prepaid purchase."""
    subtotal = sum((line.amount for line in lines if line.type != _LINE_TAX), _ZERO)
    tax = sum((line.amount for line in lines if line.type == _LINE_TAX), _ZERO)
    purchases = sum((line.amount for line in lines if line.type == LINE_PURCHASE), _ZERO)
    uses = draw_credits(grants, balances, period=period, payable=subtotal + tax - purchases)
    applied = sum((use.amount for use in uses), _ZERO)
    return Totals(
        subtotal=subtotal,
        credits=tuple(uses),
        credits_applied=applied,
        total=max(subtotal + tax - applied, _ZERO),
        credit_balance_after=balance_after(grants, balances, period=period),
        tax=tax,
    )
