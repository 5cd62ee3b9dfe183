"""Quantity → exact charges, one pure function per price model (spec 4.3).

Nothing here rounds: a charge's ``amount`` is exact and the invoice line rounds it once.
Graduated prices return one charge per tier that holds quantity (tier numbers 1-based);
every other model returns a single charge.

Adjustments (spec 6.1, 6.2): a tier's ``flat_amount`` is added once when the charged
quantity enters the tier (graduated) or when the volume tier holding it is charged at all;
a product's ``free_quantity`` is taken off the quantity before the price is applied
(``charged``), while the charge still shows the whole quantity: with a graduated price
the free units are shown on the `Tier 1` charge.
"""

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import assert_never

from meterbill.core.catalog import (
    FlatPrice,
    GraduatedPrice,
    PackagePrice,
    PerUnitPrice,
    Price,
    Tier,
    VolumePrice,
)
from meterbill.core.errors import Unpriced

__all__ = [
    "Charge",
    "charged",
    "graduated_slices",
    "package_amount",
    "rate",
    "volume_tier",
]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Charge:
    """A priced quantity: which tier (graduated only), how much, at what unit price."""

    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal
    tier: int | None = None


def rate(
    price: Price,
    quantity: Decimal,
    *,
    group: dict[str, str],
    product: str,
    free: Decimal = _ZERO,
) -> list[Charge]:
    """Price ``quantity`` of one line group; ``product`` names the product in errors.

    ``free`` is the product's free quantity: the price applies to ``charged(quantity,
    free)``, the charge shows the whole quantity. Flat prices are not rated here (see
    :mod:`meterbill.core.rating`): they do not depend on usage.
    """
    paid = charged(quantity, free)
    match price:
        case PerUnitPrice():
            unit_price = price.unit_price_for(group)
            if unit_price is None:
                value = group.get(price.by or "", "")
                raise Unpriced(f"product '{product}' has no price for {price.by} = '{value}'")
            return [Charge(quantity, unit_price, paid * unit_price)]
        case GraduatedPrice():
            slices = graduated_slices(price.tiers, _ZERO, quantity, free=free)
            if not slices:
                # A line with no usage still shows its first tier, at zero (spec 4.2).
                return [Charge(_ZERO, price.tiers[0].unit_price, _ZERO, tier=1)]
            return slices
        case VolumePrice():
            # The tier is chosen by the charged quantity; its flat amount counts only when
            # something is charged (spec 6.7).
            tier = volume_tier(price.tiers, paid)
            flat = tier.flat_amount if paid > 0 else _ZERO
            return [Charge(quantity, tier.unit_price, paid * tier.unit_price + flat)]
        case PackagePrice():
            # Packages are counted over the charged quantity (docs/billing-semantics.md).
            return [Charge(quantity, None, package_amount(price, paid))]
        case FlatPrice():
            raise TypeError("flat prices are not rated from a quantity")
        case _:
            assert_never(price)


def charged(quantity: Decimal, free: Decimal) -> Decimal:
    """The part of a cumulative ``quantity`` beyond the first ``free`` units."""
    return max(_ZERO, quantity - free)


def graduated_slices(
    tiers: tuple[Tier, ...], start: Decimal, end: Decimal, *, free: Decimal = _ZERO
) -> list[Charge]:
    """The charges for the quantity between ``start`` and ``end`` of a cumulative total.

    Tier *i* covers charged quantities above the previous ``up_to`` up to its own. Rating a
    whole line is ``graduated_slices(tiers, 0, q)``; a breakdown window is the slice between
    the cumulative quantity at its start and at its end. The first ``free`` units of the
    cumulative total come before tier 1: they cost nothing and are shown on the tier 1
    charge. A tier's ``flat_amount`` goes to the slice in which the charged quantity first
    goes above the tier's lower bound; free units enter no tier.
    """
    charges: list[Charge] = []
    paid_start, paid_end = charged(start, free), charged(end, free)
    lower = _ZERO
    for number, tier in enumerate(tiers, start=1):
        upper = tier.up_to
        low = max(paid_start, lower)
        high = paid_end if upper is None else min(paid_end, upper)
        if high > low:
            amount = (high - low) * tier.unit_price
            if paid_start <= lower:
                amount += tier.flat_amount
            charges.append(Charge(high - low, tier.unit_price, amount, tier=number))
        if upper is None or upper >= paid_end:
            break
        lower = upper
    free_units = min(end, free) - min(start, free)
    if free_units > 0:
        if charges and charges[0].tier == 1:
            first = charges[0]
            charges[0] = Charge(first.quantity + free_units, first.unit_price, first.amount, 1)
        else:
            charges.insert(0, Charge(free_units, tiers[0].unit_price, _ZERO, tier=1))
    return charges


def volume_tier(tiers: tuple[Tier, ...], quantity: Decimal) -> Tier:
    """The tier whose band holds ``quantity``; a quantity equal to ``up_to`` falls in it."""
    for tier in tiers:
        if tier.up_to is None or quantity <= tier.up_to:
            return tier
    return tiers[-1]


def package_amount(price: PackagePrice, quantity: Decimal) -> Decimal:
    """Every started package costs the package price; no usage costs nothing."""
    if quantity <= 0:
        return _ZERO
    # Division rounds at 28 digits, so check the floor by multiplying back, exactly.
    packages = (quantity / price.package_size).to_integral_value(rounding=ROUND_FLOOR)
    if packages * price.package_size < quantity:
        packages += 1
    return packages * price.package_price
