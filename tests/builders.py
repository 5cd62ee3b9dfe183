"""Small keyword-only builders for the billing core's values.

Each builder fills in the fields a test does not care about, so a test spells out only what
it is about. Times are aware UTC datetimes; amounts and quantities are ``Decimal``.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from meterbill.core.catalog import (
    Aggregation,
    Anchor,
    Catalog,
    CreditGrant,
    CreditKind,
    Customer,
    FlatPrice,
    Interval,
    Meter,
    Plan,
    Price,
    PriceChange,
    Product,
    Subscription,
)
from meterbill.core.events import Event

__all__ = [
    "at",
    "catalog",
    "customer",
    "event",
    "grant",
    "meter",
    "plan",
    "product",
    "subscription",
]


def at(text: str) -> datetime:
    """``"2026-01-15T12:00"`` as an aware UTC datetime; the text must not carry an offset."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        raise ValueError(f"write {text!r} without an offset: builders always mean UTC")
    return moment.replace(tzinfo=UTC)


def event(
    *,
    txn: str,
    timestamp: datetime,
    event_type: str = "usage",
    customer_id: str = "acme",
    properties: Mapping[str, object] | None = None,
) -> Event:
    return Event(
        transaction_id=txn,
        customer_id=customer_id,
        event_type=event_type,
        timestamp=timestamp,
        properties={} if properties is None else properties,
    )


def meter(
    *,
    aggregation: Aggregation,
    key: str = "usage",
    event_types: tuple[str, ...] = ("usage",),
    property: str | None = "value",
    filters: Mapping[str, Iterable[str]] | None = None,
    group_by: tuple[str, ...] = (),
) -> Meter:
    allowed = {} if filters is None else filters
    return Meter(
        key=key,
        name=key.replace("_", " ").capitalize(),
        event_types=event_types,
        aggregation=aggregation,
        property=None if aggregation is Aggregation.COUNT else property,
        filters=tuple((name, frozenset(values)) for name, values in allowed.items()),
        group_by=group_by,
    )


def product(
    *,
    key: str,
    price: Price,
    name: str | None = None,
    meter: str | None = None,
    quantity_divisor: Decimal = Decimal(1),
    line_item_type: str | None = None,
    description: str | None = None,
    price_changes: tuple[PriceChange, ...] = (),
    free_quantity: Decimal = Decimal(0),
) -> Product:
    flat = isinstance(price, FlatPrice)
    return Product(
        key=key,
        name=key if name is None else name,
        price=price,
        meter=None if flat else (key if meter is None else meter),
        quantity_divisor=quantity_divisor,
        line_item_type=("flat" if flat else "usage") if line_item_type is None else line_item_type,
        description=description,
        price_changes=price_changes,
        free_quantity=free_quantity,
    )


def plan(
    *,
    products: tuple[str, ...],
    key: str = "plan",
    interval: Interval = Interval.MONTH,
    minimum: Decimal | None = None,
    anchor: Anchor = Anchor.CALENDAR,
) -> Plan:
    return Plan(
        key=key, name=key, interval=interval, products=products, minimum=minimum, anchor=anchor
    )


def catalog(
    *,
    meters: Iterable[Meter] = (),
    products: Iterable[Product] = (),
    plans: Iterable[Plan] = (),
) -> Catalog:
    return Catalog(
        meters={m.key: m for m in meters},
        products={p.key: p for p in products},
        plans={p.key: p for p in plans},
    )


def grant(
    *,
    key: str,
    amount: Decimal,
    starts_at: datetime,
    kind: CreditKind = CreditKind.FREE,
    expires_at: datetime | None = None,
    priority: int = 10,
    price: Decimal | None = None,
    recurrence: Interval | None = None,
    until: datetime | None = None,
) -> CreditGrant:
    return CreditGrant(
        key=key,
        kind=kind,
        amount=amount,
        starts_at=starts_at,
        expires_at=expires_at,
        priority=priority,
        price=price,
        recurrence=recurrence,
        until=until,
    )


def subscription(
    *, plan: str, starts_at: datetime, ends_at: datetime | None = None
) -> Subscription:
    return Subscription(plan=plan, starts_at=starts_at, ends_at=ends_at)


def customer(
    *,
    id: str = "acme",
    currency: str = "USD",
    subscriptions: tuple[Subscription, ...] = (),
    credits: tuple[CreditGrant, ...] = (),
) -> Customer:
    return Customer(
        id=id,
        name=id.capitalize(),
        currency=currency,
        subscriptions=subscriptions,
        credits=credits,
    )
