"""A setup change that would alter what an issued invoice was rated from is refused whole,
naming the field's path and the invoice (spec 5.2); shown-only fields, later price changes,
drafts and void invoices are not protected. SQLite and PostgreSQL."""

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from meterbill.core.protection import Refused
from meterbill.services.catalog import apply_setup, current_setup
from meterbill.services.ingest import rebuild_meter
from meterbill.services.invoicing import void_invoice
from tests.services.support import World, call, open_world, setup


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


Document = dict[str, object]


def base() -> Document:
    acme: Document = {
        "id": "acme",
        "name": "Acme",
        "subscriptions": [{"plan": "basic", "starts_at": "2026-01-01T00:00:00Z"}],
        "credits": [
            {
                "key": "welcome",
                "kind": "free",
                "amount": "1.00",
                "starts_at": "2026-01-01T00:00:00Z",
            },
            {"key": "later", "kind": "free", "amount": "5.00", "starts_at": "2026-06-01T00:00:00Z"},
        ],
    }
    return setup([acme])


def item(document: Document, section: str, index: int) -> dict[str, object]:
    items = document[section]
    assert isinstance(items, list)
    found = items[index]
    assert isinstance(found, dict)
    return found


def sub(document: Document) -> dict[str, object]:
    subscriptions = item(document, "customers", 0)["subscriptions"]
    assert isinstance(subscriptions, list)
    return subscriptions[0]  # type: ignore[no-any-return]


def grant(document: Document, index: int) -> dict[str, object]:
    credits = item(document, "customers", 0)["credits"]
    assert isinstance(credits, list)
    return credits[index]  # type: ignore[no-any-return]


def apply(world: World, document: Document) -> None:
    with world.database.transaction() as session:
        apply_setup(session, document, now=at("2026-02-10T00:00:00"), rebuild=rebuild_meter)


def _price(d: Document) -> None:
    item(d, "products", 0)["price"] = {"model": "per_unit", "unit_price": "2.00"}


def _change_inside(d: Document) -> None:
    item(d, "products", 0)["price_changes"] = [
        {
            "effective_from": "2026-01-20T00:00:00Z",
            "price": {"model": "per_unit", "unit_price": "2.00"},
        }
    ]


def _divisor(d: Document) -> None:
    item(d, "products", 0)["quantity_divisor"] = "10"


def _product_meter(d: Document) -> None:
    item(d, "products", 0)["meter"] = "units"
    item(d, "products", 0)["price"] = {"model": "per_unit", "unit_price": "1.00"}


def _event_type(d: Document) -> None:
    item(d, "meters", 0)["event_type"] = "call_v2"


def _group_by(d: Document) -> None:
    item(d, "meters", 0)["group_by"] = ["region"]


def _plan_products(d: Document) -> None:
    item(d, "plans", 0)["products"] = ["calls", "units"]


def _plan_interval(d: Document) -> None:
    item(d, "plans", 0)["interval"] = "week"


def _plan_minimum(d: Document) -> None:
    item(d, "plans", 0)["minimum"] = "10.00"


def _starts_at(d: Document) -> None:
    sub(d)["starts_at"] = "2026-01-05T00:00:00Z"


def _ends_at(d: Document) -> None:
    sub(d)["ends_at"] = "2026-01-20T00:00:00Z"


def _grant_amount(d: Document) -> None:
    grant(d, 0)["amount"] = "2.00"


def _grant_expiry(d: Document) -> None:
    grant(d, 0)["expires_at"] = "2026-01-15T00:00:00Z"


def _grant_priority(d: Document) -> None:
    grant(d, 0)["priority"] = 1


REFUSED: list[tuple[Callable[[Document], None], str]] = [
    (_price, "products[0].price.unit_price"),
    (_change_inside, "products[0].price_changes[0].effective_from"),
    (_divisor, "products[0].quantity_divisor"),
    (_product_meter, "products[0].meter"),
    (_event_type, "meters[0].event_type"),
    (_group_by, "meters[0].group_by"),
    (_plan_products, "plans[0].products"),
    (_plan_interval, "plans[0].interval"),
    (_plan_minimum, "plans[0].minimum"),
    (_starts_at, "customers[0].subscriptions[0].starts_at"),
    (_ends_at, "customers[0].subscriptions[0].ends_at"),
    (_grant_amount, "customers[0].credits[0].amount"),
    (_grant_expiry, "customers[0].credits[0].expires_at"),
    (_grant_priority, "customers[0].credits[0].priority"),
]


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    with open_world(db_url, base(), now=at("2026-01-01T00:00:00")) as opened:
        opened.ingest(
            [call("1", "2026-01-10T00:00:00Z"), call("2", "2026-01-11T00:00:00Z")],
            now=at("2026-01-12T00:00:00"),
        )
        (january,) = opened.close(at("2026-02-02T00:00:00")).issued
        # 2 calls at 1.00, 1.00 of the welcome grant drawn: invoice 1 is due 1.00.
        assert (january.number, january.totals.total) == (1, D("1.00"))
        yield opened


@pytest.mark.parametrize(("change", "path"), REFUSED, ids=[c.__name__[1:] for c, _ in REFUSED])
def test_a_change_under_an_issued_invoice_is_refused_whole(
    world: World, change: Callable[[Document], None], path: str
) -> None:
    before = _stored(world)
    document = base()
    item(document, "customers", 0)["name"] = "Acme Renamed"  # allowed, but refused with it
    change(document)
    with pytest.raises(Refused) as caught:
        apply(world, document)
    assert caught.value.path == path
    assert str(caught.value).startswith(
        f"{path}: cannot change: issued invoice 1 (customer acme, period "
        "2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z)"
    )
    assert _stored(world) == before


def _stored(world: World) -> dict[str, object]:
    with world.database.transaction() as session:
        return current_setup(session)


def test_shown_only_fields_and_later_changes_are_allowed(world: World) -> None:
    document = base()
    item(document, "products", 0)["name"] = "Calls (renamed)"
    item(document, "products", 0)["description"] = "Every call"
    item(document, "meters", 0)["name"] = "Call count"
    item(document, "plans", 0)["name"] = "Basic (renamed)"
    item(document, "customers", 0)["name"] = "Acme Renamed"
    item(document, "customers", 0)["aliases"] = ["acme-2"]
    item(document, "products", 0)["price_changes"] = [
        {
            "effective_from": "2026-02-01T00:00:00Z",  # the end of the issued period
            "price": {"model": "per_unit", "unit_price": "2.00"},
        }
    ]
    sub(document)["ends_at"] = "2026-03-01T00:00:00Z"
    grant(document, 1)["amount"] = "6.00"  # never drawn
    item(document, "products", 1)["price"] = {"model": "per_unit", "unit_price": "11.00"}
    apply(world, document)
    world.ingest([call("3", "2026-02-03T00:00:00Z")], now=at("2026-02-10T00:00:00"))
    views = world.invoices("acme", as_of=at("2026-02-10T00:00:00"))
    assert [(v.number, v.totals.subtotal) for v in views] == [(1, D("2.00")), (None, D("2.00"))]
    assert views[1].lines[0].name == "Calls (renamed)"
    # Once a price change is in, moving it before the issued period's end is refused.
    moved = copy.deepcopy(document)
    changes = item(moved, "products", 0)["price_changes"]
    assert isinstance(changes, list)
    changes[0]["effective_from"] = "2026-01-31T00:00:00Z"
    with pytest.raises(Refused) as caught:
        apply(world, moved)
    assert caught.value.path == "products[0].price_changes[0].effective_from"


def test_a_void_invoice_protects_nothing(world: World) -> None:
    with world.database.transaction() as session:
        void_invoice(session, _id(world, 1), now=at("2026-02-03T00:00:00"))
    document = base()
    _price(document)
    _grant_amount(document)
    apply(world, document)  # accepted: nothing issued is rated from it any more
    world.ingest([call("3", "2026-02-03T00:00:00Z")], now=at("2026-02-03T00:00:00"))
    views = world.invoices("acme", as_of=at("2026-02-03T00:00:00"))
    assert (views[0].number, views[0].status) == (1, "void")
    assert [line.amount for line in views[-1].lines] == [D("2.00")]


def _id(world: World, number: int) -> str:
    views = world.invoices("acme", as_of=at("2026-02-03T00:00:00"))
    return next(v.id for v in views if v.number == number)


# --- discounts and taxes (spec 6 under 5.2) ---------------------------------------------------


def adjusted() -> Document:
    """Acme on ``basic`` (calls at 1.00) with 20 % off its first two periods and VAT 20 %."""
    acme: Document = {
        "id": "acme",
        "name": "Acme",
        "subscriptions": [{"plan": "basic", "starts_at": "2026-01-01T00:00:00Z"}],
        "discounts": [
            {"key": "launch", "percent": "20", "starts_at": "2026-01-01T00:00:00Z", "periods": 2}
        ],
        "taxes": ["vat"],
    }
    document = setup([acme])
    document["settings"] = {"taxes": [{"key": "vat", "name": "VAT 20%", "rate": "0.20"}]}
    return document


def discount(document: Document, index: int = 0) -> dict[str, object]:
    discounts = item(document, "customers", 0)["discounts"]
    assert isinstance(discounts, list)
    return discounts[index]  # type: ignore[no-any-return]


def tax(document: Document) -> dict[str, object]:
    settings = document["settings"]
    assert isinstance(settings, dict)
    return settings["taxes"][0]  # type: ignore[no-any-return]


@pytest.fixture
def adjusted_world(db_url: str) -> Iterator[World]:
    with open_world(db_url, adjusted(), now=at("2026-01-01T00:00:00")) as opened:
        opened.ingest(
            [call(f"jan-{n}", "2026-01-10T00:00:00Z") for n in range(10)],
            now=at("2026-01-12T00:00:00"),
        )
        (january,) = opened.close(at("2026-02-02T00:00:00")).issued
        # 10 calls = 10.00; 20 % off: -2.00; VAT 20 % of 8.00 = 1.60; total 9.60.
        assert [(line.name, line.amount) for line in january.lines] == [
            ("Calls", D("10.00")),
            ("Discount launch", D("-2.00")),
            ("VAT 20%", D("1.60")),
        ]
        assert january.totals.total == D("9.60")
        yield opened


def _percent(d: Document) -> None:
    discount(d)["percent"] = "30"


def _products(d: Document) -> None:
    discount(d)["products"] = ["calls"]  # the same 2.00 here, but not the same discount


def _later_start(d: Document) -> None:
    discount(d)["starts_at"] = "2026-01-15T00:00:00Z"  # January would no longer have it


def _new_discount(d: Document) -> None:
    discounts = item(d, "customers", 0)["discounts"]
    assert isinstance(discounts, list)
    discounts.append({"key": "goodwill", "amount": "5.00", "starts_at": "2026-01-01T00:00:00Z"})


def _removed(d: Document) -> None:
    item(d, "customers", 0)["discounts"] = []


DISCOUNT_REFUSED: list[tuple[Callable[[Document], None], str]] = [
    (_percent, "customers[0].discounts[0].percent"),
    (_products, "customers[0].discounts[0].products"),
    (_later_start, "customers[0].discounts[0].starts_at"),
    (_new_discount, "customers[0].discounts[1].starts_at"),
    (_removed, "customers[0].discounts"),
]


@pytest.mark.parametrize(
    ("change", "path"), DISCOUNT_REFUSED, ids=[c.__name__[1:] for c, _ in DISCOUNT_REFUSED]
)
def test_a_discount_change_that_reaches_an_issued_period_is_refused(
    adjusted_world: World, change: Callable[[Document], None], path: str
) -> None:
    before = _stored(adjusted_world)
    document = adjusted()
    change(document)
    with pytest.raises(Refused) as caught:
        apply(adjusted_world, document)
    assert caught.value.path == path
    assert str(caught.value).startswith(
        f"{path}: cannot change: issued invoice 1 (customer acme, period "
        "2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z)"
    )
    assert _stored(adjusted_world) == before


def test_late_usage_keeps_the_discount_of_its_period_and_is_taxed_where_it_is_billed(
    adjusted_world: World,
) -> None:
    """Allowed: ``launch`` ends after January (periods 1), a new discount from February,
    and a new VAT rate: none changes what January was rated from. Five late January calls
    are corrected with January's 20 % and taxed on February at February's rate."""
    document = adjusted()
    discount(document)["periods"] = 1
    discounts = item(document, "customers", 0)["discounts"]
    assert isinstance(discounts, list)
    discounts.append({"key": "spring", "percent": "50", "starts_at": "2026-02-01T00:00:00Z"})
    tax(document)["rate"] = "0.25"
    tax(document)["name"] = "VAT 25%"
    apply(adjusted_world, document)
    adjusted_world.ingest(
        [call(f"jan-late-{n}", "2026-01-20T00:00:00Z") for n in range(5)]
        + [call("feb-1", "2026-02-03T00:00:00Z"), call("feb-2", "2026-02-04T00:00:00Z")],
        now=at("2026-02-10T00:00:00"),
    )
    january, february = adjusted_world.invoices("acme", as_of=at("2026-02-10T00:00:00"))
    assert [(line.name, line.amount) for line in january.lines] == [
        ("Calls", D("10.00")),
        ("Discount launch", D("-2.00")),
        ("VAT 20%", D("1.60")),
    ]
    # February: 2 calls, 50 % off them (spring; launch has ended): 2.00 - 1.00. January
    # re-rated: 15 calls, 20 % off: 15.00 - 3.00, so +5.00 and -1.00 more. VAT 25 % of
    # 1.00 + 4.00 = 1.25.
    assert [(line.name, line.amount) for line in february.lines] == [
        ("Calls", D("2.00")),
        ("Discount spring", D("-1.00")),
        ("Calls (late usage, 2026-01-01)", D("5.00")),
        ("Discount launch (late usage, 2026-01-01)", D("-1.00")),
        ("VAT 25%", D("1.25")),
    ]
    assert (february.totals.subtotal, february.totals.tax) == (D("5.00"), D("1.25"))


def test_taxes_and_tax_exempt_change_freely(adjusted_world: World) -> None:
    """Tax lines are stored on issued invoices and never corrected: a new rate, another
    tax or a product made ``tax_exempt`` change drafts only."""
    document = adjusted()
    tax(document).update({"rate": "0.10", "name": "VAT 10%"})
    item(document, "products", 0)["tax_exempt"] = True
    apply(adjusted_world, document)
    adjusted_world.ingest([call("feb-1", "2026-02-03T00:00:00Z")], now=at("2026-02-10T00:00:00"))
    january, february = adjusted_world.invoices("acme", as_of=at("2026-02-10T00:00:00"))
    assert january.totals.tax == D("1.60")
    # 1 call, 20 % off (launch's second period). Calls are exempt now, but a discount over
    # all lines stays taxable (spec 6.5): the base is -0.20, VAT 10 % of it -0.02.
    assert [(line.name, line.amount) for line in february.lines] == [
        ("Calls", D("1.00")),
        ("Discount launch", D("-0.20")),
        ("VAT 10%", D("-0.02")),
    ]
