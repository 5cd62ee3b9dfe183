"""Quantity → exact charges for every price model (spec 4.3)."""

from decimal import Decimal as D

import pytest

from meterbill.core.catalog import (
    FlatPrice,
    GraduatedPrice,
    PackagePrice,
    PerUnitPrice,
    Tier,
    VolumePrice,
)
from meterbill.core.errors import Unpriced
from meterbill.core.pricing import Charge, graduated_slices, package_amount, rate, volume_tier

# First 1,000 calls at 0.002, the next 9,000 at 0.0015, every call after at 0.001.
API_CALLS = GraduatedPrice(
    tiers=(
        Tier(up_to=D(1_000), unit_price=D("0.002")),
        Tier(up_to=D(10_000), unit_price=D("0.0015")),
        Tier(up_to=None, unit_price=D("0.001")),
    )
)

# Up to 10 seats at 5 each; from the 11th seat on, every seat at 4.
SEATS = VolumePrice(tiers=(Tier(up_to=D(10), unit_price=D(5)), Tier(up_to=None, unit_price=D(4))))

NODE_HOURS = PerUnitPrice(
    by="memory_option",
    unit_prices=(("0.5_gb", D("0.04")), ("4_gb", D("0.25"))),
    default_unit_price=D("0.30"),
)

# 0.50 per started block of 1,000.
PACKAGES = PackagePrice(package_size=D(1_000), package_price=D("0.50"))


@pytest.mark.parametrize(
    ("price", "quantity", "group", "charge"),
    [
        pytest.param(
            PerUnitPrice(unit_price=D("0.0023148")),
            D(1440),
            {},
            Charge(D(1440), D("0.0023148"), D("3.3333120")),
            id="one price",
        ),
        pytest.param(
            PerUnitPrice(unit_price=D("0.04")),
            D("12.5"),
            {},
            Charge(D("12.5"), D("0.04"), D("0.5")),
            id="fractional quantity",
        ),
        pytest.param(
            NODE_HOURS,
            D(10),
            {"memory_option": "4_gb"},
            Charge(D(10), D("0.25"), D("2.5")),
            id="dimensional: the group value's price",
        ),
        pytest.param(
            NODE_HOURS,
            D(10),
            {"memory_option": "16_gb"},
            Charge(D(10), D("0.30"), D(3)),
            id="dimensional: unknown value takes the default",
        ),
        pytest.param(
            NODE_HOURS,
            D(10),
            {},
            Charge(D(10), D("0.30"), D(3)),
            id="dimensional: missing value takes the default",
        ),
    ],
)
def test_per_unit(price: PerUnitPrice, quantity: D, group: dict[str, str], charge: Charge) -> None:
    assert rate(price, quantity, group=group, product="node_hours") == [charge]


@pytest.mark.parametrize(
    ("group", "message"),
    [
        pytest.param(
            {"memory_option": "16_gb"},
            "product 'node_hours' has no price for memory_option = '16_gb'",
            id="unknown value",
        ),
        pytest.param(
            {"memory_option": ""},
            "product 'node_hours' has no price for memory_option = ''",
            id="empty value",
        ),
    ],
)
def test_per_unit_without_price_is_unpriced(group: dict[str, str], message: str) -> None:
    no_default = PerUnitPrice(by="memory_option", unit_prices=(("4_gb", D("0.25")),))

    with pytest.raises(Unpriced) as raised:
        rate(no_default, D(10), group=group, product="node_hours")

    assert (raised.value.code, str(raised.value)) == ("unpriced", message)


@pytest.mark.parametrize(
    ("quantity", "charges"),
    [
        pytest.param(
            D(0), [Charge(D(0), D("0.002"), D(0), tier=1)], id="no usage: one Tier 1 of 0"
        ),
        pytest.param(
            D(400), [Charge(D(400), D("0.002"), D("0.8"), tier=1)], id="inside the first tier"
        ),
        pytest.param(
            D(1_000), [Charge(D(1_000), D("0.002"), D(2), tier=1)], id="exactly on a bound"
        ),
        pytest.param(
            D(1_001),
            [
                Charge(D(1_000), D("0.002"), D(2), tier=1),
                Charge(D(1), D("0.0015"), D("0.0015"), tier=2),
            ],
            id="one unit over a bound",
        ),
        pytest.param(
            D(12_500),
            [
                Charge(D(1_000), D("0.002"), D(2), tier=1),
                Charge(D(9_000), D("0.0015"), D("13.5"), tier=2),
                Charge(D(2_500), D("0.001"), D("2.5"), tier=3),
            ],
            id="all tiers",
        ),
        pytest.param(D("0.5"), [Charge(D("0.5"), D("0.002"), D("0.001"), tier=1)], id="fractional"),
        pytest.param(
            D("1000.25"),
            [
                Charge(D(1_000), D("0.002"), D(2), tier=1),
                Charge(D("0.25"), D("0.0015"), D("0.000375"), tier=2),
            ],
            id="fractional over a bound",
        ),
    ],
)
def test_graduated(quantity: D, charges: list[Charge]) -> None:
    assert rate(API_CALLS, quantity, group={}, product="api_calls") == charges


@pytest.mark.parametrize(
    ("start", "end", "charges"),
    [
        pytest.param(
            D(800),
            D(1_300),
            [
                Charge(D(200), D("0.002"), D("0.4"), tier=1),
                Charge(D(300), D("0.0015"), D("0.45"), tier=2),
            ],
            id="window crossing the first bound",
        ),
        pytest.param(
            D(2_000),
            D(3_000),
            [Charge(D(1_000), D("0.0015"), D("1.5"), tier=2)],
            id="window inside tier 2",
        ),
        pytest.param(
            D(1_000),
            D(1_200),
            [Charge(D(200), D("0.0015"), D("0.3"), tier=2)],
            id="window starting on a bound",
        ),
        pytest.param(
            D(500),
            D(10_500),
            [
                Charge(D(500), D("0.002"), D(1), tier=1),
                Charge(D(9_000), D("0.0015"), D("13.5"), tier=2),
                Charge(D(500), D("0.001"), D("0.5"), tier=3),
            ],
            id="window crossing two bounds",
        ),
        pytest.param(D(1_000), D(1_000), [], id="empty window"),
    ],
)
def test_graduated_slices_of_a_window(start: D, end: D, charges: list[Charge]) -> None:
    assert graduated_slices(API_CALLS.tiers, start, end) == charges


@pytest.mark.parametrize(
    ("quantity", "unit_price", "amount"),
    [
        pytest.param(D(0), D(5), D(0), id="no seats"),
        pytest.param(D(7), D(5), D(35), id="inside the first tier"),
        pytest.param(D(10), D(5), D(50), id="on the bound: that tier, inclusive"),
        pytest.param(D("10.5"), D(4), D(42), id="just over the bound"),
        pytest.param(D(11), D(4), D(44), id="one over: every seat at the second tier"),
    ],
)
def test_volume(quantity: D, unit_price: D, amount: D) -> None:
    assert rate(SEATS, quantity, group={}, product="seats") == [
        Charge(quantity, unit_price, amount)
    ]


@pytest.mark.parametrize(
    ("quantity", "tier"),
    [
        pytest.param(D(10), Tier(up_to=D(10), unit_price=D(5)), id="bound"),
        pytest.param(D(11), Tier(up_to=None, unit_price=D(4)), id="open tier"),
    ],
)
def test_volume_tier(quantity: D, tier: Tier) -> None:
    assert volume_tier(SEATS.tiers, quantity) == tier


@pytest.mark.parametrize(
    ("price", "quantity", "amount"),
    [
        pytest.param(PACKAGES, D(0), D(0), id="no usage costs nothing"),
        pytest.param(PACKAGES, D(1), D("0.50"), id="one unit starts a package"),
        pytest.param(PACKAGES, D(1_000), D("0.50"), id="exactly one package"),
        pytest.param(PACKAGES, D(1_001), D("1.00"), id="one unit over: two packages"),
        pytest.param(PACKAGES, D("0.5"), D("0.50"), id="fractional quantity"),
        pytest.param(PACKAGES, D("2000.5"), D("1.50"), id="fractional over two packages"),
        pytest.param(
            PackagePrice(package_size=D("0.3"), package_price=D(2)),
            D("0.9"),
            D(6),
            id="fractional package size fills exactly three",
        ),
        pytest.param(
            PackagePrice(package_size=D(3), package_price=D(1)),
            D(1),
            D(1),
            id="one third of a package is one package",
        ),
    ],
)
def test_package(price: PackagePrice, quantity: D, amount: D) -> None:
    assert package_amount(price, quantity) == amount
    assert rate(price, quantity, group={}, product="api_calls") == [Charge(quantity, None, amount)]


def test_flat_prices_are_not_rated_from_a_quantity() -> None:
    with pytest.raises(TypeError, match="flat prices are not rated from a quantity"):
        rate(FlatPrice(amount=D("500.00")), D(1), group={}, product="support")
