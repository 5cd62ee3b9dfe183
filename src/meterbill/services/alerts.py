"""Spend alerts (issue 10): what each alert watches, whether it crossed, and its firing.

An alert belongs to a customer (``customers[].alerts`` of the setup document, or the alerts
API, which edits the same list) and watches one value of the customer's *current* billing
period, the subscription period that holds ``now``:

* ``draft_total_above``: the current draft's ``total`` (what the invoice will ask for:
  after taxes and credits) is above the threshold; each current subscription's draft is
  watched on its own;
* ``product_amount_above``: the amounts of the product's lines in the current draft (its
  usage or flat lines, with the product's own minimum, maximum and discount lines; late-usage
  corrections of earlier periods and taxes left out) add up to more than the threshold;
* ``credit_balance_below``: what the customer's credit grants that are in force now still
  hold, after issued invoices and the live drafts drew on them, is below the threshold. It
  is watched in the customer's current period that ends first (one firing per period, not
  one per subscription).

A crossing fires once per alert and period: :func:`record` inserts the firing or nothing
(``db.alerts``) and writes the ``alert.triggered`` outbox message in the same transaction.
Nothing here commits; the evaluator in ``meterbill serve`` (``cli.alerting``) owns the
transactions, and so does the API.
"""

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from meterbill.core.catalog import Alert, AlertKind, Catalog, Customer
from meterbill.core.credits import expand_grants
from meterbill.core.errors import Conflict, InvalidRequest, InvalidSetup, NotFound
from meterbill.core.events import format_timestamp
from meterbill.core.invoicing import PeriodRef, customer_periods
from meterbill.core.money import from_minor, money_text, round_money
from meterbill.core.setup import parse_alert
from meterbill.db import Session
from meterbill.db import alerts as store
from meterbill.db import catalog as catalog_store
from meterbill.db import invoices as invoice_store
from meterbill.services.catalog import load_catalog, load_customer, save_customer
from meterbill.services.invoicing import InvoiceView, billing_customer, customer_invoices
from meterbill.services.outbox import emit

__all__ = [
    "MAX_ALERTS",
    "AlertStatus",
    "Crossing",
    "Fired",
    "add_alert",
    "alert_statuses",
    "credit_balance",
    "crossings",
    "current_periods",
    "customer_currency",
    "delete_alert",
    "evaluate",
    "record",
]

MAX_ALERTS = 100
"""Most alerts one customer may have through the API (each is checked on every pass)."""
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Crossing:
    """An alert whose value is past its threshold in a period where it has not fired yet."""

    customer: Customer
    alert: Alert
    ref: PeriodRef
    value: Decimal
    invoice_id: str | None


@dataclass(frozen=True, slots=True)
class Fired:
    """A firing just recorded, with the outbox message that announces it."""

    crossing: Crossing
    message_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AlertStatus:
    """An alert in one current period: its value now (None when it cannot be measured:
    no current period, or the product is not on the period's plan) and its firing there."""

    alert: Alert
    currency: str
    ref: PeriodRef | None
    value: Decimal | None
    fired_at: datetime | None
    fired_value: Decimal | None


# --------------------------------------------------------------------------- what is watched


def current_periods(customer: Customer, catalog: Catalog, now: datetime) -> list[PeriodRef]:
    """The customer's subscription periods that hold ``now``."""
    return [
        ref for ref in customer_periods(customer, catalog, until=now) if ref.period.contains(now)
    ]


def _watched(alert: Alert, refs: Sequence[PeriodRef], catalog: Catalog) -> list[PeriodRef]:
    """The current periods ``alert`` is watched in."""
    if not refs:
        return []
    if alert.kind is AlertKind.CREDIT_BALANCE_BELOW:
        return [min(refs, key=lambda ref: (ref.period.end, ref.plan))]
    if alert.kind is AlertKind.PRODUCT_AMOUNT_ABOVE:
        return [
            ref
            for ref in refs
            if ref.plan in catalog.plans and alert.product in catalog.plans[ref.plan].products
        ]
    return list(refs)


def _crossed(alert: Alert, value: Decimal) -> bool:
    if alert.kind is AlertKind.CREDIT_BALANCE_BELOW:
        return value < alert.threshold
    return value > alert.threshold


def _product_amount(view: InvoiceView, product: str | None) -> Decimal:
    return sum(
        (
            line.amount
            for line in view.lines
            if line.product == product and line.corrects is None and line.type != "tax"
        ),
        _ZERO,
    )


def credit_balance(
    session: Session, customer_id: str, views: Iterable[InvoiceView], now: datetime
) -> Decimal:
    """What the grants in force at ``now`` still hold after issued invoices and drafts."""
    customer = billing_customer(session, customer_id)
    used = invoice_store.credit_usage(session, customer_id=customer_id)
    pending: dict[str, Decimal] = {}
    for view in views:
        if view.status == "draft":
            for use in view.totals.credits:
                pending[use.grant] = pending.get(use.grant, _ZERO) + use.amount
    total = _ZERO
    for grant in expand_grants(customer.credits, before=now):
        if grant.starts_at > now or (grant.expires_at is not None and grant.expires_at <= now):
            continue
        left = (
            round_money(grant.amount, customer.currency)
            - from_minor(used.get(grant.key, 0), customer.currency)
            - pending.get(grant.key, _ZERO)
        )
        total += max(left, _ZERO)
    return total


class _Values:
    """The watched values of one customer at ``now``, from its invoices computed once."""

    def __init__(
        self,
        session: Session,
        customer: Customer,
        now: datetime,
        views: Sequence[InvoiceView] | None = None,
    ) -> None:
        self._session = session
        self._customer = customer
        self._now = now
        self._views = None if views is None else list(views)
        self._balance: Decimal | None = None

    @property
    def views(self) -> list[InvoiceView]:
        if self._views is None:
            self._views = customer_invoices(self._session, self._customer.id, as_of=self._now)
        return self._views

    def draft(self, ref: PeriodRef) -> InvoiceView | None:
        return next((v for v in self.views if v.ref == ref and v.status == "draft"), None)

    def of(self, alert: Alert, ref: PeriodRef) -> tuple[Decimal | None, str | None]:
        """The alert's value in ``ref`` and the draft it was read from."""
        if alert.kind is AlertKind.CREDIT_BALANCE_BELOW:
            if self._balance is None:
                self._balance = credit_balance(
                    self._session, self._customer.id, self.views, self._now
                )
            return self._balance, None
        view = self.draft(ref)
        if view is None:
            return None, None
        if alert.kind is AlertKind.DRAFT_TOTAL_ABOVE:
            return view.totals.total, view.id
        return _product_amount(view, alert.product), view.id


# --------------------------------------------------------------------------- evaluation


def crossings(session: Session, customer_id: str, *, now: datetime) -> list[Crossing]:
    """The customer's alerts that are past their threshold at ``now`` in a current period
    where they have not fired yet. Reads only; when every alert already fired in its
    periods, the drafts are not even computed."""
    customer = load_customer(session, customer_id)
    if not customer.alerts:
        return []
    catalog = load_catalog(session).catalog
    refs = current_periods(customer, catalog, now)
    fired = {
        (row.alert_key, row.plan_key, row.period_start)
        for row in store.firings(session, customer_id, at=now)
    }
    pending = [
        (alert, ref)
        for alert in customer.alerts
        for ref in _watched(alert, refs, catalog)
        if (alert.key, ref.plan, ref.period.start) not in fired
    ]
    if not pending:
        return []
    values = _Values(session, customer, now)
    found: list[Crossing] = []
    for alert, ref in pending:
        value, invoice = values.of(alert, ref)
        if value is not None and _crossed(alert, value):
            found.append(Crossing(customer, alert, ref, value, invoice))
    return found


def _payload(crossing: Crossing, at: datetime) -> dict[str, object]:
    alert = crossing.alert
    data: dict[str, object] = {
        "alert_key": alert.key,
        "kind": alert.kind.value,
        "customer_id": crossing.customer.id,
        "currency": crossing.customer.currency,
        "threshold": money_text(alert.threshold, crossing.customer.currency),
        "value": money_text(crossing.value, crossing.customer.currency),
    }
    if alert.product is not None:
        data["product"] = alert.product
    data.update(
        {
            "plan": crossing.ref.plan,
            "period_start": format_timestamp(crossing.ref.period.start),
            "period_end": format_timestamp(crossing.ref.period.end),
            "invoice_id": crossing.invoice_id,
            "at": format_timestamp(at),
        }
    )
    return data


def record(session: Session, found: Iterable[Crossing], *, now: datetime) -> list[Fired]:
    """Fire each crossing that has not fired in its period yet: the firing row and its
    ``alert.triggered`` message, in the caller's transaction. A crossing another evaluator
    already recorded is skipped (insert-or-nothing)."""
    fired: list[Fired] = []
    for crossing in found:
        firing_id = store.insert_firing(
            session,
            customer_id=crossing.customer.id,
            alert_key=crossing.alert.key,
            kind=crossing.alert.kind.value,
            plan_key=crossing.ref.plan,
            period_start=crossing.ref.period.start,
            period_end=crossing.ref.period.end,
            currency=crossing.customer.currency,
            threshold=crossing.alert.threshold,
            value=crossing.value,
            fired_at=now,
        )
        if firing_id is None:
            continue
        message_id = emit(
            session,
            "alert.triggered",
            _payload(crossing, now),
            at=now,
            customer_id=crossing.customer.id,
        )
        store.set_message_id(session, firing_id, message_id)
        fired.append(Fired(crossing, message_id, now))
    return fired


def evaluate(session: Session, customer_id: str, *, now: datetime) -> list[Fired]:
    """:func:`crossings` and :func:`record` in one transaction (the caller's)."""
    return record(session, crossings(session, customer_id, now=now), now=now)


# --------------------------------------------------------------------------- reading


def alert_statuses(
    session: Session,
    customer_id: str,
    *,
    at: datetime,
    views: Sequence[InvoiceView] | None = None,
) -> list[AlertStatus]:
    """Each alert of the customer in each current period it is watched in (one row with no
    period when there is none), with its value at ``at`` and its firing there. ``views``:
    the customer's invoices at ``at`` if the caller already has them."""
    customer = load_customer(session, customer_id)
    if not customer.alerts:
        return []
    catalog = load_catalog(session).catalog
    refs = current_periods(customer, catalog, at)
    firings = {
        (row.alert_key, row.plan_key, row.period_start): row
        for row in store.firings(session, customer_id, at=at)
    }
    values = _Values(session, customer, at, views)
    result: list[AlertStatus] = []
    for alert in customer.alerts:
        watched = _watched(alert, refs, catalog)
        if not watched:
            result.append(AlertStatus(alert, customer.currency, None, None, None, None))
        for ref in watched:
            value, _ = values.of(alert, ref)
            row = firings.get((alert.key, ref.plan, ref.period.start))
            result.append(
                AlertStatus(
                    alert,
                    customer.currency,
                    ref,
                    value,
                    None if row is None else row.fired_at,
                    None if row is None else row.value,
                )
            )
    return result


# --------------------------------------------------------------------------- the API's edits


def add_alert(
    session: Session, customer_id: str, document: Mapping[str, object], *, now: datetime
) -> Alert:
    """Add an alert to the customer's definition (``key`` is made up when absent); the
    errors name the field (``threshold``), as the setup document's do."""
    catalog_store.lock_customers(session, [customer_id])
    customer = load_customer(session, customer_id)
    given = dict(document)
    if given.get("key") is None:
        given["key"] = "alert-" + secrets.token_hex(6)
    alert = parse_alert(given, "", currency=customer.currency)
    if alert.product is not None and alert.product not in load_catalog(session).catalog.products:
        raise InvalidSetup("product", f"unknown product {alert.product!r}")
    if any(existing.key == alert.key for existing in customer.alerts):
        raise Conflict(f"customer '{customer_id}' already has an alert '{alert.key}'")
    if len(customer.alerts) >= MAX_ALERTS:
        raise InvalidRequest(f"customer '{customer_id}' has {MAX_ALERTS} alerts, the most allowed")
    save_customer(session, replace(customer, alerts=(*customer.alerts, alert)), now=now)
    return alert


def customer_currency(session: Session, customer_id: str) -> str:
    return load_customer(session, customer_id).currency


def delete_alert(session: Session, customer_id: str, key: str, *, now: datetime) -> None:
    """Remove an alert from the customer's definition; its past firings stay recorded."""
    catalog_store.lock_customers(session, [customer_id])
    customer = load_customer(session, customer_id)
    kept = tuple(alert for alert in customer.alerts if alert.key != key)
    if len(kept) == len(customer.alerts):
        raise NotFound(f"alert '{key}' not found")
    save_customer(session, replace(customer, alerts=kept), now=now)
