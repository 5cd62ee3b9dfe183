"""The billing setup as typed values: meters, products and their prices, plans, customers.

These are built once from a validated setup document (``meterbill.core.setup``) and never
hold a dict of untyped options. Prices form a closed union dispatched in
``meterbill.core.pricing``.
"""

import builtins
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "DEFAULT_NET_PAYMENT_TERMS",
    "MAX_NET_PAYMENT_TERMS",
    "Aggregation",
    "Alert",
    "AlertKind",
    "Anchor",
    "Catalog",
    "CreditGrant",
    "CreditKind",
    "Customer",
    "Discount",
    "FlatPrice",
    "GraduatedPrice",
    "Interval",
    "Meter",
    "PackagePrice",
    "PerUnitPrice",
    "Plan",
    "Price",
    "PriceChange",
    "Product",
    "Resource",
    "Seller",
    "Settings",
    "Subscription",
    "Tax",
    "Tier",
    "VolumePrice",
]


class Aggregation(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    UNIQUE_COUNT = "unique_count"
    LATEST = "latest"
    TIME_WEIGHTED = "time_weighted"


class Interval(StrEnum):
    """A plan's billing interval, or a recurring credit's (spec 5.4, 5.5)."""

    MONTH = "month"
    WEEK = "week"
    QUARTER = "quarter"
    YEAR = "year"


class Anchor(StrEnum):
    """Where a plan's periods start: calendar boundaries, or the subscription's start."""

    CALENDAR = "calendar"
    SUBSCRIPTION = "subscription"


class CreditKind(StrEnum):
    FREE = "free"
    COMMIT = "commit"
    PREPAID = "prepaid"
    # Made by a credit note (spec 5.6), never declared in a setup file.
    CREDIT_NOTE = "credit_note"


@dataclass(frozen=True, slots=True)
class Meter:
    """Turns events into a quantity per combination of ``group_by`` values."""

    key: str
    name: str
    event_types: tuple[str, ...]
    aggregation: Aggregation
    property: str | None = None
    filters: tuple[tuple[str, frozenset[str]], ...] = ()
    group_by: tuple[str, ...] = ()

    # The field ``property`` above shadows the builtin inside this class body.
    @builtins.property
    def fingerprint(self) -> str:
        """Everything that changes which quantity a meter computes, as one string.

        Pre-aggregated buckets are rebuilt from the raw events when this changes.
        """
        filters = ";".join(f"{name}={','.join(sorted(values))}" for name, values in self.filters)
        return "|".join(
            [
                ",".join(self.event_types),
                self.aggregation.value,
                self.property or "",
                filters,
                ",".join(self.group_by),
            ]
        )


@dataclass(frozen=True, slots=True)
class Tier:
    """A band of quantity at one unit price; ``up_to`` None marks the open last tier.

    ``flat_amount`` is added once when the quantity enters the tier (spec 6.1).
    """

    up_to: Decimal | None
    unit_price: Decimal
    flat_amount: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class PerUnitPrice:
    """quantity × unit price; with ``by``, the unit price depends on a group value."""

    unit_price: Decimal | None = None
    by: str | None = None
    unit_prices: tuple[tuple[str, Decimal], ...] = ()
    default_unit_price: Decimal | None = None

    def unit_price_for(self, group: dict[str, str]) -> Decimal | None:
        if self.by is None:
            return self.unit_price
        value = group.get(self.by, "")
        for key, price in self.unit_prices:
            if key == value:
                return price
        return self.default_unit_price


@dataclass(frozen=True, slots=True)
class GraduatedPrice:
    tiers: tuple[Tier, ...]


@dataclass(frozen=True, slots=True)
class VolumePrice:
    tiers: tuple[Tier, ...]


@dataclass(frozen=True, slots=True)
class PackagePrice:
    package_size: Decimal
    package_price: Decimal


@dataclass(frozen=True, slots=True)
class FlatPrice:
    amount: Decimal
    prorate: bool = False


Price = PerUnitPrice | GraduatedPrice | VolumePrice | PackagePrice | FlatPrice


@dataclass(frozen=True, slots=True)
class PriceChange:
    """A new price for a product from ``effective_from`` (a whole UTC hour) on (spec 5.1)."""

    effective_from: datetime
    price: Price


@dataclass(frozen=True, slots=True)
class Product:
    """A priced line. ``price`` is in force until the first of ``price_changes`` (which are
    in strictly increasing ``effective_from`` order)."""

    key: str
    name: str
    price: Price
    meter: str | None = None
    quantity_divisor: Decimal = Decimal(1)
    line_item_type: str = "usage"
    description: str | None = None
    price_changes: tuple[PriceChange, ...] = ()
    # Per line group and period, the first units cost nothing (spec 6.2).
    free_quantity: Decimal = Decimal(0)
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    tax_exempt: bool = False
    # What one unit of the quantity is called on invoices ("GiB", "node hours"); display only.
    unit: str | None = None

    @property
    def is_flat(self) -> bool:
        return isinstance(self.price, FlatPrice)

    def price_at(self, moment: datetime) -> Price:
        """The price in force at ``moment``: the last change effective at or before it,
        else ``price``."""
        price = self.price
        for change in self.price_changes:
            if change.effective_from > moment:
                break
            price = change.price
        return price


@dataclass(frozen=True, slots=True)
class Plan:
    key: str
    name: str
    interval: Interval
    products: tuple[str, ...]
    minimum: Decimal | None = None
    anchor: Anchor = Anchor.CALENDAR


@dataclass(frozen=True, slots=True)
class Resource:
    id: str
    kind: str
    name: str | None = None
    parent: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Subscription:
    plan: str
    starts_at: datetime
    ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CreditGrant:
    """A credit grant; with ``recurrence`` it stands for a series of grants, expanded by
    ``core.credits.occurrences`` (spec 5.5), none starting at or after ``until``."""

    key: str
    kind: CreditKind
    amount: Decimal
    starts_at: datetime
    expires_at: datetime | None = None
    priority: int = 10
    price: Decimal | None = None
    recurrence: Interval | None = None
    until: datetime | None = None

    @property
    def purchase_price(self) -> Decimal:
        """What a prepaid grant costs on the invoice of its start period."""
        return self.amount if self.price is None else self.price


@dataclass(frozen=True, slots=True)
class Discount:
    """A customer discount (spec 6.4): ``percent`` or ``amount`` (exactly one), on the
    lines of ``products`` (empty: every usage, flat, minimum and maximum line), for
    ``periods`` invoices per subscription from ``starts_at`` (None: forever)."""

    key: str
    starts_at: datetime
    percent: Decimal | None = None
    amount: Decimal | None = None
    products: tuple[str, ...] = ()
    periods: int | None = None


class AlertKind(StrEnum):
    """What a spend alert watches (issue 10)."""

    DRAFT_TOTAL_ABOVE = "draft_total_above"
    PRODUCT_AMOUNT_ABOVE = "product_amount_above"
    CREDIT_BALANCE_BELOW = "credit_balance_below"


@dataclass(frozen=True, slots=True)
class Alert:
    """A spend alert of a customer: fires ``alert.triggered`` at most once per billing
    period when the watched value goes above (or, for the credit balance, below)
    ``threshold``, an amount in the customer's currency. ``product`` only for
    ``product_amount_above``."""

    key: str
    kind: AlertKind
    threshold: Decimal
    product: str | None = None


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    currency: str = "USD"
    owner_type: str | None = None
    billing_email: str | None = None
    additional_billing_information: str | None = None
    aliases: tuple[str, ...] = ()
    resources: tuple[Resource, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    credits: tuple[CreditGrant, ...] = ()
    discounts: tuple[Discount, ...] = ()
    taxes: tuple[str, ...] = ()
    alerts: tuple[Alert, ...] = ()


@dataclass(frozen=True, slots=True)
class Tax:
    """A tax of ``settings.taxes`` (spec 6.5): one line ``name`` of ``rate`` × the base."""

    key: str
    name: str
    rate: Decimal


@dataclass(frozen=True, slots=True)
class Seller:
    """``settings.seller`` (spec 6.6): who issues the invoices; every field optional."""

    name: str | None = None
    address: str | None = None
    email: str | None = None
    tax_id: str | None = None


DEFAULT_NET_PAYMENT_TERMS = 30
"""Days from issue to the due date when the setup does not say (``net_payment_terms``)."""
MAX_NET_PAYMENT_TERMS = 365


@dataclass(frozen=True, slots=True)
class Settings:
    grace_period_hours: Decimal = Decimal(24)
    taxes: tuple[Tax, ...] = ()
    seller: Seller | None = None
    net_payment_terms: int = DEFAULT_NET_PAYMENT_TERMS
    """Whole days from an invoice's issue to its due date ("net 30")."""

    def due_at(self, issued_at: datetime) -> datetime:
        """When an invoice issued at ``issued_at`` falls due: ``net_payment_terms`` days later."""
        return issued_at + timedelta(days=self.net_payment_terms)

    def tax(self, key: str) -> Tax | None:
        return next((tax for tax in self.taxes if tax.key == key), None)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Meters, products and plans by key: what prices a customer's usage."""

    settings: Settings = field(default_factory=Settings)
    meters: dict[str, Meter] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
