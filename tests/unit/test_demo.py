"""The demo data: a valid setup document and realistic, deterministic events for it."""

from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterbill.core.aggregation import measure
from meterbill.core.catalog import (
    Catalog,
    CreditKind,
    Customer,
    GraduatedPrice,
    Meter,
    PackagePrice,
    PerUnitPrice,
    Settings,
    Subscription,
)
from meterbill.core.events import Event, validate_event
from meterbill.core.periods import Span
from meterbill.core.rating import rate_period
from meterbill.core.setup import SetupDocument, check_references, parse_setup
from meterbill.demo.data import DEMO_CUSTOMERS, demo_events, demo_setup, demo_start
from meterbill.services.jsonio import dumps, loads_exact

NOW = datetime(2026, 11, 21, 10, tzinfo=UTC)
START = datetime(2026, 9, 1, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
GIB = 1024**3


def to_catalog(document: SetupDocument) -> Catalog:
    return Catalog(
        settings=document.settings or Settings(),
        meters={meter.key: meter for meter in document.meters},
        products={product.key: product for product in document.products},
        plans={plan.key: plan for plan in document.plans},
    )


@pytest.fixture(scope="module")
def document() -> SetupDocument:
    return parse_setup(demo_setup(now=NOW))


@pytest.fixture(scope="module")
def raw_events() -> list[dict[str, object]]:
    return list(demo_events(now=NOW))


@pytest.fixture(scope="module")
def events(raw_events: list[dict[str, object]]) -> list[Event]:
    """Every demo event as ingest sees it: encoded, decoded exactly and validated."""
    return [validate_event(loads_exact(dumps(event)), now=NOW) for event in raw_events]


@pytest.fixture(scope="module")
def owners(document: SetupDocument) -> dict[str, str]:
    """Customer id or alias → customer id."""
    result = {customer.id: customer.id for customer in document.customers}
    for customer in document.customers:
        result.update(dict.fromkeys(customer.aliases, customer.id))
    return result


def customer(document: SetupDocument, customer_id: str) -> Customer:
    (found,) = [c for c in document.customers if c.id == customer_id]
    return found


def meter(document: SetupDocument, key: str) -> Meter:
    (found,) = [m for m in document.meters if m.key == key]
    return found


def usage(
    document: SetupDocument, events: list[Event], key: str, start: datetime, end: datetime
) -> dict[tuple[str, ...], Decimal]:
    return measure(meter(document, key), events, Span(start, end))


# --------------------------------------------------------------------------- setup


def test_setup_parses_and_references_resolve(document: SetupDocument) -> None:
    check_references(to_catalog(document), document.customers)

    assert [m.key for m in document.meters] == [
        "cluster_minutes",
        "bytes_written",
        "stored_gib",
        "api_calls",
        "peak_partitions",
        "node_hours",
        "bandwidth_bytes",
    ]
    assert {p.key: p.meter for p in document.products} == {
        "cluster_minutes": "cluster_minutes",
        "gib_written": "bytes_written",
        "gib_hours": "stored_gib",
        "api_calls": "api_calls",
        "support_pro": None,
        "node": "node_hours",
        "bandwidth": "bandwidth_bytes",
        "support_business": None,
    }
    byoc, cloud = document.plans
    assert (byoc.key, byoc.interval.value, byoc.minimum) == ("byoc", "month", Decimal("500.00"))
    assert byoc.products == (
        "cluster_minutes",
        "gib_written",
        "gib_hours",
        "api_calls",
        "support_pro",
    )
    assert (cloud.key, cloud.products) == ("cloud", ("node", "bandwidth", "support_business"))
    assert (
        tuple(c.id for c in document.customers) == DEMO_CUSTOMERS == ("acme-stream", "acme-search")
    )


def test_setup_prices(document: SetupDocument) -> None:
    products = {p.key: p for p in document.products}
    written = products["gib_written"]
    assert written.quantity_divisor == Decimal(GIB)
    assert isinstance(written.price, GraduatedPrice)
    assert [(t.up_to, t.unit_price) for t in written.price.tiers] == [
        (Decimal("51200"), Decimal("0.01")),
        (Decimal("307200"), Decimal("0.0075")),
        (None, Decimal("0.0055")),
    ]
    assert products["cluster_minutes"].price == PerUnitPrice(unit_price=Decimal("0.0023148"))
    assert products["gib_hours"].price == PerUnitPrice(unit_price=Decimal("0.0000137"))
    assert products["api_calls"].price == PackagePrice(Decimal("1000"), Decimal("0.50"))
    node = products["node"]
    assert isinstance(node.price, PerUnitPrice)
    assert dict(node.price.unit_prices) == {
        "0.5_gb": Decimal("0.04"),
        "1_gb": Decimal("0.08"),
        "4_gb": Decimal("0.25"),
        "8_gb": Decimal("0.50"),
    }
    assert node.line_item_type == "node"
    assert node.description == (
        "Node -- {cluster_id} -- {memory_option}, {vcpu_option}, {region} (per node hour)"
    )
    bandwidth = products["bandwidth"]
    assert (bandwidth.quantity_divisor, bandwidth.line_item_type) == (
        Decimal(1000**3),
        "bandwidth",
    )
    assert bandwidth.price == PerUnitPrice(unit_price=Decimal("0.09"))


def test_setup_customers(document: SetupDocument) -> None:
    stream = customer(document, "acme-stream")
    assert stream.aliases == ("ti_acme",)
    assert [(r.id, r.kind, r.parent) for r in stream.resources] == [
        ("ti_acme", "tenant", None),
        ("wi_prod", "workspace", "ti_acme"),
        ("wi_dev", "workspace", "ti_acme"),
        ("vci_events", "cluster", "wi_prod"),
        ("vci_logs", "cluster", "wi_dev"),
    ]
    assert stream.resources[3].attributes == (("region", "us-east-1"),)
    assert stream.resources[4].attributes == (("region", "ap-south-1"),)
    assert stream.subscriptions == (Subscription(plan="byoc", starts_at=START),)
    free, commit = stream.credits
    assert (free.kind, free.amount, free.starts_at) == (CreditKind.FREE, Decimal("400.00"), START)
    assert (commit.kind, commit.amount, commit.priority) == (
        CreditKind.COMMIT,
        Decimal("2000.00"),
        1,
    )
    assert (commit.starts_at, commit.expires_at) == (START, datetime(2027, 9, 1, tzinfo=UTC))

    search = customer(document, "acme-search")
    assert [(r.id, r.name) for r in search.resources] == [
        ("0197kdlrfsubahw4p", "prod-search"),
        ("az9p28gwxfdsye40d", "staging-search"),
    ]
    assert search.billing_email == "billing@acme.example"
    assert search.additional_billing_information == "123 Main St\nSan Francisco, CA 94102"
    assert search.subscriptions == (Subscription(plan="cloud", starts_at=START),)
    (prepaid,) = search.credits
    assert prepaid.kind is CreditKind.PREPAID
    assert (prepaid.amount, prepaid.purchase_price) == (Decimal("1000.00"), Decimal("1000.00"))
    assert prepaid.starts_at == datetime(2026, 9, 15, 12, tzinfo=UTC)


def test_setup_is_plain_json() -> None:
    setup = demo_setup(now=NOW)
    assert loads_exact(dumps(setup)) == setup
    assert setup == demo_setup(now=NOW - timedelta(days=3))  # same month, same document


@pytest.mark.parametrize(
    ("now", "start"),
    [
        ("2026-11-21T10:00:00+00:00", "2026-09-01T00:00:00+00:00"),
        ("2026-01-15T08:30:00+00:00", "2025-11-01T00:00:00+00:00"),
        ("2026-02-28T23:59:59+00:00", "2025-12-01T00:00:00+00:00"),
        ("2026-03-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),
        ("2026-03-01T00:30:00+01:00", "2025-12-01T00:00:00+00:00"),  # 2026-02-28T23:30Z
    ],
)
def test_subscriptions_start_two_months_before_nows_month(now: str, start: str) -> None:
    moment = datetime.fromisoformat(now)
    expected = datetime.fromisoformat(start)
    assert demo_start(now=moment) == expected
    parsed = parse_setup(demo_setup(now=moment))
    assert [c.subscriptions[0].starts_at for c in parsed.customers] == [expected, expected]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        demo_setup(now=datetime(2026, 11, 21))
    with pytest.raises(ValueError, match="no time zone"):
        next(demo_events(now=datetime(2026, 11, 21)))


# --------------------------------------------------------------------------- events


def test_events_are_lazy() -> None:
    stream = demo_events(now=NOW)
    assert isinstance(stream, Iterator)
    first = next(stream)
    assert first["timestamp"] == "2026-09-01T00:00:00Z"


def test_events_are_deterministic(raw_events: list[dict[str, object]]) -> None:
    assert list(demo_events(now=NOW, seed=7)) == raw_events
    other = list(demo_events(now=NOW, seed=8))
    assert other != raw_events
    # The seed changes the volumes, not the shape of the storyline.
    assert (
        Counter(e["event_type"] for e in other)["cluster_heartbeat"]
        == Counter(e["event_type"] for e in raw_events)["cluster_heartbeat"]
    )


def test_event_count_is_in_range(raw_events: list[dict[str, object]]) -> None:
    assert 60_000 <= len(raw_events) <= 120_000
    assert set(Counter(e["event_type"] for e in raw_events)) == {
        "cluster_heartbeat",
        "produce",
        "storage_gauge",
        "api_call",
        "partition_gauge",
        "node_hour",
        "bandwidth",
    }


def test_events_are_valid_and_within_the_demo_span(
    raw_events: list[dict[str, object]], events: list[Event], owners: dict[str, str]
) -> None:
    assert len(events) == len(raw_events)
    assert all(START <= event.timestamp <= NOW for event in events)
    assert events[0].timestamp == START
    assert events[-1].timestamp == NOW  # the heartbeat of 10:00 itself
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    # Exactly what was yielded: plain strings and ints, nothing a JSON round trip changes.
    assert [loads_exact(dumps(event)) for event in raw_events[:500]] == raw_events[:500]
    assert {event.customer_id for event in events} == {"acme-stream", "ti_acme", "acme-search"}
    assert {owners[event.customer_id] for event in events} == set(DEMO_CUSTOMERS)


def test_events_carry_every_meter_dimension(document: SetupDocument, events: list[Event]) -> None:
    by_type = {m.event_types[0]: m for m in document.meters}
    for event in events:
        used = by_type[event.event_type]
        for name in used.group_by:
            assert isinstance(event.properties[name], str), (event, name)
        if used.property is not None:
            value = event.properties[used.property]
            assert isinstance(value, int | str), (event, used.property)


def test_events_cut_off_inside_an_hour() -> None:
    now = datetime(2026, 11, 21, 10, 37, 12, tzinfo=UTC)
    tail = [e for e in demo_events(now=now) if str(e["timestamp"]) >= "2026-11-21T10:00:00Z"]
    stamps = {str(e["timestamp"]) for e in tail}
    assert max(stamps) <= "2026-11-21T10:37:12Z"
    heartbeats = [e["timestamp"] for e in tail if e["event_type"] == "cluster_heartbeat"]
    assert heartbeats == [
        "2026-11-21T10:00:00Z",
        "2026-11-21T10:00:00Z",
        "2026-11-21T10:15:00Z",
        "2026-11-21T10:15:00Z",
        "2026-11-21T10:30:00Z",
        "2026-11-21T10:30:00Z",
    ]


def test_transaction_ids_are_unique_per_customer(
    events: list[Event], owners: dict[str, str]
) -> None:
    keys = Counter((owners[event.customer_id], event.transaction_id) for event in events)
    assert keys.most_common(1)[0][1] == 1


# --------------------------------------------------------------------------- the storyline


def test_first_month_crosses_the_second_written_tier(
    document: SetupDocument, events: list[Event]
) -> None:
    written = usage(document, events, "bytes_written", START, OCTOBER)
    events_gib = written[("vci_events",)] / GIB
    assert events_gib > 51_200
    assert events_gib < 307_200  # but not the third
    assert 0 < written[("vci_logs",)] / GIB < 20_000


def test_first_month_invoice_has_a_tier_2_line(
    document: SetupDocument, events: list[Event], owners: dict[str, str]
) -> None:
    catalog = to_catalog(document)
    stream = [event for event in events if owners[event.customer_id] == "acme-stream"]
    period = Span(START, OCTOBER)
    quantities = {
        key: {
            group: value / product.quantity_divisor
            for group, value in measure(catalog.meters[product.meter], stream, period).items()
        }
        for key, product in catalog.products.items()
        if product.meter is not None and key in catalog.plans["byoc"].products
    }
    lines = rate_period(
        catalog=catalog,
        plan=catalog.plans["byoc"],
        period=period,
        currency="USD",
        usage=quantities,
    )
    named = {(line.name, dict(line.group).get("cluster_id")): line for line in lines}
    assert named[("Uncompressed GiB written - Tier 1", "vci_events")].amount == Decimal("512.00")
    assert named[("Uncompressed GiB written - Tier 2", "vci_events")].amount > 0
    assert ("Uncompressed GiB written - Tier 2", "vci_logs") not in named
    assert named[("Cluster minutes", "vci_logs")].amount == Decimal("100.00")
    assert named[("Support - Pro", None)].amount == Decimal("1000.00")
    assert "Minimum spend true-up" not in {line.name for line in lines}


def test_written_bytes_follow_the_week(events: list[Event]) -> None:
    weekday = Decimal(0)
    weekend = Decimal(0)
    for event in events:
        if event.event_type != "produce" or event.timestamp >= OCTOBER:
            continue
        raw = event.properties["uncompressed_bytes"]
        assert isinstance(raw, str)
        if event.timestamp.weekday() < 5:
            weekday += Decimal(raw)
        else:
            weekend += Decimal(raw)
    # September 2026 has 22 weekdays and 8 weekend days; a weekday is ~1.5 times a weekend day.
    ratio = (weekday / 22) / (weekend / 8)
    assert Decimal("1.3") < ratio < Decimal("1.7")


def test_clusters_run_every_minute(document: SetupDocument, events: list[Event]) -> None:
    september = usage(document, events, "cluster_minutes", START, OCTOBER)
    assert september == {
        ("vci_events",): Decimal(30 * 24 * 60),
        ("vci_logs",): Decimal(30 * 24 * 60),
    }
    november = usage(document, events, "cluster_minutes", NOVEMBER, NOW + timedelta(seconds=1))
    # 20 days and 10 hours, plus the heartbeat sent at 10:00 itself.
    assert november[("vci_events",)] == Decimal((20 * 24 + 10) * 60 + 15)


def test_storage_grows_slowly(document: SetupDocument, events: list[Event]) -> None:
    september = usage(document, events, "stored_gib", START, OCTOBER)
    october = usage(document, events, "stored_gib", OCTOBER, NOVEMBER)
    hours_sep, hours_oct = Decimal(30 * 24), Decimal(31 * 24)
    average_sep = september[("vci_events",)] / hours_sep
    average_oct = october[("vci_events",)] / hours_oct
    assert Decimal(17_000) < average_sep < average_oct < Decimal(22_000)
    assert Decimal(2_000) < october[("vci_logs",)] / hours_oct < Decimal(3_500)


def test_api_calls_and_partitions(document: SetupDocument, events: list[Event]) -> None:
    calls = usage(document, events, "api_calls", START, OCTOBER)[()]
    assert Decimal(3_000) < calls < Decimal(20_000)
    assert usage(document, events, "peak_partitions", START, OCTOBER) == {(): Decimal(2048)}
    assert usage(document, events, "peak_partitions", OCTOBER, NOVEMBER) == {(): Decimal(3072)}


def test_search_cluster_is_resized_and_staging_appears(
    document: SetupDocument, events: list[Event]
) -> None:
    prod, staging = "0197kdlrfsubahw4p", "az9p28gwxfdsye40d"
    september = usage(document, events, "node_hours", START, OCTOBER)
    staging_hours = Decimal(30 * 24 - (17 * 24 + 10))
    assert september == {
        (prod, "0.5_gb", "2_vcpus_1_hr_burst_per_day", "oregon"): Decimal(3 * 30 * 24),
        (staging, "4_gb", "2_vcpus", "frankfurt"): staging_hours,
    }
    october = usage(document, events, "node_hours", OCTOBER, NOVEMBER)
    before = 8 * 24 + 15  # resized on October 9th at 15:00
    assert october == {
        (prod, "0.5_gb", "2_vcpus_1_hr_burst_per_day", "oregon"): Decimal(3 * before),
        (prod, "1_gb", "2_vcpus_2_hr_burst_per_day", "oregon"): Decimal(3 * (31 * 24 - before)),
        (staging, "4_gb", "2_vcpus", "frankfurt"): Decimal(31 * 24),
    }


def test_bandwidth_includes_housekeeping(document: SetupDocument, events: list[Event]) -> None:
    september = usage(document, events, "bandwidth_bytes", START, OCTOBER)
    prod_gb = september[("0197kdlrfsubahw4p",)] / 1000**3
    housekeeping_gb = Decimal(3 * 30 * 24 * 30) / 1000  # 30 MB per node-hour
    assert housekeeping_gb + 150 < prod_gb < housekeeping_gb + 220  # ~6 GB of responses a day
    assert Decimal(0) < september[("az9p28gwxfdsye40d",)] / 1000**3 < Decimal(20)


def owner_of(event: Mapping[str, object], owners: dict[str, str]) -> str:
    customer_id = event["customer_id"]
    assert isinstance(customer_id, str)
    return owners[customer_id]


def test_alias_carries_the_agent_events(
    raw_events: list[dict[str, object]], owners: dict[str, str]
) -> None:
    by_alias = Counter(e["event_type"] for e in raw_events if e["customer_id"] == "ti_acme")
    assert set(by_alias) == {"cluster_heartbeat", "storage_gauge", "partition_gauge"}
    stream = Counter(e["event_type"] for e in raw_events if owner_of(e, owners) == "acme-stream")
    assert set(stream) == set(by_alias) | {"produce", "api_call"}
