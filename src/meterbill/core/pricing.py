"""Quantity → exact charges, one pure function per price model (spec 4.3).

Nothing here rounds: a charge's ``amount`` is exact and the invoice line rounds it once.
Graduated prices return one charge per tier that holds quantity (tier numbers 1-based);
every other model returns a single charge.
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


def rate(price: Price, quantity: Decimal, *, group: dict[str, str], product: str) -> list[Charge]:
    """Price ``quantity`` of one line group; ``product`` names the product in errors.

    Flat prices are not rated here (see :mod:`meterbill.core.rating`): they do not depend
    on usage.
    """
    match price:
        case PerUnitPrice():
            unit_price = price.unit_price_for(group)
            if unit_price is None:
                value = group.get(price.by or "", "")
                raise Unpriced(f"product '{product}' has no price for {price.by} = '{value}'")
            return [Charge(quantity, unit_price, quantity * unit_price)]
        case GraduatedPrice():
            slices = graduated_slices(price.tiers, _ZERO, quantity)
            if not slices:
                # A line with no usage still shows its first tier, at zero (spec 4.2).
                return [Charge(_ZERO, price.tiers[0].unit_price, _ZERO, tier=1)]
            return slices
        case VolumePrice():
            tier = volume_tier(price.tiers, quantity)
            return [Charge(quantity, tier.unit_price, quantity * tier.unit_price)]
        case PackagePrice():
            return [Charge(quantity, None, package_amount(price, quantity))]
        case FlatPrice():
            raise TypeError("flat prices are not rated from a quantity")
        case _:
            assert_never(price)


def graduated_slices(tiers: tuple[Tier, ...], start: Decimal, end: Decimal) -> list[Charge]:
    """The charges for the quantity between ``start`` and ``end`` of a cumulative total.

    Tier *i* covers quantities above the previous ``up_to`` up to its own. Rating a whole
    line is ``graduated_slices(tiers, 0, q)``; a breakdown window is the slice between the
    cumulative quantity at its start and at its end.
    """
    charges: list[Charge] = []
    lower = _ZERO
    for number, tier in enumerate(tiers, start=1):
        upper = tier.up_to
        low = max(start, lower)
        high = end if upper is None else min(end, upper)
        if high > low:
            amount = (high - low) * tier.unit_price
            charges.append(Charge(high - low, tier.unit_price, amount, tier=number))
        if upper is None or upper >= end:
            break
        lower = upper
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
