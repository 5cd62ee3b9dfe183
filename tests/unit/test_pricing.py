"""Quantity → exact charges for every price model (spec 4.3)."""

from decimal import Decimal as D

import pytest

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


# --------------------------------------------------------------------------- spec 6.1, 6.2

# Tier 1 (0-100] at 0.10 + 5.00 flat, tier 2 (100-200] at 0.05 + 20.00 flat, then 0.01 +
# 1.00 flat.
FLAT_TIERS = GraduatedPrice(
    tiers=(
        Tier(up_to=D(100), unit_price=D("0.10"), flat_amount=D("5.00")),
        Tier(up_to=D(200), unit_price=D("0.05"), flat_amount=D("20.00")),
        Tier(up_to=None, unit_price=D("0.01"), flat_amount=D("1.00")),
    )
)


def tier(number: int, quantity: str, amount: str) -> Charge:
    unit_price = FLAT_TIERS.tiers[number - 1].unit_price
    return Charge(D(quantity), unit_price, D(amount), tier=number)


@pytest.mark.parametrize(
    ("quantity", "free", "charges"),
    [
        pytest.param("0", "0", [tier(1, "0", "0")], id="no usage: no flat amount"),
        pytest.param("40", "0", [tier(1, "40", "9.00")], id="inside tier 1: 4.00 + 5.00"),
        pytest.param(
            "100", "0", [tier(1, "100", "15.00")], id="on the bound: tier 2 is not entered"
        ),
        pytest.param(
            "100.5",
            "0",
            [tier(1, "100", "15.00"), tier(2, "0.5", "20.025")],
            id="just past the bound: 0.025 + 20.00",
        ),
        pytest.param(
            "250",
            "0",
            [tier(1, "100", "15.00"), tier(2, "100", "25.00"), tier(3, "50", "1.50")],
            id="every tier: 10+5, 5+20, 0.5+1",
        ),
        pytest.param("0", "30", [tier(1, "0", "0")], id="free, no usage"),
        pytest.param("20", "30", [tier(1, "20", "0")], id="wholly free: one Tier 1 of 0"),
        pytest.param("30", "30", [tier(1, "30", "0")], id="exactly the free units: no flat"),
        pytest.param("30.5", "30", [tier(1, "30.5", "5.050")], id="half a unit over: 0.05 + 5.00"),
        pytest.param(
            "70", "30", [tier(1, "70", "9.00")], id="free units on Tier 1: 40 x 0.10 + 5.00"
        ),
        pytest.param(
            "130", "30", [tier(1, "130", "15.00")], id="charged 100, on the bound: no tier 2"
        ),
        pytest.param(
            "180",
            "30",
            [tier(1, "130", "15.00"), tier(2, "50", "22.50")],
            id="charged 150, across a bound: 2.50 + 20.00",
        ),
        pytest.param(
            "330",
            "30",
            [tier(1, "130", "15.00"), tier(2, "100", "25.00"), tier(3, "100", "2.00")],
            id="charged 300: every tier",
        ),
    ],
)
def test_graduated_with_flat_amounts_and_free_quantity(
    quantity: str, free: str, charges: list[Charge]
) -> None:
    assert rate(FLAT_TIERS, D(quantity), group={}, product="egress", free=D(free)) == charges


def test_a_tier_entered_only_for_its_flat_amount_still_gets_its_line() -> None:
    # A free tier with a 25.00 fee: 10 units cost 0 x 10 + 25.00.
    price = GraduatedPrice(
        tiers=(
            Tier(up_to=D(1_000), unit_price=D(0), flat_amount=D("25.00")),
            Tier(up_to=None, unit_price=D("0.02")),
        )
    )

    assert rate(price, D(10), group={}, product="seats") == [
        Charge(D(10), D(0), D("25.00"), tier=1)
    ]


@pytest.mark.parametrize(
    ("start", "end", "free", "charges"),
    [
        pytest.param("0", "20", "30", [tier(1, "20", "0")], id="window inside the free units"),
        pytest.param(
            "20", "40", "30", [tier(1, "20", "6.00")], id="window using up the free units: 1+5"
        ),
        pytest.param("40", "60", "30", [tier(1, "20", "2.00")], id="tier 1 already entered"),
        pytest.param(
            "120",
            "140",
            "30",
            [tier(1, "10", "1.00"), tier(2, "10", "20.50")],
            id="window entering tier 2 takes its flat amount",
        ),
        pytest.param(
            "130", "140", "30", [tier(2, "10", "20.50")], id="window starting on the bound"
        ),
        pytest.param("140", "150", "30", [tier(2, "10", "0.50")], id="tier 2 already entered"),
        pytest.param(
            "0", "100", "0", [tier(1, "100", "15.00")], id="no free units: the first window"
        ),
    ],
)
def test_graduated_slices_with_flat_amounts_and_free_units(
    start: str, end: str, free: str, charges: list[Charge]
) -> None:
    assert graduated_slices(FLAT_TIERS.tiers, D(start), D(end), free=D(free)) == charges


# Up to 10 seats at 5 each + 2.00; more, every seat at 4 + 10.00.
FLAT_SEATS = VolumePrice(
    tiers=(
        Tier(up_to=D(10), unit_price=D(5), flat_amount=D("2.00")),
        Tier(up_to=None, unit_price=D(4), flat_amount=D("10.00")),
    )
)


@pytest.mark.parametrize(
    ("quantity", "free", "unit_price", "amount"),
    [
        pytest.param("0", "0", "5", "0", id="no seats: no flat amount"),
        pytest.param("3", "0", "5", "17.00", id="inside tier 1: 15 + 2.00"),
        pytest.param("10", "0", "5", "52.00", id="on the bound: tier 1, 50 + 2.00"),
        pytest.param("11", "0", "4", "54.00", id="past it: tier 2, 44 + 10.00"),
        pytest.param("2", "2", "5", "0", id="wholly free: no flat amount"),
        pytest.param("12", "2", "5", "52.00", id="charged 10 chooses tier 1"),
        pytest.param("13", "2", "4", "54.00", id="charged 11 chooses tier 2"),
    ],
)
def test_volume_with_flat_amounts_and_free_quantity(
    quantity: str, free: str, unit_price: str, amount: str
) -> None:
    assert rate(FLAT_SEATS, D(quantity), group={}, product="seats", free=D(free)) == [
        Charge(D(quantity), D(unit_price), D(amount))
    ]


@pytest.mark.parametrize(
    ("price", "quantity", "free", "charge"),
    [
        pytest.param(
            PerUnitPrice(unit_price=D("0.01")),
            "250",
            "100",
            Charge(D(250), D("0.01"), D("1.50")),
            id="per unit: 150 charged",
        ),
        pytest.param(
            PerUnitPrice(unit_price=D("0.01")),
            "60",
            "100",
            Charge(D(60), D("0.01"), D(0)),
            id="per unit: wholly free",
        ),
        pytest.param(PACKAGES, "500", "500", Charge(D(500), None, D(0)), id="package: wholly free"),
        pytest.param(
            PACKAGES, "501", "500", Charge(D(501), None, D("0.50")), id="package: 1 charged"
        ),
        pytest.param(
            PACKAGES,
            "1600",
            "500",
            Charge(D(1_600), None, D("1.00")),
            id="package: 1,100 charged is two packages",
        ),
    ],
)
def test_free_quantity_on_other_prices(
    price: Price, quantity: str, free: str, charge: Charge
) -> None:
    assert rate(price, D(quantity), group={}, product="p", free=D(free)) == [charge]
