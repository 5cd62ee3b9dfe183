"""Currencies and the one place where money is rounded.

Amounts are ``Decimal`` everywhere. They are computed exactly and rounded once per line,
half-up, to the currency's minor unit (spec 4.4). Rounded amounts are stored as integer
minor units.
"""

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, DecimalException

from meterbill.core.errors import Unrepresentable

__all__ = [
    "MAX_MINOR",
    "allocate",
    "decimal_text",
    "from_minor",
    "is_currency",
    "minor_exponent",
    "money_text",
    "round_money",
    "to_minor",
    "written",
]

# ISO 4217 currencies whose minor unit is not the cent. Every other code has two decimals.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    "CLF": 4,
    "UYW": 4,
}


# Money is stored as a signed 64-bit count of minor units (BIGINT on both databases).
MAX_MINOR = 2**63 - 1


def is_currency(code: str) -> bool:
    """A three-letter upper-case code (ISO 4217 shape)."""
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


def minor_exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    return _EXPONENTS.get(currency, 2)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round an exact amount half-up to the currency's minor unit.

    Raises :class:`Unrepresentable` when the result cannot be stored: not a finite number,
    too many digits to round exactly, or more minor units than a signed 64-bit integer
    holds (``MAX_MINOR``).
    """
    exponent = minor_exponent(currency)
    try:
        rounded = amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)
    except DecimalException:
        rounded = None
    if rounded is None or not rounded.is_finite() or abs(rounded.scaleb(exponent)) > MAX_MINOR:
        raise Unrepresentable(
            f"amount {amount} {currency} cannot be represented in minor units "
            f"(at most {Decimal(MAX_MINOR).scaleb(-exponent)} {currency})"
        )
    return rounded


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount as an integer count of minor units (rounded half-up first); raises
    :class:`Unrepresentable` when it does not fit."""
    return int(round_money(amount, currency).scaleb(minor_exponent(currency)))


def from_minor(minor: int, currency: str) -> Decimal:
    """Integer minor units back to a ``Decimal`` amount with the currency's exponent."""
    return Decimal(minor).scaleb(-minor_exponent(currency))


def allocate(total: Decimal, shares: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split the rounded ``total`` into minor units by largest remainder of exact ``shares``.

    Every share is first rounded down to the minor unit; the units still missing go one by
    one to the shares with the largest remainders, ties to the earliest. The result adds up
    to ``total`` exactly (spec 4.8).
    """
    if not shares:
        return []
    exponent = minor_exponent(currency)
    scaled = [share.scaleb(exponent) for share in shares]
    floors = [value.to_integral_value(rounding=ROUND_FLOOR) for value in scaled]
    missing = int(total.scaleb(exponent) - sum(floors, Decimal(0)))
    order = sorted(range(len(shares)), key=lambda i: (-(scaled[i] - floors[i]), i))
    # Normally 0 <= missing <= len(shares); divmod keeps any other case exact as well.
    each, rest = divmod(missing, len(shares))
    units = [floor + each for floor in floors]
    for index in order[:rest]:
        units[index] += 1
    return [unit.scaleb(-exponent) for unit in units]


def decimal_text(value: Decimal) -> str:
    """Plain notation without trailing zeros: ``Decimal("512.00")`` → ``"512"``.

    How every amount and quantity is written in JSON, CSV and documents: a decimal string,
    never a float.
    """
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def written(value: Decimal | None) -> str | None:
    """A value with its digits as written (``str``; None stays None), for keys by content:
    ``1.5`` and ``1.50`` are equal Decimals and hash alike, but what is computed from them
    keeps their digits, so a key must tell them apart."""
    return None if value is None else str(value)


def money_text(amount: Decimal, currency: str) -> str:
    """How an amount of ``currency`` is written in JSON, CSV and the CLI's ``--json``: plain
    notation with exactly the currency's minor digits: ``"512.00"``, ``"0.00"``,
    ``"-10.60"`` (USD), ``"17"`` (JPY), ``"1.500"`` (KWD).

    Never rounds: an amount with more places than the minor unit (none of the engine's
    rounded amounts has any) keeps them all, so no figure is ever changed by being written.
    Quantities and unit prices are not amounts: they keep :func:`decimal_text`.
    """
    places = minor_exponent(currency)
    whole, _, fraction = decimal_text(amount).partition(".")
    if whole == "-0" and not fraction.strip("0"):
        whole = "0"
    fraction = fraction.ljust(places, "0")
    return f"{whole}.{fraction}" if fraction else whole
