"""Invoice adjustments (spec 6.3-6.5, 6.7): product minimum and maximum, discounts, taxes.

Each step is a pure function over a period's rounded lines and returns new lines, each
rounded once. The order on an invoice (spec 6) is: usage and flat lines -> product minimum
and maximum (:func:`product_bounds`) -> plan minimum true-up -> discounts
(:func:`discount_lines`) -> subtotal -> taxes (:func:`tax_lines`) -> credits -> total.
Every figure after a line is computed from the rounded amounts before it.

Correction lines (``Line.corrects`` set, spec 5.7) count toward no minimum, maximum or
discount of the invoice that carries them; they are taxed on it.
"""

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from meterbill.core.catalog import Catalog, Discount, Plan, Tax
from meterbill.core.errors import Unrepresentable
from meterbill.core.money import round_money
from meterbill.core.rating import LINE_MINIMUM, LINE_PURCHASE, Line, fixed_line

__all__ = [
    "LINE_DISCOUNT",
    "LINE_MAXIMUM",
    "LINE_TAX",
    "discount_lines",
    "is_adjustment",
    "is_taxable",
    "product_bounds",
    "tax_lines",
]

LINE_MAXIMUM = "maximum"
LINE_DISCOUNT = "discount"
LINE_TAX = "tax"
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
# Lines a discount never counts or touches besides its own kind and taxes.
_NOT_BASE = frozenset({LINE_PURCHASE, LINE_DISCOUNT, LINE_TAX})


def is_adjustment(line: Line) -> bool:
    """A minimum, maximum, discount or tax line: quantity 1, no unit price, spread evenly
    (tax: by taxable share) in breakdowns."""
    return line.type in (LINE_MINIMUM, LINE_MAXIMUM, LINE_DISCOUNT, LINE_TAX)


def _adjustment(
    key: str, name: str, kind: str, exact: Decimal, currency: str, product: str | None = None
) -> Line:
    try:
        return fixed_line(kind, name, exact, currency, key=key, product=product)
    except Unrepresentable as error:
        # Named like a line so the error says which adjustment of which period (spec 7).
        raise error.within(product=f"{name} ({product or kind})") from None


def _sum(lines: Iterable[Line]) -> Decimal:
    return sum((line.amount for line in lines), _ZERO)


def product_bounds(
    lines: Sequence[Line],
    *,
    catalog: Catalog,
    plan: Plan,
    fraction: Decimal,
    currency: str,
) -> list[Line]:
    """One ``"<name> - minimum"`` or ``"<name> - maximum"`` line per product of the plan
    whose own lines of the period add up to less than its prorated minimum (even when it
    has no line) or more than its prorated maximum (spec 6.3, 6.7)."""
    result: list[Line] = []
    for key in plan.products:
        product = catalog.products[key]
        if product.minimum is None and product.maximum is None:
            continue
        spent = _sum(
            line
            for line in lines
            if line.product == key
            and line.corrects is None
            and line.type not in (LINE_MINIMUM, LINE_MAXIMUM)
        )
        if product.minimum is not None and spent < product.minimum * fraction:
            exact = product.minimum * fraction - spent
            name = f"{product.name} - minimum"
            result.append(_adjustment(f"minimum:{key}", name, LINE_MINIMUM, exact, currency, key))
        elif product.maximum is not None and spent > product.maximum * fraction:
            exact = product.maximum * fraction - spent
            name = f"{product.name} - maximum"
            result.append(_adjustment(f"maximum:{key}", name, LINE_MAXIMUM, exact, currency, key))
    return result


def discount_lines(
    lines: Sequence[Line], discounts: Iterable[Discount], *, currency: str
) -> list[Line]:
    """One ``"Discount <key>"`` line per discount that applies to the period (spec 6.4, 6.7).

    Percent discounts first, then amount discounts, each kind in key order. Each one is
    capped by what remains of the invoice (the period's own usage, flat, minimum, maximum
    and earlier discount lines, floored at 0) and, with ``products``, by those products'
    lines (their minimum and maximum lines included), so the invoice never goes below zero.
    """
    base = [line for line in lines if line.corrects is None and line.type not in _NOT_BASE]
    remaining = _sum(base)
    ordered = sorted(discounts, key=lambda d: (d.percent is None, d.key))
    result: list[Line] = []
    for discount in ordered:
        scope = (
            base
            if not discount.products
            else [line for line in base if line.product in discount.products]
        )
        cap = max(remaining, _ZERO)
        if discount.products:
            cap = min(cap, max(_sum(scope), _ZERO))
        if discount.percent is not None:
            exact = discount.percent / _HUNDRED * _sum(scope)
        else:
            exact = discount.amount or _ZERO
        wanted = round_money(exact, currency)
        taken = max(min(wanted, cap), _ZERO)
        if taken != wanted:
            exact = taken
        line = _adjustment(
            f"discount:{discount.key}", f"Discount {discount.key}", LINE_DISCOUNT, -exact, currency
        )
        result.append(line)
        remaining += line.amount
    return result


def is_taxable(
    line: Line, *, catalog: Catalog, discount_products: Mapping[str, Sequence[str]]
) -> bool:
    """Whether a line counts toward the taxable base (spec 6.5, 6.7): usage, flat, minimum,
    maximum, correction and discount lines of products that are not ``tax_exempt``. A
    discount over all lines is taxable; one with ``products`` unless all are exempt."""
    if line.type in (LINE_PURCHASE, LINE_TAX):
        return False
    if line.type == LINE_DISCOUNT and line.product is None:
        scoped = discount_products.get(line.key.removeprefix("discount:"), ())
        return not scoped or not all(_exempt(catalog, key) for key in scoped)
    return line.product is None or not _exempt(catalog, line.product)


def _exempt(catalog: Catalog, key: str) -> bool:
    product = catalog.products.get(key)
    return product is not None and product.tax_exempt


def tax_lines(
    lines: Sequence[Line],
    taxes: Iterable[Tax],
    *,
    catalog: Catalog,
    discounts: Iterable[Discount],
    currency: str,
) -> list[Line]:
    """One line per tax of the customer: rate × the sum of the rounded taxable lines
    (corrections included), rounded once; a negative base gives a negative tax line."""
    scoped = {discount.key: discount.products for discount in discounts}
    base = _sum(
        line for line in lines if is_taxable(line, catalog=catalog, discount_products=scoped)
    )
    return [
        _adjustment(f"tax:{tax.key}", tax.name, LINE_TAX, tax.rate * base, currency)
        for tax in taxes
    ]
