"""``core.money.money_text``: the currency's minor digits, padded, never rounded."""

from decimal import Decimal

import pytest

from meterbill.core.money import money_text


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("512", "USD", "512.00"),
        ("512.00", "USD", "512.00"),
        ("17.8", "USD", "17.80"),
        ("-10.6", "USD", "-10.60"),
        ("0", "USD", "0.00"),
        ("-0.00", "USD", "0.00"),
        ("5E+2", "EUR", "500.00"),
        ("17", "JPY", "17"),
        ("17.0", "JPY", "17"),
        ("1.5", "KWD", "1.500"),
        ("0", "KWD", "0.000"),
        ("92233720368547758.07", "USD", "92233720368547758.07"),
        # More places than the minor unit are kept, never rounded away.
        ("1.0005", "USD", "1.0005"),
        ("0.5", "JPY", "0.5"),
    ],
)
def test_money_text(amount: str, currency: str, text: str) -> None:
    assert money_text(Decimal(amount), currency) == text
