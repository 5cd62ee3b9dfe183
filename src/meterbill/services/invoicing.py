"""Invoices: the live drafts, closing periods, late-usage corrections, void and payments.

Drafts are never stored; they are rated on every read from the buckets, so every accepted
event shows up at once (spec 4.7). Closing freezes a draft into an issued invoice with the
next number of the installation's gap-free sequence. Events that arrive for an issued period
flag it, and the customer's next draft carries the difference as correction lines.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterbill.core.catalog import CreditKind, Customer
from meterbill.core.credits import CreditUse
from meterbill.core.errors import Conflict, InvalidRequest, NotFound
from meterbill.core.invoicing import (
    Draft,
    PeriodRef,
    closable,
    customer_periods,
    draft_invoices,
    invoice_id,
    period_anchor,
    purchases,
)
from meterbill.core.money import decimal_text, from_minor, to_minor
from meterbill.core.periods import Span
from meterbill.core.rating import Line, Totals, corrections, rate_period
from meterbill.db import Session
from meterbill.db import catalog as catalog_store
from meterbill.db import invoices as store
from meterbill.db.models import CreditApplicationRow, InvoiceLineRow, InvoiceRow
from meterbill.services.catalog import CatalogState, load_catalog, load_customer
from meterbill.services.jsonio import dumps_text, loads_exact
from meterbill.services.usage import divided, period_usage

__all__ = [
    "InvoiceView",
    "billing_clock",
    "close_periods",
    "customer_invoices",
    "find_invoice",
    "period_quantities",
    "record_payment",
    "void_invoice",
]

_CLOCK_KEY = "billing_clock"
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class InvoiceView:
    """An invoice as shown: a live draft, or an issued one with its current status."""

    id: str
    customer: Customer
    ref: PeriodRef
    status: str
    number: int | None
    lines: tuple[Line, ...]
    totals: Totals
    issued_at: datetime | None = None
    paid_at: datetime | None = None
    voided_at: datetime | None = None
    payments: Decimal = _ZERO

    @property
    def currency(self) -> str:
        return self.customer.currency

    @property
    def amount_due(self) -> Decimal:
        if self.status in ("void", "paid"):
            return _ZERO
        return max(self.totals.total - self.payments, _ZERO)


def billing_clock(session: Session, *, default: datetime) -> datetime:
    """The time reads default to: the latest ``close --as-of``, else ``default`` (now).

    The closer of ``meterbill serve`` runs every minute with the real time, so in service
    this is now; after ``meterbill close --as-of T`` on a file, reads show the state at T.
    """
    stored = catalog_store.get_meta(session, _CLOCK_KEY)
    if stored is None:
        return default
    value = loads_exact(stored)
    assert isinstance(value, str)
    return datetime.fromisoformat(value)


def period_quantities(
    session: Session, state: CatalogState, customer_id: str, ref: PeriodRef
) -> dict[str, dict[tuple[str, ...], Decimal]]:
    """Each usage product's quantity per group over the period; a meter shared by several
    products is read once."""
    catalog = state.catalog
    result: dict[str, dict[tuple[str, ...], Decimal]] = {}
    measured: dict[str, dict[tuple[str, ...], Decimal]] = {}
    for key in catalog.plans[ref.plan].products:
        product = catalog.products[key]
        if product.meter is None:
            continue
        if product.meter not in measured:
            measured[product.meter] = period_usage(
                session,
                state.meters[product.meter],
                customer_id=customer_id,
                span=ref.period,
                divisor=None,
            )
        result[key] = divided(measured[product.meter], product.quantity_divisor)
    return result


def _line(row: InvoiceLineRow, currency: str) -> Line:
    group = loads_exact(row.group_values)
    assert isinstance(group, dict)
    amount = from_minor(row.amount, currency)
    tier = None
    if row.product_key is not None:
        key = loads_exact(row.line_key)
        if isinstance(key, list) and len(key) == 3 and isinstance(key[2], int):
            tier = key[2]
    return Line(
        key=row.line_key,
        name=row.name,
        product=row.product_key,
        type=row.line_type,
        group=tuple((str(k), str(v)) for k, v in group.items()),
        quantity=row.quantity,
        unit_price=row.unit_price,
        exact=amount,
        amount=amount,
        description=row.description,
        tier=tier,
        corrects=row.corrects_period_start,
    )


def _issued_view(
    session: Session, customer: Customer, row: InvoiceRow, lines: Sequence[InvoiceLineRow]
) -> InvoiceView:
    currency = customer.currency
    document = loads_exact(row.document)
    assert isinstance(document, dict)
    uses = tuple(
        CreditUse(app.grant_key, CreditKind(app.kind), from_minor(app.amount, currency))
        for app in store.credit_applications(session, row.id)
    )
    totals = Totals(
        subtotal=from_minor(row.subtotal, currency),
        credits=uses,
        credits_applied=from_minor(row.credits_applied, currency),
        total=from_minor(row.total, currency),
        credit_balance_after=Decimal(str(document.get("credit_balance_after", "0"))),
    )
    return InvoiceView(
        id=row.id,
        customer=customer,
        ref=PeriodRef(Span(row.period_start, row.period_end), row.plan_key),
        status=row.status,
        number=row.number,
        lines=tuple(_line(line, currency) for line in lines),
        totals=totals,
        issued_at=row.issued_at,
        paid_at=row.paid_at,
        voided_at=row.voided_at,
        payments=from_minor(store.paid_amount(session, row.id), currency),
    )


def _drafts(
    session: Session,
    state: CatalogState,
    customer: Customer,
    rows: Sequence[InvoiceRow],
    *,
    as_of: datetime,
) -> list[Draft]:
    catalog = state.catalog
    refs = customer_periods(customer, catalog, until=as_of)
    stored = {(row.plan_key, row.period_start) for row in rows}
    drafts = [ref for ref in refs if (ref.plan, ref.period.start) not in stored]
    if not drafts:
        return []
    used = {
        key: from_minor(minor, customer.currency)
        for key, minor in store.credit_usage(session, customer_id=customer.id).items()
    }
    placed = purchases(customer, refs)
    pending: dict[Span, list[Line]] = {}
    for row in rows:
        if not row.late_usage or row.status == "void":
            continue
        ref = PeriodRef(Span(row.period_start, row.period_end), row.plan_key)
        rerated = rate_period(
            catalog=catalog,
            plan=catalog.plans[row.plan_key],
            period=ref.period,
            currency=customer.currency,
            usage=period_quantities(session, state, customer.id, ref),
            purchases=placed.get(ref, ()),
            anchored_at=period_anchor(customer, catalog, ref),
        )
        billed = [
            _line(line, customer.currency)
            for line in store.lines_for_period(
                session,
                customer_id=customer.id,
                plan_key=row.plan_key,
                period_start=row.period_start,
            )
        ]
        found = corrections(period=ref.period, rerated=rerated, billed=billed)
        if found:
            pending[ref.period] = found
    return draft_invoices(
        customer=customer,
        catalog=catalog,
        drafts=drafts,
        all_periods=refs,
        usage={ref: period_quantities(session, state, customer.id, ref) for ref in drafts},
        used=used,
        corrections=pending,
    )


def _draft_view(customer: Customer, draft: Draft) -> InvoiceView:
    return InvoiceView(
        id=invoice_id(customer.id, draft.ref),
        customer=customer,
        ref=draft.ref,
        status="draft",
        number=None,
        lines=draft.lines,
        totals=draft.totals,
    )


def customer_invoices(session: Session, customer_id: str, *, as_of: datetime) -> list[InvoiceView]:
    """All the customer's invoices at ``as_of``: issued ones and live drafts, period order."""
    state = load_catalog(session)
    customer = load_customer(session, customer_id)
    rows = store.invoice_rows(session, customer_id=customer_id)
    lines = store.invoice_lines(session, [row.id for row in rows])
    views = [_issued_view(session, customer, row, lines[row.id]) for row in rows]
    views.extend(
        _draft_view(customer, d) for d in _drafts(session, state, customer, rows, as_of=as_of)
    )
    return sorted(views, key=lambda view: view.ref)


def find_invoice(
    session: Session, invoice_id_: str, *, as_of: datetime, customer_id: str | None = None
) -> InvoiceView:
    """One invoice by id: an issued one, or a draft of ``customer_id`` (or of any customer)."""
    row = store.get_invoice(session, invoice_id_)
    if row is not None:
        if customer_id is not None and row.customer_id != customer_id:
            raise NotFound(f"invoice '{invoice_id_}' not found")
        customer = load_customer(session, row.customer_id)
        return _issued_view(session, customer, row, store.invoice_lines(session, [row.id])[row.id])
    state = load_catalog(session)
    candidates = (
        [customer_id] if customer_id else [r.id for r in catalog_store.customer_rows(session)]
    )
    for candidate in candidates:
        customer = load_customer(session, candidate)
        refs = customer_periods(customer, state.catalog, until=as_of)
        if any(invoice_id(candidate, ref) == invoice_id_ for ref in refs):
            for view in customer_invoices(session, candidate, as_of=as_of):
                if view.id == invoice_id_:
                    return view
    raise NotFound(f"invoice '{invoice_id_}' not found")


def close_periods(
    session: Session,
    *,
    as_of: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> list[InvoiceView]:
    """Finalize every draft whose period end + grace period ≤ ``as_of`` (spec 4.7).

    ``progress(done, total)`` is called after each customer (for a progress bar).
    """
    state = load_catalog(session)
    grace = state.catalog.settings.grace_period_hours
    issued: list[InvoiceView] = []
    customers = catalog_store.customer_rows(session)
    for done, customer_row in enumerate(customers, start=1):
        if progress is not None:
            progress(done - 1, len(customers))
        catalog_store.lock_customers(session, [customer_row.id])
        customer = load_customer(session, customer_row.id)
        rows = store.invoice_rows(session, customer_id=customer.id)
        for draft in _drafts(session, state, customer, rows, as_of=as_of):
            if not closable(draft.ref, as_of=as_of, grace_hours=grace):
                break
            issued.append(_finalize(session, customer, draft, rows, as_of=as_of))
    if progress is not None:
        progress(len(customers), len(customers))
    catalog_store.set_meta(session, _CLOCK_KEY, dumps_text(as_of.isoformat()))
    return issued


def _finalize(
    session: Session,
    customer: Customer,
    draft: Draft,
    rows: Sequence[InvoiceRow],
    *,
    as_of: datetime,
) -> InvoiceView:
    currency = customer.currency
    number = store.next_number(session)
    figures = draft.totals
    status = "paid" if figures.total == 0 else "issued"
    row = InvoiceRow(
        id=invoice_id(customer.id, draft.ref),
        customer_id=customer.id,
        plan_key=draft.ref.plan,
        period_start=draft.ref.period.start,
        period_end=draft.ref.period.end,
        currency=currency,
        status=status,
        number=number,
        issued_at=as_of,
        paid_at=as_of if status == "paid" else None,
        voided_at=None,
        subtotal=to_minor(figures.subtotal, currency),
        credits_applied=to_minor(figures.credits_applied, currency),
        total=to_minor(figures.total, currency),
        late_usage=False,
        document=dumps_text({"credit_balance_after": decimal_text(figures.credit_balance_after)}),
    )
    session.add(row)
    session.flush()
    session.add_all(
        InvoiceLineRow(
            invoice_id=row.id,
            position=position,
            line_key=line.key,
            name=line.name,
            product_key=line.product,
            line_type=line.type,
            group_values=dumps_text(line.group_dict),
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=to_minor(line.amount, currency),
            corrects_period_start=line.corrects,
            description=line.description,
        )
        for position, line in enumerate(draft.lines)
    )
    session.add_all(
        CreditApplicationRow(
            invoice_id=row.id,
            grant_key=use.grant,
            customer_id=customer.id,
            kind=use.kind.value,
            amount=to_minor(use.amount, currency),
        )
        for use in figures.credits
    )
    corrected = [r.id for r in rows if r.period_start in draft.corrected]
    store.unflag_late_usage(session, corrected)
    session.flush()
    return InvoiceView(
        id=row.id,
        customer=customer,
        ref=draft.ref,
        status=status,
        number=number,
        lines=draft.lines,
        totals=figures,
        issued_at=as_of,
        paid_at=row.paid_at,
    )


def void_invoice(
    session: Session, invoice_id_: str, *, now: datetime, customer_id: str | None = None
) -> InvoiceView:
    """Void an issued, unpaid invoice; its credits return to the grants' balances."""
    row = store.get_invoice(session, invoice_id_, lock=True)
    if row is None or (customer_id is not None and row.customer_id != customer_id):
        raise NotFound(f"invoice '{invoice_id_}' not found (drafts cannot be voided)")
    if row.status != "issued" or store.paid_amount(session, row.id) > 0:
        raise Conflict(
            f"invoice '{invoice_id_}' is {row.status}: only issued, unpaid invoices can be voided"
        )
    row.status = "void"
    row.voided_at = now
    session.flush()
    return find_invoice(session, invoice_id_, as_of=now)


def record_payment(
    session: Session,
    invoice_id_: str,
    *,
    amount: Decimal,
    now: datetime,
    reference: str | None = None,
    method: str = "card",
    customer_id: str | None = None,
) -> InvoiceView:
    """Record a payment on an issued invoice; it is paid once payments cover the total."""
    row = store.get_invoice(session, invoice_id_, lock=True)
    if row is None or (customer_id is not None and row.customer_id != customer_id):
        raise NotFound(f"invoice '{invoice_id_}' not found (drafts cannot be paid)")
    if row.status != "issued":
        raise Conflict(f"invoice '{invoice_id_}' is {row.status}: payments go on issued invoices")
    if amount <= 0:
        raise InvalidRequest("amount must be positive")
    minor = to_minor(amount, row.currency)
    if from_minor(minor, row.currency) != amount:
        raise InvalidRequest(f"amount {amount} has more decimals than {row.currency} allows")
    store.add_payment(
        session, invoice_id=row.id, amount=minor, paid_at=now, reference=reference, method=method
    )
    if store.paid_amount(session, row.id) >= row.total:
        row.status = "paid"
        row.paid_at = now
    session.flush()
    return find_invoice(session, invoice_id_, as_of=now)
