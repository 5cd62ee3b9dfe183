"""The setup document and the event strategies of the billing properties.

One customer (``acme``, alias ``ti_acme``) on a monthly plan from 2026-01-01 with a meter of
every aggregation, a product of every price model, a flat fee, a minimum and two credits.
Events are the decoded JSON objects ``ingest_batch`` takes: timestamps anywhere in
2026-01-01 … 2026-03-10 (seconds, microseconds, UTC offsets, period edges, shared
timestamps), one to three group values, numbers as ints, decimal strings and exact JSON
decimals, a few values no meter can read, and occasional exact duplicates.
"""

import copy
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import strategies as st

__all__ = [
    "ALIAS",
    "CUSTOMER",
    "EVENT_END",
    "EVENT_START",
    "FEB_START",
    "GRACE",
    "GRANTS",
    "JAN_START",
    "MAR_START",
    "NOW",
    "PER_UNIT_PRICES",
    "SECOND_CUSTOMER",
    "TWO_CUSTOMERS",
    "Grant",
    "batches",
    "owner",
    "setup_document",
    "usage_events",
    "with_rejects",
]

CUSTOMER = "acme"
ALIAS = "ti_acme"
SECOND_CUSTOMER = "globex"
TWO_CUSTOMERS = (CUSTOMER, ALIAS, SECOND_CUSTOMER)
JAN_START = datetime(2026, 1, 1, tzinfo=UTC)
FEB_START = datetime(2026, 2, 1, tzinfo=UTC)
MAR_START = datetime(2026, 3, 1, tzinfo=UTC)
EVENT_START = JAN_START
EVENT_END = datetime(2026, 3, 10, tzinfo=UTC)
NOW = datetime(2026, 3, 15, tzinfo=UTC)
GRACE = timedelta(hours=24)

PER_UNIT_PRICES: dict[str, tuple[str | None, dict[str, Decimal], Decimal]] = {
    # product key -> (price dimension, unit price per dimension value, default unit price)
    "active_users": (None, {}, Decimal("1.25")),
    "plan_level": ("cluster", {"c1": Decimal("0.02"), "c2": Decimal("0.035")}, Decimal("0.017")),
    "gib_days": (None, {}, Decimal("0.0123457")),
}


@dataclass(frozen=True, slots=True)
class Grant:
    key: str
    kind: str
    amount: Decimal


# Both grants can pay every period of 2026; listed in draw order (priority 1 before 5).
GRANTS = (
    Grant("commit-2026", "commit", Decimal("300.00")),
    Grant("welcome", "free", Decimal("120.00")),
)


def setup_document(
    *, second_customer: bool = False, subscriptions: bool = False
) -> dict[str, object]:
    """A setup document as parsed from YAML: every aggregation and price model.

    With ``subscriptions``, the customer has three subscriptions whose periods start at the
    same instants: ``standard`` and ``addon`` (monthly, from 2026-01-01, sharing some
    products) and ``legacy`` (monthly, January only, so its late usage moves to another
    subscription, spec 5.7).
    """
    meters: list[dict[str, object]] = [
        {
            "key": "api_calls",
            "name": "API calls",
            "event_type": "api_call",
            "aggregation": "count",
            "filters": {"method": ["GET", "POST"]},
            "group_by": ["region"],
        },
        {
            "key": "bytes_written",
            "name": "Bytes written",
            "event_type": ["produce", "produce_v2"],
            "aggregation": "sum",
            "property": "bytes",
            "group_by": ["cluster"],
        },
        {
            "key": "seats_max",
            "name": "Seats",
            "event_type": "seat_count",
            "aggregation": "max",
            "property": "seats",
            "group_by": ["cluster"],
        },
        {
            "key": "active_users",
            "name": "Active users",
            "event_type": "login",
            "aggregation": "unique_count",
            "property": "user",
            "group_by": ["cluster"],
        },
        {
            "key": "plan_level",
            "name": "Plan level",
            "event_type": "plan_level",
            "aggregation": "latest",
            "property": "level",
            "group_by": ["cluster"],
        },
        {
            "key": "stored_gib",
            "name": "Stored GiB",
            "event_type": "storage_gauge",
            "aggregation": "time_weighted",
            "property": "gib",
            "group_by": ["cluster"],
        },
    ]
    products: list[dict[str, object]] = [
        {
            "key": "api_calls",
            "name": "API calls",
            "meter": "api_calls",
            "price": {"model": "package", "package_size": "10", "package_price": "0.25"},
        },
        {
            "key": "gib_written",
            "name": "GiB written",
            "meter": "bytes_written",
            "quantity_divisor": "1000",
            "description": "GiB written -- {cluster}",
            "price": {
                "model": "graduated",
                "tiers": [
                    {"up_to": "50", "unit_price": "0.10"},
                    {"up_to": "200", "unit_price": "0.075"},
                    {"unit_price": "0.0333333"},
                ],
            },
        },
        {
            "key": "seats",
            "name": "Seats",
            "meter": "seats_max",
            "line_item_type": "seat",
            "price": {
                "model": "volume",
                "tiers": [
                    {"up_to": "10", "unit_price": "5"},
                    {"up_to": "20", "unit_price": "4.5"},
                    {"unit_price": "3.99"},
                ],
            },
        },
        {
            "key": "active_users",
            "name": "Active users",
            "meter": "active_users",
            "price": {"model": "per_unit", "unit_price": "1.25"},
        },
        {
            "key": "plan_level",
            "name": "Plan level",
            "meter": "plan_level",
            "price": {
                "model": "per_unit",
                "by": "cluster",
                "unit_prices": {"c1": "0.02", "c2": "0.035"},
                "default_unit_price": "0.017",
            },
        },
        {
            "key": "gib_days",
            "name": "GiB-days stored",
            "meter": "stored_gib",
            "quantity_divisor": "24",
            "price": {"model": "per_unit", "unit_price": "0.0123457"},
        },
        {
            "key": "platform_fee",
            "name": "Platform fee",
            "line_item_type": "support",
            "price": {"model": "flat", "amount": "49.99", "prorate": False},
        },
    ]
    customers: list[dict[str, object]] = [
        {
            "id": CUSTOMER,
            "name": "Acme Corp",
            "currency": "USD",
            "aliases": [ALIAS],
            "subscriptions": [{"plan": "standard", "starts_at": "2026-01-01T00:00:00Z"}],
            "credits": [
                {
                    "key": "welcome",
                    "kind": "free",
                    "amount": "120.00",
                    "starts_at": "2026-01-01T00:00:00Z",
                    "priority": 5,
                },
                {
                    "key": "commit-2026",
                    "kind": "commit",
                    "amount": "300.00",
                    "starts_at": "2026-01-01T00:00:00Z",
                    "expires_at": "2027-01-01T00:00:00Z",
                    "priority": 1,
                },
            ],
        }
    ]
    if second_customer:
        customers.append(
            {
                "id": SECOND_CUSTOMER,
                "name": "Globex",
                "subscriptions": [{"plan": "standard", "starts_at": "2026-01-01T00:00:00Z"}],
            }
        )
    plans: list[dict[str, object]] = [
        {
            "key": "standard",
            "name": "Standard",
            "interval": "month",
            "products": [str(p["key"]) for p in products],
            "minimum": "150.00",
        }
    ]
    if subscriptions:
        plans += [
            {
                "key": "addon",
                "name": "Add-on",
                "interval": "month",
                "products": ["api_calls", "gib_written", "gib_days", "platform_fee"],
                "minimum": "60.00",
            },
            {
                "key": "legacy",
                "name": "Legacy",
                "interval": "month",
                "products": ["seats", "active_users", "plan_level"],
            },
        ]
        customers[0]["subscriptions"] = [
            {"plan": "standard", "starts_at": "2026-01-01T00:00:00Z"},
            {"plan": "addon", "starts_at": "2026-01-01T00:00:00Z"},
            {
                "plan": "legacy",
                "starts_at": "2026-01-01T00:00:00Z",
                "ends_at": "2026-02-01T00:00:00Z",
            },
        ]
    return {
        "settings": {"grace_period_hours": "24"},
        "meters": meters,
        "products": products,
        "plans": plans,
        "customers": customers,
    }


# Values no meter can read as a number ("n/a" still counts as a distinct unique_count value).
_UNREADABLE: tuple[object, ...] = ("n/a", "NaN", None, {"v": 1}, "", "1_000", True)

_EDGES = (
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 2, 1, tzinfo=UTC),
    datetime(2026, 2, 28, 23, 30, tzinfo=UTC),
    datetime(2026, 3, 1, tzinfo=UTC),
)


def _moments(start: datetime, end: datetime) -> st.SearchStrategy[datetime]:
    """Instants in ``[start, end)``: whole seconds mostly, microseconds and edges sometimes."""
    span = int((end - start).total_seconds())
    seconds = st.integers(0, span - 1).map(lambda s: start + timedelta(seconds=s))
    micros = st.integers(0, span * 1_000_000 - 1).map(lambda u: start + timedelta(microseconds=u))
    edges = st.sampled_from([edge for edge in _EDGES if start <= edge < end])
    return st.one_of(seconds, seconds, seconds, micros, edges)


def _stamp(moment: datetime, offset_minutes: int) -> str:
    """RFC 3339 text for ``moment``, written in UTC (``Z``) or with a UTC offset."""
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if local.microsecond:
        text += f".{local.microsecond:06d}"
    if offset_minutes == 0:
        return text + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


@st.composite
def _number(draw: st.DrawFn, largest: int) -> object:
    """An int, a decimal string with up to 6 places, an exact JSON decimal, or unreadable."""
    form = draw(st.sampled_from(["int", "int", "text", "text", "json", "unreadable"]))
    if form == "unreadable":
        return draw(st.sampled_from(_UNREADABLE))
    whole = draw(st.integers(0, largest))
    if form == "int":
        return whole
    places = draw(st.integers(0, 6))
    fraction = draw(st.integers(0, 10**places - 1)) if places else 0
    text = f"{whole}.{fraction:0{places}d}" if places else str(whole)
    return text if form == "text" else Decimal(text)


@st.composite
def _properties(draw: st.DrawFn, event_type: str, groups: list[str]) -> dict[str, object]:
    dimension = "region" if event_type == "api_call" else "cluster"
    properties: dict[str, object] = {}
    if draw(st.integers(0, 9)) > 0:  # now and then the dimension is missing: group ""
        properties[dimension] = draw(st.sampled_from(groups))
    if event_type == "api_call":
        properties["method"] = draw(st.sampled_from(["GET", "POST", "DELETE"]))
    elif event_type in ("produce", "produce_v2"):
        properties["bytes"] = draw(_number(120_000))
    elif event_type == "seat_count":
        properties["seats"] = draw(_number(30))
    elif event_type == "login":
        users: list[object] = ["u1", "u2", "u3", "n/a", 7, "7", Decimal("7.0"), None]
        properties["user"] = draw(st.sampled_from(users))
    elif event_type == "plan_level":
        properties["level"] = draw(_number(100))
    else:
        properties["gib"] = draw(_number(500))
    return properties


_EVENT_TYPES = (
    "api_call",
    "produce",
    "produce_v2",
    "seat_count",
    "login",
    "plan_level",
    "storage_gauge",
)


@st.composite
def usage_events(
    draw: st.DrawFn,
    *,
    start: datetime = EVENT_START,
    end: datetime = EVENT_END,
    min_size: int = 1,
    max_size: int = 28,
    prefix: str = "evt",
    customers: tuple[str, ...] = (CUSTOMER, ALIAS),
) -> list[dict[str, object]]:
    """Events with distinct transaction ids ``<prefix>-<n>``, plus a few exact duplicates.

    With the second customer among ``customers``, a few events are also sent for the other
    customer under the same transaction id: ids are unique per customer only (spec 3).
    """
    groups = draw(
        st.lists(st.sampled_from(["c1", "c2", "c3"]), min_size=1, max_size=3, unique=True)
    )
    # A few event types and a few busy hours per example, so that events share buckets
    # (the same hour or day, the same group) often enough for the merges to matter.
    kinds = draw(st.lists(st.sampled_from(_EVENT_TYPES), min_size=1, max_size=4, unique=True))
    busy = draw(st.lists(_moments(start, end), min_size=1, max_size=3))
    count = draw(st.integers(min_size, max_size))
    moments: list[datetime] = []
    items: list[dict[str, object]] = []
    for number in range(count):
        place = draw(st.integers(0, 7))
        if moments and place == 0:
            moment = draw(st.sampled_from(moments))  # shared timestamps: ties to break
        elif place <= 4:
            near = draw(st.sampled_from(busy)) + timedelta(
                seconds=draw(st.integers(-3 * 3600, 3 * 3600))
            )
            moment = min(max(near, start), end - timedelta(microseconds=1))
        else:
            moment = draw(_moments(start, end))
        moments.append(moment)
        event_type = draw(st.sampled_from(kinds))
        offset = draw(st.sampled_from([0, 0, 0, 90, -300]))
        items.append(
            {
                "transaction_id": f"{prefix}-{number:03d}",
                "customer_id": draw(st.sampled_from(customers)),
                "event_type": event_type,
                "timestamp": _stamp(moment, offset),
                "properties": draw(_properties(event_type, groups)),
            }
        )
    if items and SECOND_CUSTOMER in customers:
        for index in draw(st.lists(st.integers(0, len(items) - 1), max_size=3, unique=True)):
            other = copy.deepcopy(items[index])
            mine = other["customer_id"] == SECOND_CUSTOMER
            other["customer_id"] = (
                draw(st.sampled_from([CUSTOMER, ALIAS])) if mine else SECOND_CUSTOMER
            )
            items.append(other)
    if items:
        copies = draw(st.lists(st.integers(0, len(items) - 1), max_size=3))
        items.extend(copy.deepcopy(items[index]) for index in copies)
    return items


def owner(customer_id: object) -> str:
    """The customer an event's ``customer_id`` (an id or an alias) belongs to."""
    return CUSTOMER if customer_id == ALIAS else str(customer_id)


def _rejected(number: int, flaw: str) -> dict[str, object]:
    """An event ingest must reject (spec 3), by what is wrong with it."""
    item: dict[str, object] = {
        "transaction_id": f"bad-{number:03d}",
        "customer_id": CUSTOMER,
        "event_type": "api_call",
        "timestamp": "2026-01-10T10:00:00Z",
        "properties": {"region": "c1", "method": "GET"},
    }
    if flaw == "unknown customer":
        item["customer_id"] = "nobody"
    elif flaw == "not RFC 3339":
        item["timestamp"] = "2026-01-10 10:00:00"
    elif flaw == "no such date":
        item["timestamp"] = "2026-02-30T10:00:00Z"
    elif flaw == "before 2000":
        item["timestamp"] = "1999-12-31T23:59:59Z"
    elif flaw == "too far ahead":
        item["timestamp"] = _stamp(NOW + timedelta(hours=24, seconds=1), 0)
    elif flaw == "missing event_type":
        del item["event_type"]
    elif flaw == "number too large":
        item["properties"] = {"region": "c1", "method": "GET", "size": 10**30}
    elif flaw == "too many places":
        item["properties"] = {"region": "c1", "method": "GET", "size": Decimal("1e-19")}
    else:
        item["properties"] = "not an object"
    return item


_FLAWS = (
    "unknown customer",
    "not RFC 3339",
    "no such date",
    "before 2000",
    "too far ahead",
    "missing event_type",
    "number too large",
    "too many places",
    "properties not an object",
)


@st.composite
def with_rejects(
    draw: st.DrawFn, items: list[dict[str, object]]
) -> tuple[list[dict[str, object]], list[bool]]:
    """``items`` with up to three events ingest must reject slipped in between, and for every
    item of the result whether it is one of those."""
    mixed: list[tuple[dict[str, object], bool]] = [(item, False) for item in items]
    flaws = draw(st.lists(st.sampled_from(_FLAWS), max_size=3))
    for number, flaw in enumerate(flaws):
        position = draw(st.integers(0, len(mixed)))
        mixed.insert(position, (_rejected(number, flaw), True))
    return [item for item, _ in mixed], [bad for _, bad in mixed]


@st.composite
def batches(draw: st.DrawFn, items: list[dict[str, object]]) -> list[list[dict[str, object]]]:
    """``items`` cut into consecutive batches at drawn positions (order kept)."""
    if len(items) < 2:
        return [items]
    cuts = sorted(draw(st.sets(st.integers(1, len(items) - 1), max_size=4)))
    bounds = [0, *cuts, len(items)]
    return [items[low:high] for low, high in itertools.pairwise(bounds)]
