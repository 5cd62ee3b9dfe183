"""Price changes (spec 5.1): the price in force, pieces of a split period, suffixes,
flat amounts prorated across pieces, the plan minimum over the whole period, breakdowns
of a split line, and the setup fields."""

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal as D

import pytest

from meterbill.core.aggregation import GroupKey
from meterbill.core.breakdown import break_down, line_usage
from meterbill.core.catalog import (
    Aggregation,
    FlatPrice,
    GraduatedPrice,
    PerUnitPrice,
    PriceChange,
    Tier,
)
from meterbill.core.errors import InvalidSetup
from meterbill.core.periods import Span, WindowSize, windows
from meterbill.core.rating import Line, piece_key, price_pieces, rate_period
from meterbill.core.setup import parse_setup, setup_to_document
from tests.builders import at, catalog, meter, plan, product

FEBRUARY = Span(at("2026-02-01"), at("2026-03-01"))
MID_FEBRUARY = at("2026-02-16")

COMPUTE = product(
    key="compute",
    name="Compute hours",
    meter="hours",
    price=PerUnitPrice(unit_price=D("0.40")),
    price_changes=(PriceChange(MID_FEBRUARY, PerUnitPrice(unit_price=D("0.35"))),),
)
STORAGE = product(
    key="storage",
    name="Storage",
    meter="hours",
    price=GraduatedPrice(
        tiers=(Tier(up_to=D(100), unit_price=D("0.10")), Tier(up_to=None, unit_price=D("0.05")))
    ),
    price_changes=(
        PriceChange(
            at("2026-02-16T06:00"),
            GraduatedPrice(
                tiers=(
                    Tier(up_to=D(100), unit_price=D("0.20")),
                    Tier(up_to=None, unit_price=D("0.08")),
                )
            ),
        ),
    ),
)
PLATFORM = product(
    key="platform",
    name="Platform fee",
    price=FlatPrice(amount=D("280.00")),
    price_changes=(PriceChange(at("2026-02-08"), FlatPrice(amount=D("560.00"))),),
)
CATALOG = catalog(
    meters=[meter(key="hours", aggregation=Aggregation.SUM)],
    products=[COMPUTE, STORAGE, PLATFORM],
)


Usage = Mapping[str, Mapping[GroupKey, D]]


def lines_of(plan_products: tuple[str, ...], usage: Usage) -> list[Line]:
    return rate_period(
        catalog=CATALOG,
        plan=plan(key="p", products=plan_products),
        period=FEBRUARY,
        currency="USD",
        usage=usage,
    )


def test_price_in_force_is_the_last_change_at_or_before_the_instant() -> None:
    assert COMPUTE.price_at(at("2026-02-15T23:59:59")) == PerUnitPrice(unit_price=D("0.40"))
    assert COMPUTE.price_at(MID_FEBRUARY) == PerUnitPrice(unit_price=D("0.35"))
    assert COMPUTE.price_at(at("2030-01-01")) == PerUnitPrice(unit_price=D("0.35"))


def test_per_unit_split_mid_period_gives_one_line_per_piece() -> None:
    usage: Usage = {
        piece_key("compute", FEBRUARY.start): {(): D(100)},
        piece_key("compute", MID_FEBRUARY): {(): D(200)},
    }
    lines = lines_of(("compute",), usage)
    # 100 × 0.40 = 40.00 before the change, 200 × 0.35 = 70.00 from it.
    assert [(line.name, line.quantity, line.unit_price, line.amount) for line in lines] == [
        ("Compute hours (from 2026-02-01)", D(100), D("0.40"), D("40.00")),
        ("Compute hours (from 2026-02-16)", D(200), D("0.35"), D("70.00")),
    ]
    assert lines[0].key != lines[1].key
    assert lines[1].since == MID_FEBRUARY


def test_a_piece_without_usage_has_no_line() -> None:
    usage: Usage = {piece_key("compute", MID_FEBRUARY): {(): D(10)}}
    lines = lines_of(("compute",), usage)
    assert [(line.name, line.amount) for line in lines] == [
        ("Compute hours (from 2026-02-16)", D("3.50"))
    ]


def test_graduated_split_counts_tiers_from_zero_in_each_piece() -> None:
    usage: Usage = {
        piece_key("storage", FEBRUARY.start): {(): D(150)},
        piece_key("storage", at("2026-02-16T06:00")): {(): D(120)},
    }
    lines = lines_of(("storage",), usage)
    # Piece 1: 100 × 0.10 + 50 × 0.05 = 10.00 + 2.50; piece 2 starts tiers again:
    # 100 × 0.20 + 20 × 0.08 = 20.00 + 1.60. The piece off midnight shows its hour.
    assert [(line.name, line.quantity, line.amount) for line in lines] == [
        ("Storage - Tier 1 (from 2026-02-01)", D(100), D("10.00")),
        ("Storage - Tier 2 (from 2026-02-01)", D(50), D("2.50")),
        ("Storage - Tier 1 (from 2026-02-16 06:00)", D(100), D("20.00")),
        ("Storage - Tier 2 (from 2026-02-16 06:00)", D(20), D("1.60")),
    ]


def test_flat_amount_is_prorated_across_pieces_whatever_prorate_says() -> None:
    lines = lines_of(("platform",), {})
    # February has 28 days: 7 days at 280.00 → 70.00, 21 days at 560.00 → 420.00.
    assert [(line.name, line.amount) for line in lines] == [
        ("Platform fee (from 2026-02-01)", D("70.00")),
        ("Platform fee (from 2026-02-08)", D("420.00")),
    ]


def test_a_change_at_the_period_boundary_does_not_split() -> None:
    march = replace(
        COMPUTE,
        price_changes=(PriceChange(at("2026-02-01"), PerUnitPrice(unit_price=D("0.30"))),),
    )
    pieces = price_pieces(march, FEBRUARY)
    assert [(piece.span, piece.price) for piece in pieces] == [
        (FEBRUARY, PerUnitPrice(unit_price=D("0.30")))
    ]
    lines = rate_period(
        catalog=catalog(meters=[meter(key="hours", aggregation=Aggregation.SUM)], products=[march]),
        plan=plan(key="p", products=("compute",)),
        period=FEBRUARY,
        currency="USD",
        usage={"compute": {(): D(100)}},
    )
    assert [(line.name, line.amount) for line in lines] == [("Compute hours", D("30.00"))]
    # A change at the end of the period does not split it either: the old price holds.
    assert len(price_pieces(COMPUTE, Span(at("2026-01-01"), MID_FEBRUARY))) == 1


def test_plan_minimum_compares_the_whole_period() -> None:
    usage: Usage = {
        piece_key("compute", FEBRUARY.start): {(): D(100)},
        piece_key("compute", MID_FEBRUARY): {(): D(200)},
    }
    lines = rate_period(
        catalog=CATALOG,
        plan=plan(key="p", products=("compute",), minimum=D("150.00")),
        period=FEBRUARY,
        currency="USD",
        usage=usage,
    )
    # 40.00 + 70.00 = 110.00 against 150.00: one true-up of 40.00.
    assert [(line.name, line.amount) for line in lines][-1] == ("Minimum spend true-up", D("40.00"))


def test_breakdown_windows_of_a_split_line_belong_to_its_piece() -> None:
    usage: Usage = {
        piece_key("compute", FEBRUARY.start): {(): D(100)},
        piece_key("compute", MID_FEBRUARY): {(): D(200)},
    }
    lines = lines_of(("compute", "platform"), usage)
    days = windows(FEBRUARY, WindowSize.DAY)
    # 100 spread on the 1st (60) and 15th (40); 200 on the 16th (150) and 28th (50).
    first = [D(0)] * 28
    first[0], first[14] = D(60), D(40)
    second = [D(0)] * 28
    second[15], second[27] = D(150), D(50)
    figures = break_down(
        lines,
        catalog=CATALOG,
        windows=days,
        usage={
            piece_key("compute", FEBRUARY.start): {(): first},
            piece_key("compute", MID_FEBRUARY): {(): second},
        },
        currency="USD",
    )
    before, after, flat_before, flat_after = figures
    assert [f.amount for f in before if f.amount] == [D("24.00"), D("16.00")]
    assert [f.amount for f in after if f.amount] == [D("52.50"), D("17.50")]
    # The flat piece from the 8th (420.00 over 21 days) is 20.00 a day, none before it.
    assert [f.amount for f in flat_after[:7]] == [D(0)] * 7
    assert {f.amount for f in flat_after[7:]} == {D("20.00")}
    assert {f.amount for f in flat_before[:7]} == {D("10.00")}
    assert sum(f.amount for f in flat_before) == D("70.00")


def test_a_split_line_reads_the_usage_of_its_piece_and_the_earlier_ones() -> None:
    usage: Usage = {
        piece_key("compute", FEBRUARY.start): {(): D(100)},
        piece_key("compute", MID_FEBRUARY): {(): D(200)},
    }
    before, after, flat_before, _ = lines_of(("compute", "platform"), usage)
    days = windows(FEBRUARY, WindowSize.DAY)
    first, second = [D(1)] * 28, [D(2)] * 28
    series: Mapping[str, Mapping[GroupKey, list[D]]] = {
        piece_key("compute", FEBRUARY.start): {(): first},
        piece_key("compute", MID_FEBRUARY): {(): second},
    }
    # The later piece's free quantity depends on the earlier piece's usage; not the reverse.
    assert line_usage(before, CATALOG, days, series) == (
        (piece_key("compute", FEBRUARY.start), tuple(first)),
    )
    assert line_usage(after, CATALOG, days, series) == (
        (piece_key("compute", FEBRUARY.start), tuple(first)),
        (piece_key("compute", MID_FEBRUARY), tuple(second)),
    )
    assert line_usage(flat_before, CATALOG, days, series) == ()  # no meter


def _document(changes: list[dict[str, object]]) -> dict[str, object]:
    return {
        "meters": [{"key": "hours", "name": "Hours", "event_type": "h", "aggregation": "count"}],
        "products": [
            {
                "key": "compute",
                "name": "Compute",
                "meter": "hours",
                "price": {"model": "per_unit", "unit_price": "0.40"},
                "price_changes": changes,
            }
        ],
    }


def test_setup_reads_and_writes_price_changes() -> None:
    change: dict[str, object] = {
        "effective_from": "2026-02-16T00:00:00Z",
        "price": {"model": "per_unit", "unit_price": "0.35"},
    }
    parsed = parse_setup(_document([change]))
    assert parsed.products[0].price_changes == (
        PriceChange(MID_FEBRUARY, PerUnitPrice(unit_price=D("0.35"))),
    )
    written = setup_to_document(catalog(products=list(parsed.products)), ())
    products = written["products"]
    assert isinstance(products, list)
    assert products[0]["price_changes"] == [change]


@pytest.mark.parametrize(
    ("changes", "path", "words"),
    [
        (
            [{"effective_from": "2026-02-16T00:30:00Z", "price": {"model": "flat", "amount": "1"}}],
            "products[0].price_changes[0].effective_from",
            "whole UTC hour",
        ),
        (
            [
                {
                    "effective_from": "2026-03-01T00:00:00Z",
                    "price": {"model": "per_unit", "unit_price": "1"},
                },
                {
                    "effective_from": "2026-03-01T00:00:00Z",
                    "price": {"model": "per_unit", "unit_price": "2"},
                },
            ],
            "products[0].price_changes[1].effective_from",
            "after the previous change",
        ),
        (
            [{"effective_from": "2026-03-01T00:00:00Z", "price": {"model": "flat", "amount": "1"}}],
            "products[0].price_changes[0].price.model",
            "flat",
        ),
        (
            [{"effective_from": "2026-03-01T00:00:00Z"}],
            "products[0].price_changes[0].price",
            "required",
        ),
        (
            [{"effective_from": "2026-03-01T00:00:00Z", "price": {"model": "per_unit"}, "x": 1}],
            "products[0].price_changes[0].x",
            "unknown field",
        ),
    ],
)
def test_setup_refuses_bad_price_changes(
    changes: list[dict[str, object]], path: str, words: str
) -> None:
    with pytest.raises(InvalidSetup) as caught:
        parse_setup(_document(changes))
    assert caught.value.path == path
    assert words in str(caught.value)


def test_free_quantity_is_used_up_in_time_order_across_the_pieces() -> None:
    free = replace(COMPUTE, free_quantity=D(150))
    usage: Usage = {
        piece_key("compute", FEBRUARY.start): {(): D(100)},
        piece_key("compute", MID_FEBRUARY): {(): D(200)},
    }
    lines = rate_period(
        catalog=catalog(meters=[meter(key="hours", aggregation=Aggregation.SUM)], products=[free]),
        plan=plan(key="p", products=("compute",)),
        period=FEBRUARY,
        currency="USD",
        usage=usage,
    )
    # 150 free units per period: the first piece's 100 are all free (0.00), the second
    # piece has the 50 left, so 150 × 0.35 = 52.50 (not 50 × 0.35 with 150 free again).
    assert [(line.name, line.quantity, line.amount) for line in lines] == [
        ("Compute hours (from 2026-02-01)", D(100), D("0.00")),
        ("Compute hours (from 2026-02-16)", D(200), D("52.50")),
    ]
    days = windows(FEBRUARY, WindowSize.DAY)
    first = [D(0)] * 28
    first[0], first[14] = D(60), D(40)
    second = [D(0)] * 28
    second[15], second[27] = D(150), D(50)
    before, after = break_down(
        lines,
        catalog=catalog(meters=[meter(key="hours", aggregation=Aggregation.SUM)], products=[free]),
        windows=days,
        usage={
            piece_key("compute", FEBRUARY.start): {(): first},
            piece_key("compute", MID_FEBRUARY): {(): second},
        },
        currency="USD",
    )
    assert [f.amount for f in before if f.amount] == []
    # The 16th uses the last 50 free units: 100 × 0.35 = 35.00; the 28th 50 × 0.35.
    assert [f.amount for f in after if f.amount] == [D("35.00"), D("17.50")]


@pytest.mark.parametrize(
    ("minimum", "maximum", "expected"),
    [
        (None, D("100.00"), ("Compute hours - maximum", D("-10.00"))),
        (D("150.00"), None, ("Compute hours - minimum", D("40.00"))),
        (None, D("110.00"), None),
    ],
)
def test_product_minimum_and_maximum_compare_all_split_lines_of_the_period(
    minimum: D | None, maximum: D | None, expected: tuple[str, D] | None
) -> None:
    bounded = replace(COMPUTE, minimum=minimum, maximum=maximum)
    usage: Usage = {
        piece_key("compute", FEBRUARY.start): {(): D(100)},
        piece_key("compute", MID_FEBRUARY): {(): D(200)},
    }
    lines = rate_period(
        catalog=catalog(
            meters=[meter(key="hours", aggregation=Aggregation.SUM)], products=[bounded]
        ),
        plan=plan(key="p", products=("compute",)),
        period=FEBRUARY,
        currency="USD",
        usage=usage,
    )
    # 40.00 + 70.00 = 110.00 over both pieces.
    adjustments = [(line.name, line.amount) for line in lines if line.since is None]
    assert adjustments == ([] if expected is None else [expected])
