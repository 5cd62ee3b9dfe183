"""The benchmark's billing setup and its synthetic usage events.

One catalog serves every measurement: a ``produce``-like meter (sum of
``uncompressed_bytes``, grouped by ``cluster_id``) priced twice, per GiB written (per unit)
and per GiB in tiers (graduated), plus a flat platform fee, on a monthly plan.

Events are plain decoded-JSON dicts (ints, never floats), exactly what ``loads_exact`` gives
for a line of a JSON Lines file; they come out in batches, so a million of them never sit in
memory at once. Everything depends only on the arguments and the seed.
"""

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from meterbill.core.events import format_timestamp

__all__ = [
    "EVENT_TYPE",
    "GIB",
    "PLAN",
    "Feed",
    "cluster_ids",
    "event_batches",
    "month_start",
    "next_month",
    "setup_document",
]

EVENT_TYPE = "produce"
PLAN = "streaming"
GIB = 1024**3


def month_start(moment: datetime) -> datetime:
    """Midnight UTC on the first day of ``moment``'s month."""
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(moment: datetime) -> datetime:
    """Midnight UTC on the first day of the month after ``moment``'s month."""
    index = moment.year * 12 + moment.month
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def cluster_ids(count: int, *, prefix: str = "vci") -> list[str]:
    return [f"{prefix}_{number:03d}" for number in range(count)]


def setup_document(*, customers: Sequence[str], starts_at: datetime) -> dict[str, object]:
    """Meter, products, plan and ``customers`` (each subscribed from ``starts_at``)."""
    return {
        "meters": [
            {
                "key": "bytes_written",
                "name": "Bytes written",
                "event_type": EVENT_TYPE,
                "aggregation": "sum",
                "property": "uncompressed_bytes",
                "group_by": ["cluster_id"],
            }
        ],
        "products": [
            {
                "key": "gib_ingress",
                "name": "GiB ingress",
                "meter": "bytes_written",
                "quantity_divisor": str(GIB),
                "description": "Ingress -- {cluster_id} (per GiB)",
                "price": {"model": "per_unit", "unit_price": "0.0125"},
            },
            {
                "key": "gib_written",
                "name": "Uncompressed GiB written",
                "meter": "bytes_written",
                "quantity_divisor": str(GIB),
                "price": {
                    "model": "graduated",
                    "tiers": [
                        {"up_to": "500", "unit_price": "0.01"},
                        {"up_to": "5000", "unit_price": "0.0075"},
                        {"unit_price": "0.0055"},
                    ],
                },
            },
            {
                "key": "platform_fee",
                "name": "Platform fee",
                "line_item_type": "support",
                "price": {"model": "flat", "amount": "250.00"},
            },
        ],
        "plans": [
            {
                "key": PLAN,
                "name": "Streaming",
                "interval": "month",
                "products": ["gib_ingress", "gib_written", "platform_fee"],
            }
        ],
        "customers": [
            {
                "id": customer,
                "name": f"Benchmark customer {customer}",
                "currency": "USD",
                "subscriptions": [{"plan": PLAN, "starts_at": format_timestamp(starts_at)}],
            }
            for customer in customers
        ],
    }


@dataclass(frozen=True, slots=True)
class Feed:
    """A stream of ``count`` produce events in time order over ``[start, end)``.

    Each event goes to a random customer of ``customers`` and to a random cluster of that
    customer's (``clusters[customer]``); transaction ids are ``{prefix}-{n}``, unique within
    the feed, so feeds with different prefixes never collide.
    """

    prefix: str
    customers: tuple[str, ...]
    clusters: dict[str, tuple[str, ...]]
    count: int
    start: datetime
    end: datetime
    seed: int = 1


def event_batches(feed: Feed, size: int) -> Iterator[list[dict[str, object]]]:
    """The feed's events, ``size`` at a time (the last batch may be shorter)."""
    rng = random.Random(f"{feed.seed}:{feed.prefix}")
    step = (feed.end - feed.start) / max(feed.count, 1)
    batch: list[dict[str, object]] = []
    for number in range(feed.count):
        customer = feed.customers[rng.randrange(len(feed.customers))]
        choices = feed.clusters[customer]
        moment = feed.start + step * number + timedelta(microseconds=rng.randrange(1000))
        batch.append(
            {
                "transaction_id": f"{feed.prefix}-{number:09d}",
                "customer_id": customer,
                "event_type": EVENT_TYPE,
                "timestamp": format_timestamp(moment),
                "properties": {
                    "cluster_id": choices[rng.randrange(len(choices))],
                    "uncompressed_bytes": rng.randrange(1, 64 * 1024**2),
                    "partition": rng.randrange(4096),
                },
            }
        )
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
