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
