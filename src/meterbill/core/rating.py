"""A billing period's usage → invoice lines → totals (spec 4.2–4.7).

The pipeline is pure: the caller supplies each usage product's quantity per group, the
grants and their balances; this module returns lines whose amounts are exact and rounded
once, a subtotal that is the sum of the rounded lines, and the credits drawn.
"""

import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import partial
from itertools import pairwise
from string import Formatter

from meterbill.core.aggregation import GroupKey
from meterbill.core.catalog import (
    Catalog,
    CreditGrant,
    Discount,
    FlatPrice,
    PackagePrice,
    Plan,
    Price,
    Product,
)
from meterbill.core.credits import CreditUse, balance_after, draw_credits
from meterbill.core.errors import Unrepresentable
from meterbill.core.money import round_money, written
from meterbill.core.periods import Span, full_period
from meterbill.core.pricing import rate

__all__ = [
    "LINE_MINIMUM",
    "LINE_PURCHASE",
    "Line",
    "PricePiece",
    "Remember",
    "Totals",
    "corrections",
    "describe",
    "line_key",
    "package_unit_price",
    "piece_key",
    "piece_suffix",
    "price_pieces",
    "rate_period",
    "totals",
]

Remember = Callable[[tuple[Hashable, ...], Callable[[], list["Line"]]], Sequence["Line"]]
"""``remember(key, compute)``: ``compute()``, or what it gave before for an equal ``key``."""

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
    ``since`` is the start of the line's price piece when a price change splits its
    product's period (spec 5.1), else None.
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
    since: datetime | None = None

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


def line_key(product: str, group: GroupKey, tier: int | None, since: datetime | None = None) -> str:
    """A line's identity across re-ratings; a line of a price piece (spec 5.1) adds the
    piece's start, so each piece is corrected on its own."""
    parts: list[object] = [product, list(group), tier]
    if since is not None:
        parts.append(_instant_text(since))
    return json.dumps(parts, separators=(",", ":"))


def _instant_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class PricePiece:
    """The part of a period one price is in force over (spec 5.1)."""

    span: Span
    price: Price


def price_pieces(product: Product, period: Span) -> list[PricePiece]:
    """The period cut at every price change strictly inside it, each piece with its price;
    one piece (the price in force over the whole period) when none is inside."""
    cuts = [
        change.effective_from
        for change in product.price_changes
        if period.start < change.effective_from < period.end
    ]
    bounds = [period.start, *cuts, period.end]
    return [
        PricePiece(Span(start, end), product.price_at(start)) for start, end in pairwise(bounds)
    ]


def package_unit_price(line: Line, catalog: Catalog, period_start: datetime) -> Decimal | None:
    """The unit price shown for a line of a package-priced product: the package price per
    unit of quantity (``package_price / package_size``) of the price in force for the line
    (its piece of a split period, or the period a late-usage correction corrects); None for
    any other line. The line's amount charges whole packages, so ``quantity × unit price``
    can differ from it."""
    product = catalog.products.get(line.product or "")
    if product is None or product.meter is None or line.unit_price is not None:
        return None
    moment = line.since or line.corrects or period_start
    price = product.price_at(moment)
    if isinstance(price, PackagePrice) and price.package_size != 0:
        return price.package_price / price.package_size
    return None


def piece_key(product: str, start: datetime) -> str:
    """The key under which ``rate_period``'s ``usage`` holds a split product's quantities
    over the piece starting at ``start`` (product keys never contain ``@``)."""
    return f"{product}@{_instant_text(start)}"


def piece_suffix(start: datetime) -> str:
    """`` (from YYYY-MM-DD)``, or `` (from YYYY-MM-DD HH:00)`` off midnight (spec 5.1)."""
    if start.hour == 0 and start.minute == 0:
        return f" (from {start:%Y-%m-%d})"
    return f" (from {start:%Y-%m-%d %H:%M})"


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
    remember: Remember | None = None,
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

    ``remember(key, compute)`` may return what ``compute()`` gave before for an equal
    ``key``: each group's usage lines are computed through it, keyed by everything they
    depend on besides the catalog and the currency (the product, its price piece, the
    group, and the quantity and free quantity as written), which the caller must add.
    """
    lines: list[Line] = []
    full = full_period(plan.interval, period, anchored_at=anchored_at)
    fraction = period.seconds / full.seconds
    for key in plan.products:
        product = catalog.products[key]
        pieces = price_pieces(product, period)
        split = len(pieces) > 1
        # Free quantity is per group and period, used up in time order across the pieces
        # of a split period (spec 5.1, 6.2): what one piece uses, the next no longer has.
        used: dict[GroupKey, Decimal] = {}
        try:
            for piece in pieces:
                since = piece.span.start if split else None
                if isinstance(piece.price, FlatPrice):
                    # A split flat amount is prorated by the piece's seconds (spec 5.1).
                    share = piece.span.seconds / full.seconds if split else fraction
                    lines.append(
                        _flat_line(product, piece.price, share, currency, since, prorate=split)
                    )
                    continue
                meter = catalog.meters[product.meter or ""]
                quantities = usage.get(piece_key(key, piece.span.start) if split else key, {})
                for group in sorted(quantities):
                    taken = used.get(group, _ZERO)
                    free = max(_ZERO, product.free_quantity - taken)
                    compute = partial(
                        _usage_lines,
                        product,
                        piece.price,
                        meter.group_by,
                        group,
                        quantities[group],
                        currency,
                        since,
                        free=free,
                    )
                    if remember is None:
                        lines.extend(compute())
                    else:
                        memo = (
                            key,
                            piece.span,
                            since,
                            group,
                            written(quantities[group]),
                            written(free),
                        )
                        lines.extend(remember(memo, compute))
                    used[group] = taken + quantities[group]
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
                minimum = fixed_line(LINE_MINIMUM, "Minimum spend true-up", floor - spent, currency)
            except Unrepresentable as error:
                raise error.within(product=f"minimum of plan {plan.key}") from None
            lines.append(minimum)
    lines.extend(discount_lines(lines, discounts, currency=currency))
    for grant in purchases:
        try:
            line = fixed_line(
                LINE_PURCHASE, "Prepaid credit purchase", grant.purchase_price, currency
            )
        except Unrepresentable as error:
            raise error.within(product=f"prepaid credit purchase {grant.key}") from None
        lines.append(replace(line, key=f"{LINE_PURCHASE}:{grant.key}"))
    return lines


def _usage_lines(
    product: Product,
    price: Price,
    dimensions: tuple[str, ...],
    group: GroupKey,
    quantity: Decimal,
    currency: str,
    since: datetime | None = None,
    *,
    free: Decimal = _ZERO,
) -> list[Line]:
    values = dict(zip(dimensions, group, strict=True))
    charges = rate(price, quantity, group=values, product=product.key, free=free)
    tiered = any(charge.tier is not None for charge in charges)
    many_tiers = tiered and len(getattr(price, "tiers", ())) > 1
    suffix = "" if since is None else piece_suffix(since)
    return [
        Line(
            key=line_key(product.key, group, charge.tier if tiered else None, since),
            name=(f"{product.name} - Tier {charge.tier}" if many_tiers else product.name) + suffix,
            product=product.key,
            type=product.line_item_type,
            group=tuple(values.items()),
            quantity=charge.quantity,
            unit_price=charge.unit_price,
            exact=charge.amount,
            amount=round_money(charge.amount, currency),
            description=describe(product, values),
            tier=charge.tier if tiered else None,
            since=since,
        )
        for charge in charges
    ]


def _flat_line(
    product: Product,
    price: FlatPrice,
    fraction: Decimal,
    currency: str,
    since: datetime | None = None,
    *,
    prorate: bool = False,
) -> Line:
    exact = price.amount * fraction if price.prorate or prorate else price.amount
    return Line(
        key=line_key(product.key, (), None, since),
        name=product.name + ("" if since is None else piece_suffix(since)),
        product=product.key,
        type=product.line_item_type,
        group=(),
        quantity=_ONE,
        unit_price=None,
        exact=exact,
        amount=round_money(exact, currency),
        description=product.description,
        since=since,
    )


def fixed_line(
    kind: str,
    name: str,
    exact: Decimal,
    currency: str,
    *,
    key: str | None = None,
    product: str | None = None,
) -> Line:
    """A line of quantity 1 and no unit price (minimum true-up, purchase, adjustments)."""
    return Line(
        key=kind if key is None else key,
        name=name,
        product=product,
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
        base = line.name.split(" (late usage, ")[0].split(" (billed on invoice ")[0]
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
