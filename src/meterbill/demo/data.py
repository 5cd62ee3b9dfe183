"""Demo data: a realistic setup document and a stream of usage events to go with it.

Two customers, each on a catalog shaped like a real usage-priced product:

* ``acme-stream`` on a WarpStream-like BYOC plan: cluster minutes in 15-minute heartbeats,
  uncompressed bytes written (graduated per GiB), GiB-hours stored (an hourly gauge,
  time-weighted), control-plane API calls (sold in packages of 1000) and a Pro support fee,
  with a minimum spend, a free credit and an annual commit. Its agents report with the
  tenant id ``ti_acme``, an ingest alias of the customer.
* ``acme-search`` on a Typesense-like cloud plan: node hours priced by memory size, outbound
  bandwidth per GB and a Business support fee, with a prepaid credit bought mid-month. Its
  production cluster is resized from 0.5 GB to 1 GB nodes during the second month and a
  staging cluster appears during the first.

Subscriptions start on the first day of the month two months before ``now``'s month, so the
demo shows two finished months and the current month's live draft. The first month of the
``vci_events`` cluster writes more than 51,200 GiB, so its invoice has a ``Tier 2`` line.

Both functions return plain values exactly as a YAML or JSON file would give them: decimal
strings for prices and amounts, RFC 3339 ``...Z`` strings for times, and event numbers as
JSON integers or decimal strings. ``demo_events`` is a generator that builds one hour at a
time, in time order, so memory stays constant however long the span. Its output depends only
on ``now`` and ``seed``. No I/O here: the caller applies the setup and ingests the events.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["DEMO_CUSTOMERS", "demo_events", "demo_setup", "demo_start"]

STREAM_CUSTOMER = "acme-stream"
STREAM_ALIAS = "ti_acme"
SEARCH_CUSTOMER = "acme-search"

DEMO_CUSTOMERS: tuple[str, ...] = (STREAM_CUSTOMER, SEARCH_CUSTOMER)
"""Ids of the demo customers (``acme-stream`` also ingests under its alias ``ti_acme``)."""

_HOUR = timedelta(hours=1)
_GIB = 1024**3
_GB = 1000**3
_MB = 1000**2

# WarpStream-like clusters. Written volume is the average per day in GiB; the weekly and
# daily shapes below average to 1, so a 28-day month of vci_events writes about 56,000 GiB.
_EVENTS_CLUSTER = "vci_events"
_LOGS_CLUSTER = "vci_logs"
_WRITTEN_GIB_PER_DAY = {_EVENTS_CLUSTER: 2000, _LOGS_CLUSTER: 320}
_PRODUCE_EVENTS_PER_HOUR = {_EVENTS_CLUSTER: (4, 7), _LOGS_CLUSTER: (1, 3)}
_PEAK_HOUR_UTC = {_EVENTS_CLUSTER: 15, _LOGS_CLUSTER: 3}
# Stored data in thousandths of a GiB at the start, and its drift per hour (retention keeps
# it growing slowly rather than by everything written).
_STORED_MILLI_GIB = {_EVENTS_CLUSTER: 18_000_000, _LOGS_CLUSTER: 2_400_000}
_STORED_DRIFT_PER_HOUR = {_EVENTS_CLUSTER: (-2_000, 4_500), _LOGS_CLUSTER: (-600, 1_000)}
_PARTITIONS = {_EVENTS_CLUSTER: (2048, 3072), _LOGS_CLUSTER: (512, 512)}
_API_ENDPOINTS = (
    "/api/v1/list_virtual_clusters",
    "/api/v1/describe_virtual_cluster",
    "/api/v1/list_topics",
    "/api/v1/create_topic",
    "/api/v1/list_application_keys",
    "/api/v1/create_application_key",
    "/api/v1/list_agent_pools",
    "/api/v1/get_pending_invoice",
)

# Typesense-like clusters.
_PROD_SEARCH = "0197kdlrfsubahw4p"
_STAGING_SEARCH = "az9p28gwxfdsye40d"
_PROD_REGION = "oregon"
_STAGING_REGION = "frankfurt"
_PROD_NODES = 3
_PROD_BEFORE_RESIZE = ("0.5_gb", "2_vcpus_1_hr_burst_per_day")
_PROD_AFTER_RESIZE = ("1_gb", "2_vcpus_2_hr_burst_per_day")
_STAGING_CONFIG = ("4_gb", "2_vcpus")
# Search responses per day in bytes (before the daily and weekly shape), on top of the
# housekeeping traffic every node sends (about 0.5 MB a minute).
_RESPONSE_BYTES_PER_DAY = {_PROD_SEARCH: 6 * _GB, _STAGING_SEARCH: 300 * _MB}
_HOUSEKEEPING_BYTES_PER_NODE_HOUR = 30 * _MB
# When the production cluster is resized, each new node pulls the dataset once.
_DATASET_BYTES = 2_500 * _MB
_SEARCH_PEAK_HOUR_UTC = 17
_BANDWIDTH_EVENTS_PER_HOUR = {_PROD_SEARCH: (3, 5), _STAGING_SEARCH: (1, 2)}


# --------------------------------------------------------------------------- time


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now.isoformat()} has no time zone")
    return now.astimezone(UTC)


def _add_months(moment: datetime, months: int) -> datetime:
    """The first day of the month ``months`` after (or before) ``moment``'s month."""
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def demo_start(*, now: datetime) -> datetime:
    """When the demo subscriptions start: the first day of the month two months before
    ``now``'s month (``now`` 2026-11-21 → 2026-09-01T00:00:00Z). ``now`` must be aware."""
    return _add_months(_utc(now), -2)


def _text(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


# --------------------------------------------------------------------------- setup


def demo_setup(*, now: datetime) -> dict[str, object]:
    """The demo setup document (spec section 2) for subscriptions starting at
    ``demo_start(now=now)``: both catalogs, both plans and both customers."""
    start = demo_start(now=now)
    return {
        "meters": [*_stream_meters(), *_search_meters()],
        "products": [*_stream_products(), *_search_products()],
        "plans": [
            {
                "key": "byoc",
                "name": "BYOC",
                "interval": "month",
                "products": [
                    "cluster_minutes",
                    "gib_written",
                    "gib_hours",
                    "api_calls",
                    "support_pro",
                ],
                "minimum": "500.00",
            },
            {
                "key": "cloud",
                "name": "Cloud",
                "interval": "month",
                "products": ["node", "bandwidth", "support_business"],
            },
        ],
        "customers": [_stream_customer(start), _search_customer(start)],
    }


def _stream_meters() -> list[dict[str, object]]:
    by_cluster = ["cluster_id"]
    return [
        {
            "key": "cluster_minutes",
            "name": "Cluster minutes",
            "event_type": "cluster_heartbeat",
            "aggregation": "sum",
            "property": "minutes",
            "group_by": by_cluster,
        },
        {
            "key": "bytes_written",
            "name": "Bytes written",
            "event_type": "produce",
            "aggregation": "sum",
            "property": "uncompressed_bytes",
            "group_by": list(by_cluster),
        },
        {
            "key": "stored_gib",
            "name": "Stored GiB",
            "event_type": "storage_gauge",
            "aggregation": "time_weighted",
            "property": "stored_gib",
            "group_by": list(by_cluster),
        },
        {
            "key": "api_calls",
            "name": "API calls",
            "event_type": "api_call",
            "aggregation": "count",
        },
        {
            "key": "peak_partitions",
            "name": "Peak partitions",
            "event_type": "partition_gauge",
            "aggregation": "max",
            "property": "partitions",
        },
    ]


def _search_meters() -> list[dict[str, object]]:
    return [
        {
            "key": "node_hours",
            "name": "Node hours",
            "event_type": "node_hour",
            "aggregation": "sum",
            "property": "nodes",
            "group_by": ["cluster_id", "memory_option", "vcpu_option", "region"],
        },
        {
            "key": "bandwidth_bytes",
            "name": "Outbound bytes",
            "event_type": "bandwidth",
            "aggregation": "sum",
            "property": "bytes_out",
            "group_by": ["cluster_id"],
        },
    ]


def _stream_products() -> list[dict[str, object]]:
    return [
        {
            "key": "cluster_minutes",
            "name": "Cluster minutes",
            "meter": "cluster_minutes",
            "price": {"model": "per_unit", "unit_price": "0.0023148"},
        },
        {
            "key": "gib_written",
            "name": "Uncompressed GiB written",
            "meter": "bytes_written",
            "quantity_divisor": str(_GIB),
            "unit": "GiB",
            "price": {
                "model": "graduated",
                "tiers": [
                    {"up_to": "51200", "unit_price": "0.01"},
                    {"up_to": "307200", "unit_price": "0.0075"},
                    {"unit_price": "0.0055"},
                ],
            },
        },
        {
            "key": "gib_hours",
            "name": "GiB hours stored",
            "meter": "stored_gib",
            "unit": "GiB-hours",
            "price": {"model": "per_unit", "unit_price": "0.0000137"},
        },
        {
            "key": "api_calls",
            "name": "API calls",
            "meter": "api_calls",
            "price": {"model": "package", "package_size": "1000", "package_price": "0.50"},
        },
        {
            "key": "support_pro",
            "name": "Support - Pro",
            "line_item_type": "support",
            "price": {"model": "flat", "amount": "1000.00"},
        },
    ]


def _search_products() -> list[dict[str, object]]:
    return [
        {
            "key": "node",
            "name": "Node",
            "meter": "node_hours",
            "line_item_type": "node",
            "description": (
                "Node -- {cluster_id} -- {memory_option}, {vcpu_option}, {region} (per node hour)"
            ),
            "price": {
                "model": "per_unit",
                "by": "memory_option",
                "unit_prices": {"0.5_gb": "0.04", "1_gb": "0.08", "4_gb": "0.25", "8_gb": "0.50"},
            },
        },
        {
            "key": "bandwidth",
            "name": "Bandwidth",
            "meter": "bandwidth_bytes",
            "line_item_type": "bandwidth",
            "quantity_divisor": str(_GB),
            "unit": "GB",
            "description": "Bandwidth -- {cluster_id} (per GB)",
            "price": {"model": "per_unit", "unit_price": "0.09"},
        },
        {
            "key": "support_business",
            "name": "Typesense Cloud Support - Business Plan",
            "line_item_type": "support",
            "price": {"model": "flat", "amount": "500.00"},
        },
    ]


def _stream_customer(start: datetime) -> dict[str, object]:
    return {
        "id": STREAM_CUSTOMER,
        "name": "Acme Streaming Inc.",
        "currency": "USD",
        "owner_type": "Team",
        "billing_email": "billing@acme-stream.example",
        "aliases": [STREAM_ALIAS],
        "resources": [
            {"id": STREAM_ALIAS, "kind": "tenant", "name": "acme"},
            {"id": "wi_prod", "kind": "workspace", "name": "prod", "parent": STREAM_ALIAS},
            {"id": "wi_dev", "kind": "workspace", "name": "dev", "parent": STREAM_ALIAS},
            {
                "id": _EVENTS_CLUSTER,
                "kind": "cluster",
                "name": "vcn_events",
                "parent": "wi_prod",
                "attributes": {"region": "us-east-1"},
            },
            {
                "id": _LOGS_CLUSTER,
                "kind": "cluster",
                "name": "vcn_logs",
                "parent": "wi_dev",
                "attributes": {"region": "ap-south-1"},
            },
        ],
        "subscriptions": [{"plan": "byoc", "starts_at": _text(start)}],
        "credits": [
            {
                "key": "welcome",
                "kind": "free",
                "amount": "400.00",
                "starts_at": _text(start),
                "priority": 5,
            },
            {
                "key": "commit-annual",
                "kind": "commit",
                "amount": "2000.00",
                "starts_at": _text(start),
                "expires_at": _text(start.replace(year=start.year + 1)),
                "priority": 1,
            },
        ],
    }


def _search_customer(start: datetime) -> dict[str, object]:
    return {
        "id": SEARCH_CUSTOMER,
        "name": "Acme Corp",
        "currency": "USD",
        "owner_type": "Team",
        "billing_email": "billing@acme.example",
        "additional_billing_information": "123 Main St\nSan Francisco, CA 94102",
        "resources": [
            {
                "id": _PROD_SEARCH,
                "kind": "cluster",
                "name": "prod-search",
                "attributes": {"region": _PROD_REGION},
            },
            {
                "id": _STAGING_SEARCH,
                "kind": "cluster",
                "name": "staging-search",
                "attributes": {"region": _STAGING_REGION},
            },
        ],
        "subscriptions": [{"plan": "cloud", "starts_at": _text(start)}],
        "credits": [
            {
                "key": "prepaid-1",
                "kind": "prepaid",
                "amount": "1000.00",
                "starts_at": _text(start + timedelta(days=14, hours=12)),
                "price": "1000.00",
            }
        ],
    }


# --------------------------------------------------------------------------- events


@dataclass(slots=True)
class _Hour:
    """One hour being generated: its start, and its events keyed by seconds into the hour."""

    start: datetime
    stamp: str = ""  # "2026-09-01T07:" — the minutes and seconds are appended
    key: str = ""  # "2026090107", for transaction ids
    events: list[tuple[int, dict[str, object]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stamp = f"{self.start:%Y-%m-%dT%H}:"
        self.key = f"{self.start:%Y%m%d%H}"

    def at(self, second: int) -> str:
        minute, second = divmod(second, 60)
        return f"{self.stamp}{minute:02d}:{second:02d}Z"

    def add(
        self,
        second: int,
        transaction_id: str,
        customer_id: str,
        event_type: str,
        properties: dict[str, object],
    ) -> None:
        event: dict[str, object] = {
            "transaction_id": transaction_id,
            "customer_id": customer_id,
            "event_type": event_type,
            "timestamp": self.at(second),
            "properties": properties,
        }
        self.events.append((second, event))


@dataclass(slots=True)
class _Timeline:
    """What changes over the demo: the moments of the storyline and the gauges' state."""

    start: datetime
    staging_appears: datetime
    resize: datetime
    more_partitions: datetime
    stored: dict[str, int]

    @classmethod
    def beginning(cls, start: datetime) -> "_Timeline":
        second_month = _add_months(start, 1)
        return cls(
            start=start,
            staging_appears=start + timedelta(days=17, hours=10),
            resize=second_month + timedelta(days=8, hours=15),
            more_partitions=second_month + timedelta(days=14),
            stored=dict(_STORED_MILLI_GIB),
        )

    def growth(self, hour: datetime) -> float:
        """Slow business growth: 3% more traffic for every 30 days since the start."""
        days = (hour - self.start) / timedelta(days=1)
        return 1 + 0.03 * days / 30


# The daily shape in thousandths, by hours from the peak: 1 + 0.35 cos(2π h / 24) rounded.
# A table rather than math.cos, so that the output cannot differ between C libraries; it
# adds up to exactly 24,000, so the shape averages 1 over a day.
_DAILY_PER_MILLE = (
    1350, 1338, 1303, 1247, 1175, 1091, 1000, 909, 825, 753, 697, 662,
    650, 662, 697, 753, 825, 909, 1000, 1091, 1175, 1247, 1303, 1338,
)  # fmt: skip


def _daily(hour: datetime, peak: int) -> float:
    return _DAILY_PER_MILLE[(hour.hour - peak) % 24] / 1000


def _weekly(hour: datetime) -> float:
    # Five weekdays at 1.1 and a weekend at 0.75 average exactly 1 over a week.
    return 1.1 if hour.weekday() < 5 else 0.75


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """``total`` cut into ``parts`` uneven positive shares that add up to it."""
    weights = [0.5 + rng.random() for _ in range(parts)]
    scale = total / sum(weights)
    shares = [int(weight * scale) for weight in weights[:-1]]
    return [*shares, total - sum(shares)]


def _seconds(rng: random.Random, count: int) -> list[int]:
    return sorted(rng.randrange(3600) for _ in range(count))


def _milli(value: int) -> str:
    """Thousandths as a decimal string: 18000125 → "18000.125"."""
    return f"{value // 1000}.{value % 1000:03d}"


def _stream_hour(rng: random.Random, timeline: _Timeline, hour: _Hour) -> None:
    moment = hour.start
    for cluster in (_EVENTS_CLUSTER, _LOGS_CLUSTER):
        # Agents heartbeat every 15 minutes while the cluster runs; they know the tenant id.
        for quarter in range(4):
            second = quarter * 900
            hour.add(
                second,
                f"hb-{cluster}-{hour.at(second)}",
                STREAM_ALIAS,
                "cluster_heartbeat",
                {"cluster_id": cluster, "minutes": 15},
            )
        # Writes follow the working day and week of the producers.
        shape = _daily(moment, _PEAK_HOUR_UTC[cluster]) * _weekly(moment)
        gib = _WRITTEN_GIB_PER_DAY[cluster] / 24 * shape * timeline.growth(moment)
        written = int(gib * _GIB * rng.uniform(0.8, 1.2))
        low, high = _PRODUCE_EVENTS_PER_HOUR[cluster]
        count = rng.randint(low, high)
        for index, (second, share) in enumerate(
            zip(_seconds(rng, count), _split(rng, written, count), strict=True)
        ):
            hour.add(
                second,
                f"pr-{cluster}-{hour.key}-{index}",
                STREAM_CUSTOMER,
                "produce",
                {
                    "cluster_id": cluster,
                    "uncompressed_bytes": str(share),
                    "compressed_bytes": str(share // 4),
                },
            )
        # The storage gauge reports at the top of every hour, so the time-weighted meter sees
        # a value from the very first second of the subscription.
        drift_low, drift_high = _STORED_DRIFT_PER_HOUR[cluster]
        timeline.stored[cluster] += rng.randint(drift_low, drift_high)
        hour.add(
            0,
            f"sg-{cluster}-{hour.at(0)}",
            STREAM_ALIAS,
            "storage_gauge",
            {"cluster_id": cluster, "stored_gib": _milli(timeline.stored[cluster])},
        )
        before, after = _PARTITIONS[cluster]
        hour.add(
            300,
            f"pg-{cluster}-{hour.at(300)}",
            STREAM_ALIAS,
            "partition_gauge",
            {
                "cluster_id": cluster,
                "partitions": after if moment >= timeline.more_partitions else before,
            },
        )
    _api_calls(rng, hour)


def _api_calls(rng: random.Random, hour: _Hour) -> None:
    """A trickle of dashboard calls, and now and then a burst from Terraform or CI."""
    moment = hour.start
    working = moment.weekday() < 5 and 13 <= moment.hour < 23
    seconds = _seconds(rng, rng.randint(0, 6))
    if rng.random() < (0.3 if working else 0.1):
        burst_start = rng.randrange(3600 - 300)
        size = rng.randint(30, 120)
        seconds += sorted(burst_start + rng.randrange(300) for _ in range(size))
    for index, second in enumerate(seconds):
        cluster = _EVENTS_CLUSTER if rng.random() < 0.7 else _LOGS_CLUSTER
        hour.add(
            second,
            f"api-{hour.key}-{index}",
            STREAM_CUSTOMER,
            "api_call",
            {"cluster_id": cluster, "endpoint": rng.choice(_API_ENDPOINTS)},
        )


def _search_hour(rng: random.Random, timeline: _Timeline, hour: _Hour) -> None:
    moment = hour.start
    memory, vcpu = _PROD_AFTER_RESIZE if moment >= timeline.resize else _PROD_BEFORE_RESIZE
    clusters = [(_PROD_SEARCH, _PROD_REGION, _PROD_NODES, memory, vcpu)]
    if moment >= timeline.staging_appears:
        clusters.append((_STAGING_SEARCH, _STAGING_REGION, 1, *_STAGING_CONFIG))
    for cluster, region, nodes, memory, vcpu in clusters:
        for node in range(nodes):
            hour.add(
                0,
                f"nh-{cluster}-{node}-{hour.at(0)}",
                SEARCH_CUSTOMER,
                "node_hour",
                {
                    "cluster_id": cluster,
                    "memory_option": memory,
                    "vcpu_option": vcpu,
                    "region": region,
                    "nodes": 1,
                },
            )
        shape = _daily(moment, _SEARCH_PEAK_HOUR_UTC) * _weekly(moment) * timeline.growth(moment)
        responses = _RESPONSE_BYTES_PER_DAY[cluster] / 24 * shape * rng.uniform(0.7, 1.3)
        sent = int(responses) + nodes * _HOUSEKEEPING_BYTES_PER_NODE_HOUR
        if cluster == _PROD_SEARCH and moment == timeline.resize:
            sent += nodes * _DATASET_BYTES
        low, high = _BANDWIDTH_EVENTS_PER_HOUR[cluster]
        count = rng.randint(low, high)
        for index, (second, share) in enumerate(
            zip(_seconds(rng, count), _split(rng, sent, count), strict=True)
        ):
            hour.add(
                second,
                f"bw-{cluster}-{hour.key}-{index}",
                SEARCH_CUSTOMER,
                "bandwidth",
                {"cluster_id": cluster, "bytes_out": share},
            )


def demo_events(*, now: datetime, seed: int = 7) -> Iterator[dict[str, object]]:
    """Usage events for the demo customers from ``demo_start(now=now)`` up to ``now``.

    Events are plain dicts in the spec section 3 shape, yielded in time order, one generated
    hour at a time; none lies after ``now``. The same ``now`` and ``seed`` give the same
    events, transaction ids included (unique per customer, alias or not). About 40 events
    per hour: roughly 80,000 for two months and three weeks.
    """
    now = _utc(now)
    start = demo_start(now=now)
    rng = random.Random(seed)
    timeline = _Timeline.beginning(start)
    moment = start
    while moment <= now:
        hour = _Hour(moment)
        _stream_hour(rng, timeline, hour)
        _search_hour(rng, timeline, hour)
        hour.events.sort(key=lambda item: item[0])  # stable: same second keeps its order
        limit = now - moment
        for second, event in hour.events:
            if timedelta(seconds=second) > limit:
                break
            yield event
        moment += _HOUR
