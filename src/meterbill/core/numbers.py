"""Numbers as people read them: money, unit prices and quantities on invoices and pages.

Only for display. Every API, CSV and stored figure stays the exact decimal string of
:func:`meterbill.core.money.decimal_text`; these helpers round for the eye:

* :func:`format_money`: the currency's minor unit, half-up, with thousands separators and
  the symbol (``$1,732.41``, ``¥1,200``, ``CHF 9.90``);
* :func:`format_unit_price`: every significant decimal (``$0.0023148``), never rounded,
  since a unit price is a contract term;
* :func:`format_quantity`: at most :data:`QUANTITY_DECIMALS` decimals (half-up, trailing
  zeros dropped), or :data:`QUANTITY_DECIMALS` significant digits below 1, so that
  ``11945.266271476633846759796144`` reads ``11,945.266`` and ``0.000123456`` reads
  ``0.000123``; with ``unit`` it is followed by the unit (``11,945.266 GiB``).
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from meterbill.core.money import minor_exponent, round_money

__all__ = [
    "QUANTITY_DECIMALS",
    "format_money",
    "format_quantity",
    "format_unit_price",
    "plain_decimals",
]

QUANTITY_DECIMALS = 3
# Symbols printed before the amount; every other currency is shown as "CHF 1,732.41".
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def plain_decimals(value: Decimal) -> int:
    """How many decimals ``value`` needs to be written exactly (``1.50`` → 1, ``100`` → 0)."""
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _grouped(value: Decimal, places: int) -> str:
    return format(value, f",.{places}f")


def _with_currency(sign: str, digits: str, currency: str) -> str:
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{digits}" if symbol is not None else f"{sign}{currency} {digits}"


def format_money(amount: Decimal, currency: str) -> str:
    """``$1,732.41``, ``-$5.00``, ``€12.50``, ``¥1,200``, ``CHF 9.90``: the amount rounded
    (half-up) to the currency's minor unit, with thousands separators."""
    places = minor_exponent(currency)
    rounded = round_money(amount, currency)
    return _with_currency("-" if rounded < 0 else "", _grouped(abs(rounded), places), currency)


def format_unit_price(price: Decimal, currency: str) -> str:
    """A unit price with every significant decimal: ``$0.10``, ``$0.000125`` (never rounded)."""
    places = max(minor_exponent(currency), plain_decimals(price))
    return _with_currency("-" if price < 0 else "", _grouped(abs(price), places), currency)


def _display_places(magnitude: Decimal) -> int:
    """Decimals shown for a quantity of this (positive) size: QUANTITY_DECIMALS from 1 up,
    else as many as QUANTITY_DECIMALS significant digits take (0.0012345 → 6)."""
    if magnitude >= 1:
        return QUANTITY_DECIMALS
    # adjusted(): the exponent of the first significant digit (0.0012345 → -3).
    return QUANTITY_DECIMALS - 1 - magnitude.adjusted()


def format_quantity(quantity: Decimal, unit: str | None = None) -> str:
    """A quantity rounded for reading, with thousands separators and ``unit`` after it:
    ``11,945.266 GiB``, ``1,000``, ``0.5``, ``0.000123``, ``-2.5``, ``0`` (see the module)."""
    if quantity.is_zero():
        text = "0"
    else:
        places = _display_places(abs(quantity))
        try:
            rounded = quantity.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        except InvalidOperation:  # more digits than the context holds: already exact enough
            rounded = quantity
        # Rounding can carry (0.99995 → 1.000): drop the zeros it leaves.
        text = _grouped(rounded, plain_decimals(rounded))
    return text if not unit else f"{text} {unit}"
