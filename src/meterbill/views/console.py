"""The figures of the operator console (admin keys): customers, invoices, receivables and
one customer's page, all taken from the invoicing service's invoices at one moment.

Nothing is computed a second way: every amount is an ``InvoiceView``'s (its total, its
``amount_due``), a draft's total is the live draft the API shows, and the credit balance is
the spend alerts' (``services.alerts.credit_balance``: what the grants in force still hold
after issued invoices and drafts).

* **Due date**: an issued invoice falls due ``settings.net_payment_terms`` days after it was
  issued (default 30, "net 30"; ``Settings.due_at``), the date the invoice page prints.
* **Days past due**: whole UTC calendar days from the due date to ``as_of``: on the due date
  itself it is 0 (current), the next day 1. An invoice is **open** when it is issued with
  something still due, and **overdue** when it is open and at least one day past due.
* **Receivables by age**: every open invoice's amount due, in the bucket of its days past
  due: current (0 or less), 1–30, 31–60, over 60 (:data:`AGES`).
* **Draft total** of a customer: the totals of all its live drafts added up (usually the
  current period's; a period waiting for its close is a draft too).
* **Totals** are per currency: customers may bill in different ones and a sum across them
  means nothing.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from meterbill.core.catalog import Customer, Settings
from meterbill.core.errors import InvalidRequest
from meterbill.core.periods import WindowSize
from meterbill.db import Session
from meterbill.services.alerts import credit_balance
from meterbill.services.catalog import customer_choices, load_catalog, load_customer
from meterbill.services.invoicing import (
    CreditNoteView,
    InvoiceView,
    customer_invoices,
    invoice_credit_notes,
)
from meterbill.services.reports import CreditBalance, credit_balances
from meterbill.services.webhooks import DeliveryView, customer_deliveries
from meterbill.views import dashboard as usage

__all__ = [
    "AGES",
    "STATUSES",
    "WEBHOOK_ROWS",
    "Age",
    "ConsoleInvoice",
    "CustomerPage",
    "CustomerSummary",
    "Customers",
    "InvoiceFilter",
    "InvoiceList",
    "Receivable",
    "Receivables",
    "age_of",
    "customer_page",
    "customers",
    "days_past_due",
    "invoice_filter",
    "invoice_list",
    "receivables",
    "webhook_deliveries",
]

_ZERO = Decimal(0)
STATUSES = ("draft", "issued", "paid", "void")
"""The statuses the invoice list filters on (``issued``: issued and not paid yet)."""
WEBHOOK_ROWS = 20
"""How many of a customer's latest webhook deliveries its page lists."""
_MONTH = re.compile(r"(?P<year>[0-9]{4})-(?P<month>0[1-9]|1[0-2])")


@dataclass(frozen=True, slots=True)
class Age:
    """A receivables bucket: days past due from ``low`` to ``high`` (both included)."""

    key: str
    label: str
    low: int | None
    high: int | None

    def holds(self, days: int) -> bool:
        return (self.low is None or days >= self.low) and (self.high is None or days <= self.high)


AGES = (
    Age("current", "Current", None, 0),
    Age("1-30", "1–30 days", 1, 30),
    Age("31-60", "31–60 days", 31, 60),
    Age("over-60", "> 60 days", 61, None),
)


def days_past_due(due_at: datetime, as_of: datetime) -> int:
    """Whole UTC calendar days from the due date to ``as_of`` (0 on the due date itself,
    negative before it)."""
    return (as_of.astimezone(UTC).date() - due_at.astimezone(UTC).date()).days


def age_of(days: int) -> Age:
    """The receivables bucket of ``days`` past due."""
    return next(age for age in AGES if age.holds(days))


def _add(totals: dict[str, Decimal], currency: str, amount: Decimal) -> None:
    totals[currency] = totals.get(currency, _ZERO) + amount


@dataclass(frozen=True, slots=True)
class ConsoleInvoice:
    """An invoice as the console lists it: the view, its due date and how late it is."""

    view: InvoiceView
    due_at: datetime | None
    days_past_due: int | None
    """For an open invoice (issued, something due) only."""

    @property
    def open(self) -> bool:
        return self.days_past_due is not None

    @property
    def overdue(self) -> bool:
        return self.days_past_due is not None and self.days_past_due >= 1

    @property
    def age(self) -> Age | None:
        return None if self.days_past_due is None else age_of(self.days_past_due)

    @property
    def voidable(self) -> bool:
        """Issued with no payment and no credit note (``void_invoice``'s rule)."""
        return (
            self.view.status == "issued"
            and self.view.payments == 0
            and not (self.view.credit_notes)
        )

    @property
    def payable(self) -> bool:
        return self.view.status == "issued" and self.view.amount_due > 0

    @property
    def creditable(self) -> bool:
        """Issued or paid with some of its total left for credit notes."""
        return self.view.status in ("issued", "paid") and self.view.totals.total > (
            self.view.credit_notes
        )


def _console_invoice(view: InvoiceView, settings: Settings, as_of: datetime) -> ConsoleInvoice:
    due_at = None if view.issued_at is None else settings.due_at(view.issued_at)
    late = None
    if due_at is not None and view.status == "issued" and view.amount_due > 0:
        late = days_past_due(due_at, as_of)
    return ConsoleInvoice(view, due_at, late)


@dataclass(frozen=True, slots=True)
class _Ledger:
    """Every customer's invoices at one moment."""

    as_of: datetime
    settings: Settings
    books: tuple[tuple[Customer, tuple[ConsoleInvoice, ...]], ...]


def _ledger(
    session: Session, as_of: datetime, customer_ids: Iterable[str] | None = None
) -> _Ledger:
    settings = load_catalog(session).catalog.settings
    ids = [customer_id for customer_id, _ in customer_choices(session)]
    if customer_ids is not None:
        wanted = set(customer_ids)
        ids = [customer_id for customer_id in ids if customer_id in wanted]
    books = []
    for customer_id in ids:
        views = customer_invoices(session, customer_id, as_of=as_of)
        customer = views[0].customer if views else load_customer(session, customer_id)
        books.append((customer, tuple(_console_invoice(view, settings, as_of) for view in views)))
    return _Ledger(as_of, settings, tuple(books))


# --------------------------------------------------------------------------- customers


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    """One row of the customer list."""

    customer: Customer
    draft_total: Decimal
    credit_balance: Decimal
    last_invoice: ConsoleInvoice | None
    """The issued invoice with the highest number (whatever its status now)."""
    amount_due: Decimal
    overdue: Decimal

    @property
    def currency(self) -> str:
        return self.customer.currency


@dataclass(frozen=True, slots=True)
class Customers:
    as_of: datetime
    rows: tuple[CustomerSummary, ...]
    draft_totals: dict[str, Decimal]
    credit_balances: dict[str, Decimal]
    amounts_due: dict[str, Decimal]
    overdue: dict[str, Decimal]


def _summary(
    session: Session, customer: Customer, invoices: Sequence[ConsoleInvoice], as_of: datetime
) -> CustomerSummary:
    views = [invoice.view for invoice in invoices]
    issued = [invoice for invoice in invoices if invoice.view.number is not None]
    return CustomerSummary(
        customer=customer,
        draft_total=sum((v.totals.total for v in views if v.status == "draft"), _ZERO),
        credit_balance=credit_balance(session, customer.id, views, as_of),
        last_invoice=max(issued, key=lambda invoice: invoice.view.number or 0, default=None),
        amount_due=sum((invoice.view.amount_due for invoice in invoices if invoice.open), _ZERO),
        overdue=sum((invoice.view.amount_due for invoice in invoices if invoice.overdue), _ZERO),
    )


def customers(session: Session, *, as_of: datetime) -> Customers:
    """Every customer with its draft total, credit balance, last invoice and amount due."""
    ledger = _ledger(session, as_of)
    rows = tuple(_summary(session, customer, books, as_of) for customer, books in ledger.books)
    totals: tuple[dict[str, Decimal], ...] = ({}, {}, {}, {})
    for row in rows:
        for bucket, amount in zip(
            totals,
            (row.draft_total, row.credit_balance, row.amount_due, row.overdue),
            strict=True,
        ):
            _add(bucket, row.currency, amount)
    return Customers(as_of, rows, *totals)


# --------------------------------------------------------------------------- invoices


@dataclass(frozen=True, slots=True)
class InvoiceFilter:
    """The invoice list's filters: a status, a month the period starts in, overdue only,
    one customer. Empty means "any"."""

    status: str = ""
    period: str = ""
    overdue: bool = False
    customer: str = ""

    def keeps(self, invoice: ConsoleInvoice) -> bool:
        view = invoice.view
        if self.status and view.status != self.status:
            return False
        if self.period and f"{view.ref.period.start:%Y-%m}" != self.period:
            return False
        if self.overdue and not invoice.overdue:
            return False
        return not self.customer or view.customer.id == self.customer

    @property
    def active(self) -> bool:
        return bool(self.status or self.period or self.overdue or self.customer)


def invoice_filter(
    *, status: str | None, period: str | None, overdue: str | None, customer: str | None
) -> InvoiceFilter:
    """The filters from a query string; ``InvalidRequest`` names a bad one."""
    status = (status or "").strip()
    if status and status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)} (or empty for any)")
    period = (period or "").strip()
    if period and not _MONTH.fullmatch(period):
        raise InvalidRequest(f"period must be a month like 2026-03, got {period!r}")
    flag = (overdue or "").strip().lower()
    if flag not in ("", "0", "1", "on", "true", "false"):
        raise InvalidRequest("overdue must be 1 or empty")
    return InvoiceFilter(status, period, flag in ("1", "on", "true"), (customer or "").strip())


@dataclass(frozen=True, slots=True)
class InvoiceList:
    as_of: datetime
    filters: InvoiceFilter
    rows: tuple[ConsoleInvoice, ...]
    """Newest period first; inside a period, by customer."""
    totals: dict[str, Decimal]
    amounts_due: dict[str, Decimal]
    months: tuple[str, ...]
    """Every month some invoice's period starts in, newest first (the period filter's
    choices)."""
    customers: tuple[tuple[str, str], ...]


def invoice_list(session: Session, *, as_of: datetime, filters: InvoiceFilter) -> InvoiceList:
    """All customers' invoices (drafts too), filtered, with their totals per currency."""
    ledger = _ledger(session, as_of)
    every = [invoice for _, books in ledger.books for invoice in books]
    rows = sorted(
        (invoice for invoice in every if filters.keeps(invoice)),
        key=lambda invoice: (
            -invoice.view.ref.period.start.timestamp(),
            invoice.view.customer.id,
            invoice.view.number is None,
            invoice.view.number or 0,
        ),
    )
    totals: dict[str, Decimal] = {}
    due: dict[str, Decimal] = {}
    for invoice in rows:
        if invoice.view.status != "void":
            _add(totals, invoice.view.currency, invoice.view.totals.total)
        _add(due, invoice.view.currency, invoice.view.amount_due if invoice.open else _ZERO)
    months = sorted({f"{i.view.ref.period.start:%Y-%m}" for i in every}, reverse=True)
    return InvoiceList(
        as_of=as_of,
        filters=filters,
        rows=tuple(rows),
        totals=totals,
        amounts_due=due,
        months=tuple(months),
        customers=tuple((customer.id, customer.name) for customer, _ in ledger.books),
    )


# --------------------------------------------------------------------------- receivables


@dataclass(frozen=True, slots=True)
class Receivable:
    """One customer's open amounts by age (:data:`AGES` keys) and in all."""

    customer: Customer
    buckets: dict[str, Decimal]
    total: Decimal
    invoices: tuple[ConsoleInvoice, ...]


@dataclass(frozen=True, slots=True)
class Receivables:
    as_of: datetime
    net_payment_terms: int
    rows: tuple[Receivable, ...]
    """Customers with something open, the largest total first."""
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    """Per currency: per bucket key, and ``"total"``."""


def receivables(session: Session, *, as_of: datetime) -> Receivables:
    """What customers owe at ``as_of``, by days past due."""
    ledger = _ledger(session, as_of)
    rows: list[Receivable] = []
    totals: dict[str, dict[str, Decimal]] = {}
    for customer, books in ledger.books:
        open_ = tuple(invoice for invoice in books if invoice.open)
        if not open_:
            continue
        buckets = {age.key: _ZERO for age in AGES}
        for invoice in open_:
            assert invoice.age is not None
            buckets[invoice.age.key] += invoice.view.amount_due
        total = sum(buckets.values(), _ZERO)
        rows.append(Receivable(customer, buckets, total, open_))
        currency = totals.setdefault(
            customer.currency, {**{age.key: _ZERO for age in AGES}, "total": _ZERO}
        )
        for key, amount in [*buckets.items(), ("total", total)]:
            currency[key] += amount
    rows.sort(key=lambda row: (row.customer.currency, -row.total, row.customer.id))
    return Receivables(as_of, ledger.settings.net_payment_terms, tuple(rows), totals)


# --------------------------------------------------------------------------- one customer


@dataclass(frozen=True, slots=True)
class CustomerPage:
    """One customer's console page: the usage dashboard's figures (its chart), every invoice
    with its due date, the credit grants, the credit notes and the latest webhook deliveries
    of the events about the customer."""

    usage: usage.Dashboard
    summary: CustomerSummary
    invoices: tuple[ConsoleInvoice, ...]
    """Newest first."""
    credits: tuple[CreditBalance, ...]
    credit_notes: tuple[CreditNoteView, ...]
    webhooks: tuple[DeliveryView, ...]
    """The latest :data:`WEBHOOK_ROWS` deliveries, newest message first."""

    @property
    def customer(self) -> Customer:
        return self.usage.customer

    @property
    def voidable(self) -> tuple[ConsoleInvoice, ...]:
        return tuple(invoice for invoice in self.invoices if invoice.voidable)

    @property
    def payable(self) -> tuple[ConsoleInvoice, ...]:
        return tuple(invoice for invoice in self.invoices if invoice.payable)

    @property
    def creditable(self) -> tuple[ConsoleInvoice, ...]:
        return tuple(invoice for invoice in self.invoices if invoice.creditable)


def customer_page(session: Session, customer_id: str, *, as_of: datetime) -> CustomerPage:
    """Every figure of one customer's console page (``NotFound`` if unknown)."""
    data = usage.dashboard(session, customer_id, as_of=as_of, size=WindowSize.DAY)
    settings = load_catalog(session).catalog.settings
    invoices = tuple(_console_invoice(view, settings, as_of) for view in data.invoices)
    notes = tuple(
        note
        for invoice in invoices
        if invoice.view.number is not None and invoice.view.credit_notes
        for note in invoice_credit_notes(session, invoice.view.id)
    )
    return CustomerPage(
        usage=data,
        summary=_summary(session, data.customer, invoices, as_of),
        invoices=tuple(reversed(invoices)),
        credits=tuple(credit_balances(session, customer_id, as_of=as_of, views=data.invoices)),
        credit_notes=tuple(sorted(notes, key=lambda note: -note.number)),
        webhooks=webhook_deliveries(session, customer_id),
    )


def webhook_deliveries(
    session: Session, customer_id: str, *, limit: int = WEBHOOK_ROWS
) -> tuple[DeliveryView, ...]:
    """The latest deliveries of the webhook events about one customer, newest first."""
    return tuple(customer_deliveries(session, customer_id, limit=limit))
