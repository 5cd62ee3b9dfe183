"""Tests for reading, checking and writing setup documents (``meterbill.core.setup``)."""

import json
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from meterbill.core.catalog import (
    Aggregation,
    Anchor,
    Catalog,
    CreditKind,
    FlatPrice,
    GraduatedPrice,
    Interval,
    PackagePrice,
    PerUnitPrice,
    Settings,
    Subscription,
    Tier,
    VolumePrice,
)
from meterbill.core.errors import InvalidSetup
from meterbill.core.setup import (
    SetupDocument,
    check_references,
    customer_to_document,
    parse_customer,
    parse_setup,
    setup_to_document,
)

# The golden scenarios live beside the repository; METERBILL_SCENARIOS points elsewhere.
SCENARIOS = Path(
    os.environ.get(
        "METERBILL_SCENARIOS", Path(__file__).resolve().parents[3] / "shared" / "scenarios"
    )
)


def load_scenario(name: str) -> object:
    text = (SCENARIOS / name / "setup.yaml").read_text(encoding="utf-8")
    loaded: object = yaml.safe_load(text)
    return loaded


def to_catalog(document: SetupDocument) -> Catalog:
    """What the apply service does with a document on an empty database."""
    return Catalog(
        settings=document.settings or Settings(),
        meters={meter.key: meter for meter in document.meters},
        products={product.key: product for product in document.products},
        plans={plan.key: plan for plan in document.plans},
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# A document using every field of the spec, small enough to mutate case by case below.
BASE = """
settings: {grace_period_hours: "48"}
meters:
  - key: bytes_written
    name: Bytes written
    event_type: [produce, produce_v2]
    aggregation: sum
    property: bytes
    filters: {api: [kafka, 7, true]}
    group_by: [cluster_id, memory_option]
  - {key: api_calls, name: API calls, event_type: api_call, aggregation: count}
products:
  - key: per_gb
    name: Per GB
    meter: bytes_written
    quantity_divisor: "1000000000"
    line_item_type: bandwidth
    description: "GB -- {cluster_id}"
    unit: GB
    price:
      model: per_unit
      by: memory_option
      unit_prices: {"4_gb": "0.25", "0.5_gb": "0.04"}
      default_unit_price: "0.30"
  - key: written
    name: Written
    meter: bytes_written
    price:
      model: graduated
      tiers:
        - {up_to: "100", unit_price: "0.01"}
        - {up_to: 1000, unit_price: "0.0075"}
        - {unit_price: "0.0055"}
  - key: calls
    name: Calls
    meter: api_calls
    price: {model: package, package_size: "1000", package_price: "0.50"}
  - key: seats
    name: Seats
    meter: api_calls
    price: {model: volume, tiers: [{up_to: "10", unit_price: "5"}, {unit_price: "4"}]}
  - key: support
    name: Support
    line_item_type: support
    price: {model: flat, amount: "500.00", prorate: true}
plans:
  - {key: byoc, name: BYOC, interval: month, products: [written, support], minimum: "100.00"}
  - {key: weekly, name: Weekly, interval: week, anchor: subscription,
     products: [per_gb, calls, seats]}
customers:
  - id: acme
    name: Acme Corp
    currency: EUR
    owner_type: Team
    billing_email: billing@acme.example
    additional_billing_information: "123 Main St"
    aliases: [ti_acme]
    resources:
      - {id: ti, kind: tenant}
      - {id: wi, kind: workspace, name: prod, parent: ti}
      - {id: vci, kind: cluster, parent: wi, attributes: {region: us-east-1, zone: 3}}
    subscriptions:
      - {plan: byoc, starts_at: "2026-01-01T00:00:00Z", ends_at: null}
      - {plan: weekly, starts_at: "2026-01-05T02:00:00+02:00", ends_at: 2026-03-01T00:00:00Z}
    credits:
      - {key: welcome, kind: free, amount: "400.00", starts_at: "2026-01-01T00:00:00Z"}
      - {key: commit-2026, kind: commit, amount: "1000", starts_at: "2026-01-01T00:00:00.25Z",
         expires_at: "2027-01-01T00:00:00Z", priority: 1}
      - {key: topup-1, kind: prepaid, amount: "250.00", starts_at: "2026-01-15T00:00:00Z",
         price: "200.00"}
      - {key: monthly-free, kind: free, amount: "100.00", starts_at: "2026-01-31T09:00:00Z",
         recurrence: month, until: "2026-07-01T00:00:00Z"}
  - {id: globex, name: Globex}
"""


def base() -> dict[str, object]:
    loaded = yaml.safe_load(BASE)
    assert isinstance(loaded, dict)
    return loaded


DELETE = object()


def patched(changes: dict[str, object]) -> dict[str, object]:
    """The base document with ``{"a.0.b": value}`` changes applied (DELETE removes a field)."""
    document = base()
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: object = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else _child(node, part)
        if isinstance(node, list):
            node[int(last)] = value
        elif isinstance(node, dict):
            if value is DELETE:
                del node[last]
            else:
                node[last] = value
    return document


def _child(node: object, part: str) -> object:
    assert isinstance(node, dict)
    child: object = node[part]
    return child


# --------------------------------------------------------------------------- scenarios


def test_warp_scenario_parses() -> None:
    document = parse_setup(load_scenario("warp"))

    assert document.settings is None
    assert [meter.key for meter in document.meters] == [
        "cluster_minutes",
        "bytes_written",
        "stored_gib",
    ]
    assert document.meters[2].aggregation is Aggregation.TIME_WEIGHTED
    products = {product.key: product for product in document.products}
    written = products["gib_written"]
    assert written.quantity_divisor == Decimal("1073741824")
    assert written.price == GraduatedPrice(
        tiers=(
            Tier(up_to=Decimal("51200"), unit_price=Decimal("0.01")),
            Tier(up_to=Decimal("307200"), unit_price=Decimal("0.0075")),
            Tier(up_to=None, unit_price=Decimal("0.0055")),
        )
    )
    assert products["support_pro"].price == FlatPrice(amount=Decimal("1000.00"))
    assert products["support_pro"].meter is None
    assert products["support_pro"].line_item_type == "support"
    assert products["cluster_minutes"].line_item_type == "usage"

    (customer,) = document.customers
    assert customer.aliases == ("ti_acme",)
    assert [r.parent for r in customer.resources] == [
        None,
        "ti_acme",
        "ti_acme",
        "wi_prod",
        "wi_dev",
    ]
    assert customer.resources[3].attributes == (("region", "us-east-1"),)
    assert customer.subscriptions == (Subscription(plan="byoc", starts_at=utc("2026-01-01")),)
    welcome, commit = customer.credits
    assert (welcome.kind, welcome.priority, welcome.expires_at) == (CreditKind.FREE, 5, None)
    assert commit.expires_at == utc("2027-01-01")


def test_typesense_scenario_parses() -> None:
    document = parse_setup(load_scenario("typesense"))

    node, bandwidth, support = document.products
    assert isinstance(node.price, PerUnitPrice)
    assert node.price.unit_price_for({"memory_option": "4_gb"}) == Decimal("0.25")
    assert node.price.unit_price_for({"memory_option": "0.5_gb"}) == Decimal("0.04")
    assert node.price.unit_price_for({"memory_option": "64_gb"}) is None
    assert node.line_item_type == "node"
    assert bandwidth.description == "Bandwidth -- {cluster_id} (per GB)"
    assert bandwidth.price == PerUnitPrice(unit_price=Decimal("0.09"))
    assert support.line_item_type == "support"

    (customer,) = document.customers
    assert customer.additional_billing_information == "123 Main St\nSan Francisco, CA 94102"
    (prepaid,) = customer.credits
    assert prepaid.kind is CreditKind.PREPAID
    assert prepaid.starts_at == datetime(2026, 1, 15, 12, tzinfo=UTC)
    assert prepaid.purchase_price == Decimal("1000.00")


@pytest.mark.parametrize("scenario", ["warp", "typesense"])
def test_scenario_references_are_complete(scenario: str) -> None:
    document = parse_setup(load_scenario(scenario))

    check_references(to_catalog(document), document.customers)


# --------------------------------------------------------------------------- round trips


def _round_trip_cases() -> list[object]:
    return [
        pytest.param(lambda: load_scenario("warp"), id="warp"),
        pytest.param(lambda: load_scenario("typesense"), id="typesense"),
        pytest.param(base, id="every-field"),
    ]


@pytest.mark.parametrize("load", _round_trip_cases())
def test_document_round_trips(load: object) -> None:
    assert callable(load)
    original = parse_setup(load())
    catalog = to_catalog(original)

    written = setup_to_document(catalog, original.customers)
    # JSON-ready: survives json without a custom encoder.
    again = parse_setup(json.loads(json.dumps(written)))

    assert to_catalog(again) == catalog
    assert again.customers == original.customers
    assert setup_to_document(to_catalog(again), again.customers) == written


def test_written_document_matches_scenario_file() -> None:
    """Field order and the omission of defaults follow the spec's example."""
    source = load_scenario("warp")
    document = parse_setup(source)

    written = setup_to_document(to_catalog(document), document.customers)

    assert isinstance(source, dict)
    assert list(written) == ["meters", "products", "plans", "customers"]
    assert written["products"] == source["products"]
    assert written["plans"] == source["plans"]


def test_customer_round_trips_alone() -> None:
    (customer, _globex) = parse_setup(base()).customers

    written = customer_to_document(customer)

    assert parse_customer(written, "customer") == customer
    assert list(written) == [
        "id",
        "name",
        "currency",
        "owner_type",
        "billing_email",
        "additional_billing_information",
        "aliases",
        "resources",
        "subscriptions",
        "credits",
    ]
    assert written["subscriptions"] == [
        {"plan": "byoc", "starts_at": "2026-01-01T00:00:00Z"},
        {"plan": "weekly", "starts_at": "2026-01-05T00:00:00Z", "ends_at": "2026-03-01T00:00:00Z"},
    ]


def test_written_times_keep_only_nonzero_microseconds() -> None:
    (customer, _globex) = parse_setup(base()).customers

    credits = customer_to_document(customer)["credits"]

    assert isinstance(credits, list)
    assert [credit["starts_at"] for credit in credits] == [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00.250000Z",
        "2026-01-15T00:00:00Z",
        "2026-01-31T09:00:00Z",
    ]


# --------------------------------------------------------------------------- values


def test_every_field_comes_out_typed() -> None:
    document = parse_setup(base())

    assert document.settings == Settings(grace_period_hours=Decimal(48))
    bytes_written = document.meters[0]
    assert bytes_written.event_types == ("produce", "produce_v2")
    # YAML typed 7 and true; filters compare event properties as text.
    assert bytes_written.filters == (("api", frozenset({"kafka", "7", "true"})),)
    per_gb, written, calls, seats, support = document.products
    assert per_gb.price == PerUnitPrice(
        by="memory_option",
        unit_prices=(("0.5_gb", Decimal("0.04")), ("4_gb", Decimal("0.25"))),
        default_unit_price=Decimal("0.30"),
    )
    assert isinstance(written.price, GraduatedPrice)
    assert written.price.tiers[1].up_to == Decimal(1000)
    assert calls.price == PackagePrice(package_size=Decimal(1000), package_price=Decimal("0.50"))
    assert isinstance(seats.price, VolumePrice)
    assert support.price == FlatPrice(amount=Decimal("500.00"), prorate=True)
    byoc, weekly = document.plans
    assert (byoc.interval, byoc.minimum, byoc.anchor) == (
        Interval.MONTH,
        Decimal("100.00"),
        Anchor.CALENDAR,
    )
    assert (weekly.interval, weekly.minimum, weekly.anchor) == (
        Interval.WEEK,
        None,
        Anchor.SUBSCRIPTION,
    )
    (acme, _globex) = document.customers
    monthly = acme.credits[3]
    assert (monthly.recurrence, monthly.until) == (
        Interval.MONTH,
        datetime(2026, 7, 1, tzinfo=UTC),
    )
    assert acme.credits[0].recurrence is None


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        pytest.param("week", Interval.WEEK, id="week"),
        pytest.param("month", Interval.MONTH, id="month"),
        pytest.param("quarter", Interval.QUARTER, id="quarter"),
        pytest.param("year", Interval.YEAR, id="year"),
    ],
)
def test_every_interval_is_read_and_written(interval: str, expected: Interval) -> None:
    document = patched({"plans.0.interval": interval, "plans.0.anchor": "subscription"})

    (byoc, _weekly) = parse_setup(document).plans
    written = setup_to_document(to_catalog(parse_setup(document)), ())

    assert (byoc.interval, byoc.anchor) == (expected, Anchor.SUBSCRIPTION)
    plans = written["plans"]
    assert isinstance(plans, list)
    assert plans[0] == {
        "key": "byoc",
        "name": "BYOC",
        "interval": interval,
        "anchor": "subscription",
        "products": ["written", "support"],
        "minimum": "100.00",
    }


def test_a_calendar_anchor_is_the_default_and_written_as_such() -> None:
    document = patched({"plans.0.anchor": "calendar"})

    (byoc, _weekly) = parse_setup(document).plans
    written = setup_to_document(to_catalog(parse_setup(document)), ())

    assert byoc.anchor is Anchor.CALENDAR
    plans = written["plans"]
    assert isinstance(plans, list)
    assert "anchor" not in plans[0]


def test_tier_flat_amounts_and_free_quantity_are_read_and_written_back() -> None:
    document = patched(
        {
            "products.1.free_quantity": "50",
            "products.1.price.tiers.0.flat_amount": "5.00",
            "products.1.price.tiers.1.flat_amount": "20",
            "products.3.price.tiers.1.flat_amount": "0.50",
            "products.2.free_quantity": "0",
        }
    )
    catalog = to_catalog(parse_setup(document))

    written = setup_to_document(catalog, ())

    written_price = catalog.products["written"].price
    seats_price = catalog.products["seats"].price
    assert isinstance(written_price, GraduatedPrice)
    assert isinstance(seats_price, VolumePrice)
    assert catalog.products["written"].free_quantity == Decimal(50)
    assert catalog.products["calls"].free_quantity == Decimal(0)
    assert [tier.flat_amount for tier in written_price.tiers] == [
        Decimal("5.00"),
        Decimal(20),
        Decimal(0),
    ]
    assert [tier.flat_amount for tier in seats_price.tiers] == [Decimal(0), Decimal("0.50")]
    assert written["products"] == [
        {
            "key": "per_gb",
            "name": "Per GB",
            "meter": "bytes_written",
            "quantity_divisor": "1000000000",
            "line_item_type": "bandwidth",
            "description": "GB -- {cluster_id}",
            "unit": "GB",
            "price": {
                "model": "per_unit",
                "by": "memory_option",
                "unit_prices": {"0.5_gb": "0.04", "4_gb": "0.25"},
                "default_unit_price": "0.30",
            },
        },
        {
            "key": "written",
            "name": "Written",
            "meter": "bytes_written",
            "price": {
                "model": "graduated",
                "tiers": [
                    {"up_to": "100", "unit_price": "0.01", "flat_amount": "5.00"},
                    {"up_to": "1000", "unit_price": "0.0075", "flat_amount": "20"},
                    {"unit_price": "0.0055"},
                ],
            },
            "free_quantity": "50",
        },
        # A free quantity of 0 and no flat amount are the defaults: left out.
        {
            "key": "calls",
            "name": "Calls",
            "meter": "api_calls",
            "price": {"model": "package", "package_size": "1000", "package_price": "0.50"},
        },
        {
            "key": "seats",
            "name": "Seats",
            "meter": "api_calls",
            "price": {
                "model": "volume",
                "tiers": [
                    {"up_to": "10", "unit_price": "5"},
                    {"unit_price": "4", "flat_amount": "0.50"},
                ],
            },
        },
        {
            "key": "support",
            "name": "Support",
            "line_item_type": "support",
            "price": {"model": "flat", "amount": "500.00", "prorate": True},
        },
    ]
    assert to_catalog(parse_setup(json.loads(json.dumps(written)))) == catalog


def test_a_recurring_credit_is_written_back() -> None:
    (customer, _globex) = parse_setup(base()).customers

    credits = customer_to_document(customer)["credits"]

    assert isinstance(credits, list)
    assert credits[3] == {
        "key": "monthly-free",
        "kind": "free",
        "amount": "100.00",
        "starts_at": "2026-01-31T09:00:00Z",
        "recurrence": "month",
        "until": "2026-07-01T00:00:00Z",
    }


def test_times_become_utc() -> None:
    (customer, _globex) = parse_setup(base()).customers

    _byoc, weekly = customer.subscriptions
    assert weekly.starts_at == datetime(2026, 1, 5, tzinfo=UTC)
    assert weekly.starts_at.tzinfo is UTC
    # Unquoted in YAML: already a datetime when parse_setup sees it.
    assert weekly.ends_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert customer.resources[2].attributes == (("region", "us-east-1"), ("zone", "3"))


def test_naive_datetime_from_yaml_is_utc() -> None:
    document = {
        "id": "a",
        "name": "A",
        "subscriptions": [{"plan": "p", "starts_at": datetime(2026, 1, 1)}],
    }

    customer = parse_customer(document, "customer")

    assert customer.subscriptions[0].starts_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_defaults() -> None:
    document = parse_setup(
        {
            "meters": [{"key": "m", "name": "M", "event_type": "e", "aggregation": "count"}],
            "products": [
                {
                    "key": "u",
                    "name": "U",
                    "meter": "m",
                    "price": {"model": "per_unit", "unit_price": 1},
                },
                {"key": "f", "name": "F", "price": {"model": "flat", "amount": "5"}},
            ],
            "customers": [
                {
                    "id": "c",
                    "name": "C",
                    "credits": [
                        {
                            "key": "k",
                            "kind": "free",
                            "amount": "1",
                            "starts_at": "2026-01-01T00:00:00Z",
                        }
                    ],
                }
            ],
        }
    )

    assert document.settings is None
    assert document.plans == ()
    usage, flat = document.products
    assert (usage.quantity_divisor, usage.line_item_type) == (Decimal(1), "usage")
    assert (flat.line_item_type, flat.price) == (
        "flat",
        FlatPrice(amount=Decimal(5), prorate=False),
    )
    (customer,) = document.customers
    assert (customer.currency, customer.aliases, customer.resources) == ("USD", (), ())
    (credit,) = customer.credits
    assert (credit.priority, credit.expires_at, credit.price) == (10, None, None)
    assert (credit.recurrence, credit.until) == (None, None)


def test_empty_document_is_valid() -> None:
    assert parse_setup({}) == SetupDocument(None, (), (), (), ())


# --------------------------------------------------------------------------- bad documents


@dataclass(frozen=True)
class Bad:
    id: str
    changes: dict[str, object]
    path: str
    problem: str
    document: object = field(default=None)

    def build(self) -> object:
        return self.document if self.document is not None else patched(self.changes)


BAD_DOCUMENTS = [
    Bad("top-level-not-a-mapping", {}, "", "must be a mapping, got a list", document=[1]),
    Bad("unknown-top-level-field", {"colour": "red"}, "colour", "unknown field 'colour'"),
    Bad(
        "unknown-field-in-tier",
        {"products.1.price.tiers.0.colour": "red"},
        "products[1].price.tiers[0].colour",
        "unknown field 'colour'",
    ),
    Bad(
        "unknown-field-in-resource",
        {"customers.0.resources.1.colour": "red"},
        "customers[0].resources[1].colour",
        "unknown field 'colour'",
    ),
    Bad(
        "field-of-another-price-model",
        {"products.2.price.tiers": []},
        "products[2].price.tiers",
        "unknown field 'tiers'",
    ),
    Bad(
        "float-price",
        {"products.1.price.tiers.0.unit_price": 0.01},
        "products[1].price.tiers[0].unit_price",
        'must be a decimal string like "0.01", got float 0.01; quote it',
    ),
    Bad(
        "float-grace-period",
        {"settings.grace_period_hours": 1.5},
        "settings.grace_period_hours",
        "got float 1.5",
    ),
    Bad(
        "text-price",
        {"products.2.price.package_price": "fifty cents"},
        "products[2].price.package_price",
        "got 'fifty cents'",
    ),
    Bad(
        "nan-price",
        {"products.4.price.amount": "NaN"},
        "products[4].price.amount",
        'must be a decimal string like "0.01"',
    ),
    Bad(
        "negative-amount",
        {"customers.0.credits.0.amount": "-1"},
        "customers[0].credits[0].amount",
        "must not be negative",
    ),
    Bad(
        "negative-tier-flat-amount",
        {"products.1.price.tiers.0.flat_amount": "-5.00"},
        "products[1].price.tiers[0].flat_amount",
        "must not be negative",
    ),
    Bad(
        "float-volume-flat-amount",
        {"products.3.price.tiers.1.flat_amount": 2.5},
        "products[3].price.tiers[1].flat_amount",
        "got float 2.5; quote it",
    ),
    Bad(
        "negative-free-quantity",
        {"products.1.free_quantity": "-1"},
        "products[1].free_quantity",
        "must not be negative",
    ),
    Bad(
        "text-free-quantity",
        {"products.2.free_quantity": "lots"},
        "products[2].free_quantity",
        "got 'lots'",
    ),
    Bad(
        "free-quantity-on-a-flat-product",
        {"products.4.free_quantity": "1"},
        "products[4].free_quantity",
        "only a usage product has a free quantity",
    ),
    Bad(
        "flat-amount-on-a-package-price",
        {"products.2.price.flat_amount": "1"},
        "products[2].price.flat_amount",
        "unknown field 'flat_amount'",
    ),
    Bad(
        "zero-divisor",
        {"products.0.quantity_divisor": "0"},
        "products[0].quantity_divisor",
        "must be greater than 0",
    ),
    Bad(
        "bool-price",
        {"products.0.price.default_unit_price": True},
        "products[0].price.default_unit_price",
        "got bool true",
    ),
    Bad(
        "tiers-out-of-order",
        {"products.1.price.tiers.1.up_to": "10"},
        "products[1].price.tiers[1].up_to",
        "tiers must have increasing up_to (10 after 100)",
    ),
    Bad(
        "last-tier-with-up-to",
        {"products.1.price.tiers.2.up_to": "5000"},
        "products[1].price.tiers[2].up_to",
        "the last tier must not have up_to",
    ),
    Bad(
        "middle-tier-without-up-to",
        {"products.1.price.tiers.1.up_to": DELETE},
        "products[1].price.tiers[1].up_to",
        "is required on every tier but the last",
    ),
    Bad("no-tiers", {"products.3.price.tiers": []}, "products[3].price.tiers", "at least one tier"),
    Bad(
        "unknown-aggregation",
        {"meters.0.aggregation": "avg"},
        "meters[0].aggregation",
        "must be one of count, sum, max, unique_count, latest, time_weighted; got 'avg'",
    ),
    Bad(
        "sum-without-property",
        {"meters.0.property": DELETE},
        "meters[0].property",
        "is required for aggregation sum",
    ),
    Bad(
        "group-by-not-a-list",
        {"meters.0.group_by": "cluster_id"},
        "meters[0].group_by",
        "must be a list, got string 'cluster_id'",
    ),
    Bad(
        "float-filter-value",
        {"meters.0.filters": {"version": [1.1]}},
        "meters[0].filters.version[0]",
        "got float 1.1; quote it",
    ),
    Bad("bad-meter-key", {"meters.0.key": "Bytes"}, "meters[0].key", "must match [a-z0-9_]+"),
    Bad(
        "duplicate-meter-key",
        {"meters.1.key": "bytes_written"},
        "meters[1].key",
        "duplicate meter key 'bytes_written' (first at meters[0].key)",
    ),
    Bad(
        "unknown-price-model",
        {"products.0.price.model": "tiered"},
        "products[0].price.model",
        "must be one of per_unit, graduated, volume, package, flat; got 'tiered'",
    ),
    Bad(
        "missing-price-model",
        {"products.0.price.model": DELETE},
        "products[0].price.model",
        "is required",
    ),
    Bad(
        "unit-price-and-by",
        {"products.0.price.unit_price": "1"},
        "products[0].price.by",
        "cannot be combined with 'unit_price'",
    ),
    Bad(
        "flat-product-with-meter",
        {"products.4.meter": "api_calls"},
        "products[4].meter",
        "a flat-priced product has no meter",
    ),
    Bad(
        "usage-product-without-meter",
        {"products.2.meter": DELETE},
        "products[2].meter",
        "is required unless the price model is flat",
    ),
    Bad(
        "reserved-line-item-type",
        {"products.2.line_item_type": "minimum"},
        "products[2].line_item_type",
        "must match",
    ),
    Bad(
        "malformed-description",
        {"products.0.description": "GB -- {cluster_id"},
        "products[0].description",
        "is not a valid template",
    ),
    Bad(
        "positional-placeholder",
        {"products.0.description": "GB -- {}"},
        "products[0].description",
        "must be a plain group_by name",
    ),
    Bad(
        "unknown-interval",
        {"plans.0.interval": "fortnight"},
        "plans[0].interval",
        "must be one of month, week, quarter, year; got 'fortnight'",
    ),
    Bad(
        "unknown-anchor",
        {"plans.1.anchor": "billing_day"},
        "plans[1].anchor",
        "must be one of calendar, subscription; got 'billing_day'",
    ),
    Bad("anchor-not-text", {"plans.1.anchor": 15}, "plans[1].anchor", "must be a string"),
    Bad(
        "unknown-recurrence",
        {"customers.0.credits.3.recurrence": "daily"},
        "customers[0].credits[3].recurrence",
        "must be one of month, week, quarter, year; got 'daily'",
    ),
    Bad(
        "prepaid-recurs",
        {"customers.0.credits.2.recurrence": "month"},
        "customers[0].credits[2].recurrence",
        "a prepaid credit cannot recur",
    ),
    Bad(
        "until-without-recurrence",
        {"customers.0.credits.1.until": "2026-06-01T00:00:00Z"},
        "customers[0].credits[1].until",
        "only a recurring credit (with recurrence) has until",
    ),
    Bad(
        "until-not-after-start",
        {"customers.0.credits.3.until": "2026-01-31T09:00:00Z"},
        "customers[0].credits[3].until",
        "must be after starts_at",
    ),
    Bad(
        "until-not-a-time",
        {"customers.0.credits.3.until": "next summer"},
        "customers[0].credits[3].until",
        "must be an RFC 3339 time",
    ),
    Bad(
        "duplicate-plan-product",
        {"plans.0.products": ["written", "written"]},
        "plans[0].products[1]",
        "duplicate value 'written'",
    ),
    Bad("bad-customer-id", {"customers.0.id": "acme corp"}, "customers[0].id", "must match"),
    Bad(
        "duplicate-customer-id",
        {"customers.1.id": "acme"},
        "customers[1].id",
        "duplicate customer id 'acme'",
    ),
    Bad("bad-currency", {"customers.0.currency": "eur"}, "customers[0].currency", "3-letter"),
    Bad(
        "resource-cycle",
        {"customers.0.resources.0.parent": "vci"},
        "customers[0].resources[0].parent",
        "cycle ti -> vci -> wi -> ti",
    ),
    Bad(
        "resource-own-parent",
        {"customers.0.resources.1.parent": "wi"},
        "customers[0].resources[1].parent",
        "cycle wi -> wi",
    ),
    Bad(
        "unknown-parent",
        {"customers.0.resources.2.parent": "nope"},
        "customers[0].resources[2].parent",
        "unknown resource 'nope'",
    ),
    Bad(
        "duplicate-resource-id",
        {"customers.0.resources.2.id": "wi"},
        "customers[0].resources[2].id",
        "duplicate resource id 'wi'",
    ),
    Bad(
        "attribute-not-scalar",
        {"customers.0.resources.2.attributes": {"tags": ["a"]}},
        "customers[0].resources[2].attributes.tags",
        "must be a string, number or boolean, got a list",
    ),
    Bad(
        "date-without-time",
        {"customers.0.subscriptions.0.starts_at": "2026-01-01"},
        "customers[0].subscriptions[0].starts_at",
        'must be an RFC 3339 time like "2026-01-01T00:00:00Z"',
    ),
    Bad(
        "time-without-offset",
        {"customers.0.subscriptions.0.starts_at": "2026-01-01T00:00:00"},
        "customers[0].subscriptions[0].starts_at",
        "got '2026-01-01T00:00:00'",
    ),
    Bad(
        "impossible-date",
        {"customers.0.subscriptions.0.starts_at": "2026-02-30T00:00:00Z"},
        "customers[0].subscriptions[0].starts_at",
        "is not a valid time",
    ),
    Bad(
        "ends-before-start",
        {"customers.0.subscriptions.0.ends_at": "2025-12-31T00:00:00Z"},
        "customers[0].subscriptions[0].ends_at",
        "must be after starts_at",
    ),
    Bad(
        "expires-at-start",
        {"customers.0.credits.1.expires_at": "2026-01-01T00:00:00.25Z"},
        "customers[0].credits[1].expires_at",
        "must be after starts_at",
    ),
    Bad(
        "unknown-credit-kind",
        {"customers.0.credits.0.kind": "bonus"},
        "customers[0].credits[0].kind",
        "must be one of free, commit, prepaid; got 'bonus'",
    ),
    Bad(
        "price-on-free-credit",
        {"customers.0.credits.0.price": "1"},
        "customers[0].credits[0].price",
        "only a prepaid credit has a price",
    ),
    Bad(
        "text-priority",
        {"customers.0.credits.0.priority": "high"},
        "customers[0].credits[0].priority",
        "must be an integer",
    ),
    Bad(
        "duplicate-credit-key",
        {"customers.0.credits.2.key": "welcome"},
        "customers[0].credits[2].key",
        "duplicate credit key 'welcome'",
    ),
    Bad(
        "alias-used-by-two-customers",
        {"customers.1.aliases": ["ti_acme"]},
        "customers[1].aliases[0]",
        "alias 'ti_acme' is already used by customers[0]",
    ),
    Bad(
        "alias-is-another-customers-id",
        {"customers.1.aliases": ["acme"]},
        "customers[1].aliases[0]",
        "alias 'acme' is already used by customers[0]",
    ),
    Bad(
        "missing-customer-name",
        {"customers.1.name": DELETE},
        "customers[1].name",
        "is required",
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in BAD_DOCUMENTS])
def test_bad_document_is_refused_with_its_path(case: Bad) -> None:
    with pytest.raises(InvalidSetup) as raised:
        parse_setup(case.build())

    assert raised.value.path == case.path
    assert case.problem in raised.value.problem


def test_every_bad_document_differs_from_the_valid_base() -> None:
    # Guards the table: a change that patched nothing would test the valid base document.
    for case in BAD_DOCUMENTS:
        assert case.build() != base(), case.id
    parse_setup(base())


def test_parse_customer_prefixes_paths() -> None:
    with pytest.raises(InvalidSetup) as raised:
        parse_customer({"id": "a", "name": "A", "aliases": ["b c"]}, "body")

    assert raised.value.path == "body.aliases[0]"


# --------------------------------------------------------------------------- references


REFERENCE_ERRORS = [
    pytest.param(
        {"products.1.meter": "nope"},
        "products.written.meter",
        "unknown meter 'nope'",
        id="unknown-meter",
    ),
    pytest.param(
        {"products.0.price.by": "region"},
        "products.per_gb.price.by",
        "'region' is not in the group_by of meter 'bytes_written' (cluster_id, memory_option)",
        id="by-not-in-group-by",
    ),
    pytest.param(
        {"products.0.description": "GB -- {region}"},
        "products.per_gb.description",
        "placeholder {region} is not in the group_by",
        id="placeholder-not-in-group-by",
    ),
    pytest.param(
        {"products.4.description": "Support -- {cluster_id}"},
        "products.support.description",
        "placeholder {cluster_id} is not in the group_by of meter None (none)",
        id="placeholder-in-flat-product",
    ),
    pytest.param(
        {"plans.1.products": ["per_gb", "gone"]},
        "plans.weekly.products[1]",
        "unknown product 'gone'",
        id="unknown-plan-product",
    ),
    pytest.param(
        {"customers.0.subscriptions.0.plan": "gold"},
        "customers.acme.subscriptions[0].plan",
        "unknown plan 'gold'",
        id="unknown-plan",
    ),
    pytest.param(
        {"customers.0.subscriptions.1.plan": "byoc"},
        "customers.acme.subscriptions[1]",
        "overlaps subscriptions[0] to the same plan 'byoc'",
        id="overlapping-subscriptions",
    ),
]


@pytest.mark.parametrize(("changes", "path", "problem"), REFERENCE_ERRORS)
def test_broken_reference_is_refused(changes: dict[str, object], path: str, problem: str) -> None:
    document = parse_setup(patched(changes))

    with pytest.raises(InvalidSetup) as raised:
        check_references(to_catalog(document), document.customers)

    assert raised.value.path == path
    assert problem in raised.value.problem


def test_back_to_back_subscriptions_to_one_plan_do_not_overlap() -> None:
    document = parse_setup(base())
    acme, globex = document.customers
    first = Subscription("byoc", utc("2026-01-01"), utc("2026-02-01"))
    second = Subscription("byoc", utc("2026-02-01"))

    check_references(to_catalog(document), [replace(acme, subscriptions=(second, first)), globex])


def test_references_use_path_of() -> None:
    document = parse_setup(patched({"products.3.meter": "nope"}))
    positions = {("products", p.key): f"products[{i}]" for i, p in enumerate(document.products)}

    with pytest.raises(InvalidSetup) as raised:
        check_references(
            to_catalog(document),
            document.customers,
            path_of=lambda section, key: positions.get((section, key), f"{section}.{key}"),
        )

    assert raised.value.path == "products[3].meter"


def test_references_see_the_merged_catalog() -> None:
    """A document may refer to a meter an earlier document created."""
    earlier = parse_setup(base())
    later = parse_setup(
        {
            "products": [
                {
                    "key": "more",
                    "name": "More",
                    "meter": "api_calls",
                    "price": {"model": "per_unit", "unit_price": "1"},
                }
            ]
        }
    )
    merged = to_catalog(earlier)
    merged.products.update({product.key: product for product in later.products})

    check_references(merged, earlier.customers)


def test_a_product_unit_is_for_usage_products_and_read_trimmed() -> None:
    catalog = to_catalog(parse_setup(patched({"products.0.unit": " GiB "})))
    assert catalog.products["per_gb"].unit == "GiB"
    blank = to_catalog(parse_setup(patched({"products.0.unit": "  "})))
    assert blank.products["per_gb"].unit is None
    products = base()["products"]
    assert isinstance(products, list)
    flat = next(
        index for index, product in enumerate(products) if product["price"]["model"] == "flat"
    )
    with pytest.raises(InvalidSetup, match="only a usage product has a unit"):
        parse_setup(patched({f"products.{flat}.unit": "seats"}))
