"""Price changes through the services on SQLite and PostgreSQL (spec 5.1): a period split
at a change, measured from buckets per piece; its breakdown; late usage of an issued period
re-rated at that period's prices; and a plan change in mid-period (spec 5.3)."""

from datetime import UTC, datetime
from decimal import Decimal as D

from meterbill.core.periods import WindowSize
from meterbill.services.breakdowns import breakdown_of
from meterbill.services.catalog import apply_setup
from meterbill.services.ingest import rebuild_meter
from tests.services.support import World, amounts, call, open_world, own, setup


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


ACME: dict[str, object] = {
    "id": "acme",
    "name": "Acme",
    "subscriptions": [{"plan": "metered", "starts_at": "2026-01-01T00:00:00Z"}],
}


def units(price: dict[str, object], changes: list[dict[str, object]]) -> dict[str, object]:
    return setup(
        [ACME],
        products=[
            {
                "key": "units",
                "name": "Units",
                "meter": "units",
                "price": price,
                "price_changes": changes,
            }
        ],
        plans=[{"key": "metered", "name": "Metered", "interval": "month", "products": ["units"]}],
    )


GRADUATED: dict[str, object] = {
    "model": "graduated",
    "tiers": [{"up_to": "100", "unit_price": "0.10"}, {"unit_price": "0.05"}],
}
RAISED: dict[str, object] = {
    "model": "graduated",
    "tiers": [{"up_to": "100", "unit_price": "0.20"}, {"unit_price": "0.08"}],
}


def apply(world: World, document: dict[str, object]) -> None:
    with world.database.transaction() as session:
        apply_setup(session, document, now=at("2026-01-01T00:00:00"), rebuild=rebuild_meter)


def test_a_change_inside_a_period_splits_its_lines_and_breakdown(db_url: str) -> None:
    change: dict[str, object] = {"effective_from": "2026-01-16T06:00:00Z", "price": RAISED}
    with open_world(db_url, units(GRADUATED, [change]), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(
            [
                call("a", "2026-01-03T10:00:00Z", units=90),
                call("b", "2026-01-16T05:59:59Z", units=60),  # sub-hour edge, old price
                call("c", "2026-01-16T06:00:00Z", units=30),  # first instant of the new one
                call("d", "2026-01-20T12:30:00Z", units=100),
            ],
            now=at("2026-01-21T00:00:00"),
        )
        (january,) = world.invoices("acme", as_of=at("2026-01-21T00:00:00"))
        # Before: 150 units = 100 × 0.10 + 50 × 0.05 = 10.00 + 2.50. From 06:00 on the 16th
        # tiers start again: 130 units = 100 × 0.20 + 30 × 0.08 = 20.00 + 2.40.
        assert amounts(january) == [
            ("Units - Tier 1 (from 2026-01-01)", D("10.00")),
            ("Units - Tier 2 (from 2026-01-01)", D("2.50")),
            ("Units - Tier 1 (from 2026-01-16 06:00)", D("20.00")),
            ("Units - Tier 2 (from 2026-01-16 06:00)", D("2.40")),
        ]
        assert january.totals.subtotal == D("34.90")
        with world.database.transaction() as session:
            result = breakdown_of(
                session, january, size=WindowSize.DAY, as_of=at("2026-01-21T00:00:00")
            )
        rows = [
            (entry.window.start.day, line.name, figure.quantity, figure.amount)
            for entry in result.windows
            for line, figure in entry.lines
            if figure.amount or figure.quantity
        ]
        # The 16th is cut at 06:00: its 60 units before belong to the old piece, its 30
        # after to the new one; no window of one piece shows the other's usage.
        assert rows == [
            (3, "Units - Tier 1 (from 2026-01-01)", D(90), D("9.00")),
            (16, "Units - Tier 1 (from 2026-01-01)", D(10), D("1.00")),
            (16, "Units - Tier 2 (from 2026-01-01)", D(50), D("2.50")),
            (16, "Units - Tier 1 (from 2026-01-16 06:00)", D(30), D("6.00")),
            (20, "Units - Tier 1 (from 2026-01-16 06:00)", D(70), D("14.00")),
            (20, "Units - Tier 2 (from 2026-01-16 06:00)", D(30), D("2.40")),
        ]
        closed = world.close(at("2026-02-02T00:00:00"))
        assert [amounts(view) for view in closed.issued] == [amounts(january)]
        # Issued lines keep their piece: read back, they are the same lines.
        (issued, _) = world.invoices("acme", as_of=at("2026-02-02T00:00:00"))
        assert [line.since for line in issued.lines] == [line.since for line in january.lines]


def test_free_quantity_and_maximum_span_the_pieces_of_a_split_period(db_url: str) -> None:
    change: dict[str, object] = {"effective_from": "2026-01-16T06:00:00Z", "price": RAISED}
    document = units(GRADUATED, [change])
    products = document["products"]
    assert isinstance(products, list)
    products[0].update({"free_quantity": "120", "maximum": "25.00"})
    with open_world(db_url, document, now=at("2026-01-01T00:00:00")) as world:
        world.ingest(
            [
                call("a", "2026-01-03T10:00:00Z", units=90),
                call("b", "2026-01-16T05:59:59Z", units=60),
                call("c", "2026-01-16T06:00:00Z", units=30),
                call("d", "2026-01-20T12:30:00Z", units=100),
            ],
            now=at("2026-01-21T00:00:00"),
        )
        (january,) = world.invoices("acme", as_of=at("2026-01-21T00:00:00"))
        # 120 free units per period: the old piece's 150 use all of them (Tier 1 shows
        # 120 free + 30 × 0.10 = 3.00); the new piece has none left: 100 × 0.20 + 30 ×
        # 0.08 = 20.00 + 2.40. The maximum compares both pieces: 25.40 - 25.00.
        assert amounts(january) == [
            ("Units - Tier 1 (from 2026-01-01)", D("3.00")),
            ("Units - Tier 1 (from 2026-01-16 06:00)", D("20.00")),
            ("Units - Tier 2 (from 2026-01-16 06:00)", D("2.40")),
            ("Units - maximum", D("-0.40")),
        ]
        assert january.totals.subtotal == D("25.00")
        with world.database.transaction() as session:
            result = breakdown_of(
                session, january, size=WindowSize.DAY, as_of=at("2026-01-21T00:00:00")
            )
        rows = [
            (entry.window.start.day, line.name, figure.quantity, figure.amount)
            for entry in result.windows
            for line, figure in entry.lines
            if (figure.amount or figure.quantity) and line.name != "Units - maximum"
        ]
        # The 3rd is free; the 16th before 06:00 uses the last 30 free units and pays 30.
        assert rows == [
            (3, "Units - Tier 1 (from 2026-01-01)", D(90), D("0.00")),
            (16, "Units - Tier 1 (from 2026-01-01)", D(60), D("3.00")),
            (16, "Units - Tier 1 (from 2026-01-16 06:00)", D(30), D("6.00")),
            (20, "Units - Tier 1 (from 2026-01-16 06:00)", D(70), D("14.00")),
            (20, "Units - Tier 2 (from 2026-01-16 06:00)", D(30), D("2.40")),
        ]
        maximum = [
            figure.amount
            for entry in result.windows
            for line, figure in entry.lines
            if line.name == "Units - maximum"
        ]
        assert sum(maximum, D(0)) == D("-0.40")


def test_late_usage_is_rerated_at_the_prices_of_its_period(db_url: str) -> None:
    # The example: October issued at 0.05 a unit (2,000 units, 100.00); the price
    # goes to 0.10 from November; one late October unit is worth 0.05, not +100.10.
    october: dict[str, object] = {"model": "graduated", "tiers": [{"unit_price": "0.05"}]}
    november: dict[str, object] = {"model": "graduated", "tiers": [{"unit_price": "0.10"}]}
    document = units(october, [])
    acme: dict[str, object] = {
        **ACME,
        "subscriptions": [{"plan": "metered", "starts_at": "2026-10-01T00:00:00Z"}],
    }
    document["customers"] = [acme]
    with open_world(db_url, document, now=at("2026-10-01T00:00:00")) as world:
        world.ingest([call("oct", "2026-10-10T00:00:00Z", units=2000)], now=at("2026-10-11"))
        (issued,) = world.close(at("2026-11-02T00:00:00")).issued
        assert issued.totals.total == D("100.00")
        raised = units(october, [{"effective_from": "2026-11-01T00:00:00Z", "price": november}])
        raised["customers"] = [acme]
        apply(world, raised)
        world.ingest(
            [
                call("late", "2026-10-31T23:00:00Z", units=1),
                call("nov", "2026-11-05T00:00:00Z", units=10),
            ],
            now=at("2026-11-06T00:00:00"),
        )
        views = world.invoices("acme", as_of=at("2026-11-06T00:00:00"))
        assert amounts(views[-1]) == [
            ("Units", D("1.00")),
            ("Units (late usage, 2026-10-01)", D("0.05")),
        ]


def test_a_plan_change_inside_a_period_gives_two_partial_invoices(db_url: str) -> None:
    # Spec 5.3: basic (1.00 a call) to the 15th, extra (10.00 a call) from the 15th.
    acme: dict[str, object] = {
        "id": "acme",
        "name": "Acme",
        "subscriptions": [
            {
                "plan": "basic",
                "starts_at": "2026-01-01T00:00:00Z",
                "ends_at": "2026-01-15T00:00:00Z",
            },
            {"plan": "extra", "starts_at": "2026-01-15T00:00:00Z"},
        ],
    }
    with open_world(db_url, setup([acme]), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(
            [
                call("1", "2026-01-10T00:00:00Z"),
                call("2", "2026-01-14T23:59:59Z"),
                call("3", "2026-01-15T00:00:00Z"),
            ],
            now=at("2026-01-20T00:00:00"),
        )
        closed = world.close(at("2026-02-02T00:00:00"))
        assert [
            (v.ref.plan, v.ref.period.start.day, v.ref.period.end.day, amounts(v))
            for v in closed.issued
        ] == [
            ("basic", 1, 15, [("Calls", D("2.00"))]),
            ("extra", 15, 1, [("Premium calls", D("10.00"))]),
        ]
        assert [own(v) == list(v.lines) for v in closed.issued] == [True, True]
