"""Rounding to the minor unit, minor-unit integers and largest-remainder allocation."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterbill.core.errors import Unrepresentable
from meterbill.core.money import (
    MAX_MINOR,
    allocate,
    from_minor,
    minor_exponent,
    round_money,
    to_minor,
)


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        pytest.param("USD", 2, id="USD cents"),
        pytest.param("EUR", 2, id="unlisted currency has cents"),
        pytest.param("JPY", 0, id="JPY whole yen"),
        pytest.param("KWD", 3, id="KWD fils"),
        pytest.param("CLF", 4, id="CLF four places"),
    ],
)
def test_minor_exponent(currency: str, exponent: int) -> None:
    assert minor_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        pytest.param(D("2.345"), "USD", D("2.35"), id="USD half goes up"),
        pytest.param(D("2.344999"), "USD", D("2.34"), id="USD just under half goes down"),
        pytest.param(D("2.355"), "USD", D("2.36"), id="USD half up, not half even"),
        pytest.param(D("-0.005"), "USD", D("-0.01"), id="USD negative half goes away from zero"),
        pytest.param(D("7"), "USD", D("7.00"), id="USD whole amount gains two places"),
        pytest.param(D("2.5"), "JPY", D("3"), id="JPY half goes up to the yen"),
        pytest.param(D("3.49"), "JPY", D("3"), id="JPY under half goes down"),
        pytest.param(D("1.2345"), "KWD", D("1.235"), id="KWD half goes up at three places"),
        pytest.param(D("1.2344"), "KWD", D("1.234"), id="KWD under half goes down"),
    ],
)
def test_round_money_is_half_up_at_the_minor_unit(amount: D, currency: str, rounded: D) -> None:
    # as_tuple compares sign, digits and exponent: 7.00 is not 7.
    assert round_money(amount, currency).as_tuple() == rounded.as_tuple()


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        pytest.param(D("2.345"), "USD", 235, id="USD rounds then counts cents"),
        pytest.param(D("12"), "USD", 1200, id="USD whole dollars"),
        pytest.param(D("-0.005"), "USD", -1, id="USD negative half cent"),
        pytest.param(D("2.5"), "JPY", 3, id="JPY"),
        pytest.param(D("1.2345"), "KWD", 1235, id="KWD"),
    ],
)
def test_to_minor(amount: D, currency: str, minor: int) -> None:
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "amount"),
    [
        pytest.param(235, "USD", D("2.35"), id="USD"),
        pytest.param(0, "USD", D("0.00"), id="USD zero keeps two places"),
        pytest.param(-1, "USD", D("-0.01"), id="USD negative"),
        pytest.param(3, "JPY", D("3"), id="JPY"),
        pytest.param(1235, "KWD", D("1.235"), id="KWD"),
    ],
)
def test_from_minor(minor: int, currency: str, amount: D) -> None:
    assert from_minor(minor, currency).as_tuple() == amount.as_tuple()


@settings(max_examples=100)
@given(
    amount=st.decimals(min_value=-(10**6), max_value=10**6, places=6),
    currency=st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_from_minor_undoes_to_minor_up_to_rounding(amount: D, currency: str) -> None:
    assert from_minor(to_minor(amount, currency), currency) == round_money(amount, currency)


THIRD = D("3.333333333333333333333333333")  # 10 / 3 at 28 significant digits


@pytest.mark.parametrize(
    ("total", "shares", "currency", "parts"),
    [
        pytest.param(
            D("10.00"),
            [THIRD, THIRD, THIRD],
            "USD",
            [D("3.34"), D("3.33"), D("3.33")],
            id="equal shares: the spare cent goes to the earliest",
        ),
        pytest.param(
            D("1.00"),
            [D("0.333"), D("0.337"), D("0.330")],
            "USD",
            [D("0.33"), D("0.34"), D("0.33")],
            id="largest remainder takes the spare cent",
        ),
        pytest.param(
            D("10.00"),
            [D("2.226"), D("2.228"), D("2.224"), D("3.322")],
            "USD",
            [D("2.23"), D("2.23"), D("2.22"), D("3.32")],
            id="two spare cents to the two largest remainders",
        ),
        pytest.param(
            D("6.00"),
            [D("1.00"), D("2.00"), D("3.00")],
            "USD",
            [D("1.00"), D("2.00"), D("3.00")],
            id="floors already add up",
        ),
        pytest.param(
            D("5.00"),
            [D(0), D("5.00"), D(0)],
            "USD",
            [D("0.00"), D("5.00"), D("0.00")],
            id="zero shares get nothing",
        ),
        pytest.param(
            D("0.00"),
            [D(0), D(0), D(0)],
            "USD",
            [D("0.00"), D("0.00"), D("0.00")],
            id="all shares zero",
        ),
        pytest.param(D("0.00"), [], "USD", [], id="no shares"),
        pytest.param(
            D("100"),
            [D("33.5"), D("33.5"), D("33")],
            "JPY",
            [D("34"), D("33"), D("33")],
            id="JPY: whole yen, tie to the earliest",
        ),
        pytest.param(
            D("1.000"),
            [D("0.3333333333333333333333333333")] * 3,
            "KWD",
            [D("0.334"), D("0.333"), D("0.333")],
            id="KWD: thousandths",
        ),
        pytest.param(
            D("-10.00"),
            [-THIRD, -THIRD, -THIRD],
            "USD",
            [D("-3.33"), D("-3.33"), D("-3.34")],
            id="negative total: floors are -3.34, the units given back go to the earliest",
        ),
    ],
)
def test_allocate(total: D, shares: list[D], currency: str, parts: list[D]) -> None:
    assert allocate(total, shares, currency) == parts


@settings(max_examples=150)
@given(
    cents=st.integers(min_value=0, max_value=10**9),
    weights=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=40).filter(
        lambda ws: sum(ws) > 0
    ),
)
def test_allocate_adds_up_and_stays_within_a_cent(cents: int, weights: list[int]) -> None:
    total = D(cents).scaleb(-2)
    whole = sum(weights)
    shares = [total * weight / whole for weight in weights]

    parts = allocate(total, shares, "USD")

    assert sum(parts, D(0)) == total
    assert [part for part in parts if part.quantize(D("0.01")) != part] == []
    assert [
        (part, share)
        for part, share in zip(parts, shares, strict=True)
        if abs(part - share) >= D("0.01")
    ] == []


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        # 10^30 units at 0.01: more digits than the decimal context rounds exactly.
        (D("999999999999999999999999999999") * D("0.01"), "USD"),
        (D("1e25"), "USD"),  # 10^27 cents: beyond a 64-bit integer
        (D("92233720368547758.08"), "USD"),  # MAX_MINOR + 1 cent
        (D("-92233720368547758.08"), "USD"),
        (D("9223372036854775808"), "JPY"),
        (D("NaN"), "USD"),
        (D("Infinity"), "USD"),
    ],
)
def test_an_amount_that_cannot_be_stored_is_a_domain_error(amount: D, currency: str) -> None:
    with pytest.raises(Unrepresentable, match="cannot be represented in minor units"):
        round_money(amount, currency)
    with pytest.raises(Unrepresentable):
        to_minor(amount, currency)


def test_the_largest_storable_amount_rounds() -> None:
    assert to_minor(D("92233720368547758.07"), "USD") == MAX_MINOR
    assert to_minor(D("-92233720368547758.07"), "USD") == -MAX_MINOR
    assert to_minor(D("9223372036854775807"), "JPY") == MAX_MINOR
