"""Numbers as people read them (core.numbers): money by the currency's minor unit, unit
prices exact, quantities rounded for the eye with their unit. Every expectation is worked
out by hand."""

from decimal import Decimal

import pytest

from meterbill.core.numbers import (
    format_money,
    format_quantity,
    format_unit_price,
    plain_decimals,
)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("1732.41", "USD", "$1,732.41"),
        ("1000", "USD", "$1,000.00"),
        ("0", "USD", "$0.00"),
        ("-5", "USD", "-$5.00"),
        ("0.005", "USD", "$0.01"),  # half-up
        ("-0.004", "USD", "$0.00"),  # rounds to zero: no minus sign
        ("1234567.5", "EUR", "€1,234,567.50"),
        ("12.5", "GBP", "£12.50"),
        ("1200", "JPY", "¥1,200"),
        ("16.5", "JPY", "¥17"),
        ("1.2345", "KWD", "KWD 1.235"),
        ("9.9", "CHF", "CHF 9.90"),
    ],
)
def test_money_follows_the_currency(amount: str, currency: str, shown: str) -> None:
    assert format_money(Decimal(amount), currency) == shown


@pytest.mark.parametrize(
    ("price", "currency", "shown"),
    [
        ("0.10", "USD", "$0.10"),
        ("0.000125", "USD", "$0.000125"),
        ("0.0023148", "USD", "$0.0023148"),
        ("2", "JPY", "¥2"),
        ("0.5", "JPY", "¥0.5"),
        ("1500", "USD", "$1,500.00"),
        ("-0.25", "EUR", "-€0.25"),
    ],
)
def test_unit_prices_are_never_rounded(price: str, currency: str, shown: str) -> None:
    assert format_unit_price(Decimal(price), currency) == shown


@pytest.mark.parametrize(
    ("quantity", "unit", "shown"),
    [
        # From 1 up: at most three decimals, half-up, trailing zeros dropped.
        ("11945.266271476633846759796144", "GiB", "11,945.266 GiB"),
        ("4738.98998041637241840362549", None, "4,738.99"),  # .98998 → .990 → .99
        ("12345.50", None, "12,345.5"),
        ("1E+3", None, "1,000"),
        ("1000000", "API calls", "1,000,000 API calls"),
        ("2.0005", None, "2.001"),
        ("2.0004", None, "2"),
        ("999.9996", None, "1,000"),
        ("130", "node hours", "130 node hours"),
        ("-2.5", None, "-2.5"),
        # Below 1: three significant digits, so a small quantity never reads 0.
        ("0.5", None, "0.5"),
        ("0.123456", None, "0.123"),
        ("0.0012345", "GB", "0.00123 GB"),  # 0.001234|5 → 0.00123 (3 significant)
        ("0.000123456", None, "0.000123"),
        ("0.00099996", None, "0.001"),  # carries to a shorter number
        ("0.99996", None, "1"),
        ("-0.0000001", None, "-0.0000001"),
        # Zero in any spelling.
        ("0", None, "0"),
        ("0.000", "GiB", "0 GiB"),
        ("-0", None, "0"),
    ],
)
def test_quantities_read_rounded_with_their_unit(
    quantity: str, unit: str | None, shown: str
) -> None:
    assert format_quantity(Decimal(quantity), unit) == shown


def test_an_empty_unit_adds_nothing() -> None:
    assert format_quantity(Decimal("1.5"), "") == "1.5"


@pytest.mark.parametrize(
    ("value", "places"),
    [("1.50", 1), ("100", 0), ("1E+2", 0), ("0.000125", 6), ("0", 0), ("-3.25", 2)],
)
def test_plain_decimals(value: str, places: int) -> None:
    assert plain_decimals(Decimal(value)) == places
