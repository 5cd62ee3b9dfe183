"""Invoices: the live drafts, closing periods, late-usage corrections, voids, credit notes
and payments.

Drafts are never stored; they are rated on every read from the buckets, so every accepted
event shows up at once (spec 4.7). Closing freezes a draft into an issued invoice with the
next number of the installation's gap-free sequence. Events that arrive for an issued period
flag it, and the customer's next draft carries the difference as correction lines.

Voiding an issued, unpaid invoice returns its period to draft (unless written off): the next
close issues a replacement, which deducts what other invoices already billed for the period
as corrections. A credit note reduces what an issued or paid invoice asks for; what exceeds
the amount due becomes a credit grant ``credit-note-<number>`` (spec 5.6).

Each change writes its webhook events to the outbox in the same transaction
(``services.outbox.emit``): ``invoice.issued`` (and ``invoice.replaced`` for a replacement),
``invoice.paid`` whenever an invoice becomes paid (a payment, a credit note, or a total of
zero at issue), ``invoice.voided`` and ``credit_note.created``.
"""

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from meterbill.core.adjustments import LINE_TAX
from meterbill.core.catalog import CreditGrant, CreditKind, Customer
from meterbill.core.credits import CreditUse
from meterbill.core.errors import (
    BillingError,
    Conflict,
    InvalidRequest,
    NotFound,
    OutOfRange,
    Unrepresentable,
)
from meterbill.core.events import time_text
from meterbill.core.invoicing import (
    Draft,
    PeriodRef,
    closable,
    customer_periods,
    deduction,
    draft_invoices,
    invoice_id,
    period_anchor,
    period_discounts,
    purchases,
    span_of,
)
from meterbill.core.money import decimal_text, from_minor, money_text, to_minor
from meterbill.core.periods import Span
from meterbill.core.rating import (
    Line,
    Remember,
    Totals,
    corrections,
    piece_key,
    price_pieces,
    rate_period,
)
from meterbill.db import Session, savepoint
from meterbill.db import catalog as catalog_store
from meterbill.db import invoices as store
from meterbill.db.models import CreditApplicationRow, CreditNoteRow, InvoiceLineRow, InvoiceRow
from meterbill.services.catalog import CatalogState, load_catalog, load_customer
from meterbill.services.jsonio import dumps_text, loads_exact
from meterbill.services.outbox import emit
from meterbill.services.usage import divided, memoized, period_usage

__all__ = [
    "MAX_AS_OF_AHEAD",
    "CloseFailure",
    "CloseResult",
    "CreditNoteView",
    "InvoiceView",
    "billing_customer",
    "check_as_of",
    "close_periods",
    "credit_note_event_data",
    "customer_invoices",
    "find_invoice",
    "invoice_credit_notes",
    "invoice_event_data",
    "issue_credit_note",
    "period_quantities",
    "record_payment",
    "resolve_invoice",
    "void_invoice",
]

_ZERO = Decimal(0)

# How far past now a read may look (``as_of``): the end of the current period of the
# longest interval (a year) plus the grace period. Every period up to ``as_of`` is rated
# on a read, so the bound keeps a read's work and size bounded (docs/decisions.md).
MAX_AS_OF_AHEAD = timedelta(days=366)


def check_as_of(as_of: datetime, *, now: datetime, name: str = "as_of") -> datetime:
    """``as_of`` unless it lies more than :data:`MAX_AS_OF_AHEAD` after ``now``."""
    if as_of > now + MAX_AS_OF_AHEAD:
        raise OutOfRange(
            f"{name} {as_of.strftime('%Y-%m-%dT%H:%M:%SZ')} is too far ahead: at most "
            f"{MAX_AS_OF_AHEAD.days} days after now "
            f"({(now + MAX_AS_OF_AHEAD).strftime('%Y-%m-%dT%H:%M:%SZ')})"
        )
    return as_of


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
    replaces: int | None = None
    replaced_by: int | None = None
    written_off: bool = False
    credit_notes: Decimal = _ZERO
    credit_notes_off_due: Decimal = _ZERO

    @property
    def currency(self) -> str:
        return self.customer.currency

    @property
    def amount_due(self) -> Decimal:
        """total − payments − what credit notes took off the amount due, never below 0."""
        if self.status in ("void", "paid"):
            return _ZERO
        return max(self.totals.total - self.payments - self.credit_notes_off_due, _ZERO)


@dataclass(frozen=True, slots=True)
class CreditNoteView:
    """A credit note: ``off_due`` is what it took off the amount due, ``granted`` what became
    the credit grant :attr:`grant` (spec 5.6)."""

    number: int
    invoice_id: str
    invoice_number: int
    customer_id: str
    currency: str
    amount: Decimal
    off_due: Decimal
    granted: Decimal
    reason: str
    at: datetime
    created_at: datetime

    @property
    def grant(self) -> str | None:
        return f"credit-note-{self.number}" if self.granted > 0 else None


def _credit_note_view(row: CreditNoteRow, invoice_number: int) -> CreditNoteView:
    currency = row.currency
    return CreditNoteView(
        number=row.number,
        invoice_id=row.invoice_id,
        invoice_number=invoice_number,
        customer_id=row.customer_id,
        currency=currency,
        amount=from_minor(row.amount, currency),
        off_due=from_minor(row.off_due, currency),
        granted=from_minor(row.granted, currency),
        reason=row.reason,
        at=row.at,
        created_at=row.created_at,
    )


def invoice_event_data(view: InvoiceView) -> dict[str, object]:
    """The invoice in a webhook event: the invoice JSON's fields without the lines (``GET
    /v1/invoices/{id}`` has them); amounts are decimal strings."""
    figures = view.totals
    return {
        "id": view.id,
        "number": view.number,
        "customer_id": view.customer.id,
        "plan": view.ref.plan,
        "status": view.status,
        "currency": view.currency,
        "period_start": time_text(view.ref.period.start),
        "period_end": time_text(view.ref.period.end),
        "issued_at": time_text(view.issued_at),
        "paid_at": time_text(view.paid_at),
        "voided_at": time_text(view.voided_at),
        "subtotal": money_text(figures.subtotal, view.currency),
        "tax": money_text(figures.tax, view.currency),
        "credits_applied": money_text(figures.credits_applied, view.currency),
        "total": money_text(figures.total, view.currency),
        "payments": money_text(view.payments, view.currency),
        "credit_notes": money_text(view.credit_notes, view.currency),
        "amount_due": money_text(view.amount_due, view.currency),
        "replaces": view.replaces,
        "written_off": view.written_off,
    }


def credit_note_event_data(note: CreditNoteView) -> dict[str, object]:
    """A credit note in a webhook event (the fields of the credit-note JSON)."""
    return {
        "number": note.number,
        "invoice_id": note.invoice_id,
        "invoice_number": note.invoice_number,
        "customer_id": note.customer_id,
        "currency": note.currency,
        "amount": money_text(note.amount, note.currency),
        "off_due": money_text(note.off_due, note.currency),
        "granted": money_text(note.granted, note.currency),
        "grant": note.grant,
        "reason": note.reason,
        "at": time_text(note.at),
        "created_at": time_text(note.created_at),
    }


def _emit_paid(session: Session, view: InvoiceView, *, via: str, at: datetime) -> None:
    emit(
        session,
        "invoice.paid",
        {"invoice": invoice_event_data(view), "paid_via": via},
        at=at,
        customer_id=view.customer.id,
    )


def billing_customer(session: Session, customer_id: str) -> Customer:
    """The customer with the grants its credit notes made (kind ``credit_note``, priority
    0, no expiry, from the credit note's time), drawn like any other grant."""
    customer = load_customer(session, customer_id)
    notes = store.credit_note_grants(session, customer_id=customer_id)
    if not notes:
        return customer
    grants = tuple(
        CreditGrant(
            key=f"credit-note-{note.number}",
            kind=CreditKind.CREDIT_NOTE,
            amount=from_minor(note.granted, customer.currency),
            starts_at=note.at,
            priority=0,
        )
        for note in notes
    )
    return replace(customer, credits=customer.credits + grants)


def period_quantities(
    session: Session,
    state: CatalogState,
    customer_id: str,
    ref: PeriodRef,
    *,
    until: datetime | None = None,
) -> dict[str, dict[tuple[str, ...], Decimal]]:
    """Each usage product's quantity per group over the period; a meter shared by several
    products is read once per span. With ``until`` inside the period, usage is measured
    only up to it (the charges accrued so far: a time-weighted value holds until
    ``until``, not the period end).

    A product whose period a price change splits (spec 5.1) has its quantities per piece
    instead, under ``piece_key(product, piece start)``: each piece is measured over its own
    span (hour-aligned, so from buckets).
    """
    catalog = state.catalog
    result: dict[str, dict[tuple[str, ...], Decimal]] = {}
    measured: dict[tuple[str, Span], dict[tuple[str, ...], Decimal]] = {}

    def measure(meter: str, span: Span) -> dict[tuple[str, ...], Decimal]:
        if until is not None and span.end > until:
            if span.start >= until:
                return {}
            span = Span(span.start, until)
        if (meter, span) not in measured:
            measured[meter, span] = period_usage(
                session, state.meters[meter], customer_id=customer_id, span=span, divisor=None
            )
        return measured[meter, span]

    for key in catalog.plans[ref.plan].products:
        product = catalog.products[key]
        if product.meter is None:
            continue
        pieces = price_pieces(product, ref.period)
        if len(pieces) == 1:
            result[key] = divided(measure(product.meter, ref.period), product.quantity_divisor)
            continue
        for piece in pieces:
            result[piece_key(key, piece.span.start)] = divided(
                measure(product.meter, piece.span), product.quantity_divisor
            )
    return result


def _line(row: InvoiceLineRow, currency: str) -> Line:
    group = loads_exact(row.group_values)
    assert isinstance(group, dict)
    amount = from_minor(row.amount, currency)
    tier = None
    since = None
    # A product minimum or maximum line (key "minimum:<product>") has no tier.
    if row.product_key is not None and row.line_key.startswith("["):
        key = loads_exact(row.line_key)
        if isinstance(key, list) and len(key) in (3, 4) and isinstance(key[2], int):
            tier = key[2]
        if isinstance(key, list) and len(key) == 4 and isinstance(key[3], str):
            since = datetime.fromisoformat(key[3])
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
        corrects_plan=row.corrects_plan_key,
        since=since,
    )


def _issued_view(
    session: Session,
    customer: Customer,
    row: InvoiceRow,
    lines: Sequence[InvoiceLineRow],
    replaced_by: int | None = None,
) -> InvoiceView:
    currency = customer.currency
    document = loads_exact(row.document)
    assert isinstance(document, dict)
    uses = tuple(
        CreditUse(app.grant_key, CreditKind(app.kind), from_minor(app.amount, currency))
        for app in store.credit_applications(session, row.id)
    )
    issued_lines = tuple(_line(line, currency) for line in lines)
    notes = store.credit_notes(session, row.id)
    totals = Totals(
        subtotal=from_minor(row.subtotal, currency),
        credits=uses,
        credits_applied=from_minor(row.credits_applied, currency),
        total=from_minor(row.total, currency),
        credit_balance_after=Decimal(str(document.get("credit_balance_after", "0"))),
        # The tax is the sum of the stored tax lines (spec 6.5): no column of its own.
        tax=sum((line.amount for line in issued_lines if line.type == LINE_TAX), _ZERO),
    )
    return InvoiceView(
        id=row.id,
        customer=customer,
        ref=PeriodRef(Span(row.period_start, row.period_end), row.plan_key),
        status=row.status,
        number=row.number,
        lines=issued_lines,
        totals=totals,
        issued_at=row.issued_at,
        paid_at=row.paid_at,
        voided_at=row.voided_at,
        payments=from_minor(store.paid_amount(session, row.id), currency),
        replaces=row.replaces,
        replaced_by=replaced_by,
        written_off=row.written_off,
        credit_notes=from_minor(sum(note.amount for note in notes), currency),
        credit_notes_off_due=from_minor(sum(note.off_due for note in notes), currency),
    )


def _replaced_by(rows: Sequence[InvoiceRow]) -> dict[int, int]:
    return {row.replaces: row.number for row in rows if row.replaces is not None}


@dataclass(frozen=True, slots=True)
class _Pending:
    """A draft with the id it is shown under and the void invoice it replaces."""

    draft: Draft
    id: str
    replaces: int | None


def _drafts(
    session: Session,
    state: CatalogState,
    customer: Customer,
    rows: Sequence[InvoiceRow],
    *,
    as_of: datetime,
    accrued: bool = False,
) -> list[_Pending]:
    """The customer's drafts: every period with no issued, paid or written-off invoice;
    ``accrued``: with usage measured up to ``as_of`` (``customer_invoices``)."""
    catalog = state.catalog
    customer = billing_customer(session, customer.id)
    refs = customer_periods(customer, catalog, until=as_of)
    stored = {
        (row.plan_key, row.period_start) for row in rows if row.status != "void" or row.written_off
    }
    voids: dict[tuple[str, datetime], list[InvoiceRow]] = {}
    for row in rows:
        if row.status == "void":
            voids.setdefault((row.plan_key, row.period_start), []).append(row)
    drafts = [ref for ref in refs if (ref.plan, ref.period.start) not in stored]
    if not drafts:
        return []
    deductions: dict[PeriodRef, list[Line]] = {}
    for ref in drafts:
        if (ref.plan, ref.period.start) not in voids:
            continue
        found = [
            deduction(_line(line, customer.currency), number)
            for number, line in store.deducted_corrections(
                session, customer_id=customer.id, plan_key=ref.plan, period_start=ref.period.start
            )
        ]
        if found:
            deductions[ref] = found
    used = {
        key: from_minor(minor, customer.currency)
        for key, minor in store.credit_usage(session, customer_id=customer.id).items()
    }
    placed = purchases(customer, refs)
    pending: dict[PeriodRef, list[Line]] = {}
    for row in rows:
        if not row.late_usage or row.status == "void":
            continue
        ref = PeriodRef(Span(row.period_start, row.period_end), row.plan_key)
        try:
            rerated = rate_period(
                catalog=catalog,
                plan=catalog.plans[row.plan_key],
                period=ref.period,
                currency=customer.currency,
                usage=period_quantities(session, state, customer.id, ref),
                purchases=placed.get(ref, ()),
                anchored_at=period_anchor(customer, catalog, ref),
                discounts=period_discounts(customer, catalog, ref),
            )
        except Unrepresentable as error:
            raise error.within(customer=customer.id, period=span_of(ref)) from None
        billed = [
            _line(line, customer.currency)
            for line in store.lines_for_period(
                session,
                customer_id=customer.id,
                plan_key=row.plan_key,
                period_start=row.period_start,
            )
        ]
        found = corrections(period=ref.period, plan=ref.plan, rerated=rerated, billed=billed)
        if found:
            pending[ref] = found
    rated = draft_invoices(
        customer=customer,
        catalog=catalog,
        drafts=drafts,
        all_periods=refs,
        usage={
            ref: period_quantities(
                session, state, customer.id, ref, until=as_of if accrued else None
            )
            for ref in drafts
        },
        used=used,
        corrections=pending,
        deductions=deductions,
        remember=_usage_lines_memo(session, state, customer.currency),
    )
    result: list[_Pending] = []
    for draft in rated:
        voided = voids.get((draft.ref.plan, draft.ref.period.start), [])
        result.append(
            _Pending(
                draft,
                invoice_id(customer.id, draft.ref, len(voided)),
                max((row.number for row in voided), default=None),
            )
        )
    return result


def _usage_lines_memo(session: Session, state: CatalogState, currency: str) -> Remember | None:
    """Each group's usage lines kept in the read cache by content (``rate_period``'s key
    plus the catalog version and the currency): a draft read right after an event rates
    again only the groups the event changed (``docs/decisions.md`` 55)."""
    version = state.version
    if version is None:
        return None

    def remember(key: tuple[Hashable, ...], compute: Callable[[], list[Line]]) -> Sequence[Line]:
        return memoized(
            session,
            ("usage lines", version, currency, *key),
            lambda: tuple(compute()),
            weight=1,
        )

    return remember


def _draft_view(customer: Customer, pending: _Pending) -> InvoiceView:
    draft = pending.draft
    return InvoiceView(
        id=pending.id,
        customer=customer,
        ref=draft.ref,
        status="draft",
        number=None,
        lines=draft.lines,
        totals=draft.totals,
        replaces=pending.replaces,
    )


def customer_invoices(
    session: Session, customer_id: str, *, as_of: datetime, accrued: bool = False
) -> list[InvoiceView]:
    """All the customer's invoices at ``as_of``: issued ones and live drafts, period order.

    A live draft rates its period's usage as the spec defines it, so a time-weighted value
    holds until the period end (the projection). With ``accrued``, drafts measure usage only
    up to ``as_of`` instead — the charges accrued so far (WarpStream's pending invoice);
    flat fees, minimums, adjustments and purchases are the period's as always."""
    state = load_catalog(session)
    customer = load_customer(session, customer_id)
    rows = store.invoice_rows(session, customer_id=customer_id)
    lines = store.invoice_lines(session, [row.id for row in rows])
    replaced = _replaced_by(rows)
    views = [
        _issued_view(session, customer, row, lines[row.id], replaced.get(row.number))
        for row in rows
    ]
    views.extend(
        _draft_view(customer, d)
        for d in _drafts(session, state, customer, rows, as_of=as_of, accrued=accrued)
    )
    # A void invoice and its replacement share a period: by number, the draft last.
    return sorted(views, key=lambda view: (view.ref, view.number is None, view.number or 0))


def find_invoice(
    session: Session, invoice_id_: str, *, as_of: datetime, customer_id: str | None = None
) -> InvoiceView:
    """One invoice by id: an issued one, or a draft of ``customer_id`` (or of any customer)."""
    row = store.get_invoice(session, invoice_id_)
    if row is not None:
        if customer_id is not None and row.customer_id != customer_id:
            raise NotFound(f"invoice '{invoice_id_}' not found")
        customer = load_customer(session, row.customer_id)
        replaced = store.replacement_number(session, row.number)
        return _issued_view(
            session, customer, row, store.invoice_lines(session, [row.id])[row.id], replaced
        )
    state = load_catalog(session)
    candidates = (
        [customer_id] if customer_id else [r.id for r in catalog_store.customer_rows(session)]
    )
    for candidate in candidates:
        if invoice_id_ in _period_invoice_ids(session, state, candidate, as_of):
            for view in customer_invoices(session, candidate, as_of=as_of):
                if view.id == invoice_id_:
                    return view
    raise NotFound(f"invoice '{invoice_id_}' not found")


def _period_invoice_ids(
    session: Session, state: CatalogState, customer_id: str, as_of: datetime
) -> set[str]:
    """The ids of the customer's invoices of every period started by ``as_of`` (drafts and
    issued alike: an invoice keeps its draft's id), without computing any of them."""
    customer = load_customer(session, customer_id)
    refs = customer_periods(customer, state.catalog, until=as_of)
    voids: dict[tuple[str, datetime], int] = {}
    for stored in store.invoice_rows(session, customer_id=customer_id):
        if stored.status == "void":
            key = (stored.plan_key, stored.period_start)
            voids[key] = voids.get(key, 0) + 1
    return {
        invoice_id(customer_id, ref, voids.get((ref.plan, ref.period.start), 0)) for ref in refs
    }


@dataclass(frozen=True, slots=True)
class CloseFailure:
    """A customer whose invoices could not be issued, and why (spec 7)."""

    customer_id: str
    error: BillingError

    @property
    def message(self) -> str:
        return str(self.error)


@dataclass(frozen=True, slots=True)
class CloseResult:
    """What one close did: the invoices issued and the customers that failed."""

    issued: list[InvoiceView]
    failed: list[CloseFailure]


def close_periods(
    session: Session,
    *,
    as_of: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> CloseResult:
    """Finalize every draft whose period end + grace period ≤ ``as_of`` (spec 4.7).

    Each customer is closed in a savepoint: a customer whose invoice cannot be computed
    (an amount that cannot be represented, spec 7; or any other billing error) gives back
    what it wrote, invoice numbers included, is reported in ``failed``, and every other
    customer is still closed. ``progress(done, total)`` is called after each customer.
    """
    state = load_catalog(session)
    grace = state.catalog.settings.grace_period_hours
    issued: list[InvoiceView] = []
    failed: list[CloseFailure] = []
    customers = catalog_store.customer_rows(session)
    for done, customer_row in enumerate(customers, start=1):
        if progress is not None:
            progress(done - 1, len(customers))
        catalog_store.lock_customers(session, [customer_row.id])
        try:
            with savepoint(session):
                issued.extend(_close_customer(session, state, customer_row.id, as_of, grace))
        except (BillingError, ArithmeticError) as error:
            problem = error if isinstance(error, BillingError) else _unexpected(error)
            if isinstance(problem, Unrepresentable):
                problem = problem.within(customer=customer_row.id)
            failed.append(CloseFailure(customer_row.id, problem))
    if progress is not None:
        progress(len(customers), len(customers))
    return CloseResult(issued=issued, failed=failed)


def _unexpected(error: ArithmeticError) -> BillingError:
    return Unrepresentable(f"{type(error).__name__}: {error}")


def _close_customer(
    session: Session, state: CatalogState, customer_id: str, as_of: datetime, grace: Decimal
) -> list[InvoiceView]:
    customer = load_customer(session, customer_id)
    rows = store.invoice_rows(session, customer_id=customer.id)
    issued: list[InvoiceView] = []
    for pending in _drafts(session, state, customer, rows, as_of=as_of):
        draft = pending.draft
        if not closable(draft.ref, as_of=as_of, grace_hours=grace):
            break
        try:
            issued.append(_finalize(session, customer, pending, rows, as_of=as_of))
        except Unrepresentable as error:
            raise error.within(customer=customer.id, period=span_of(draft.ref)) from None
    return issued


def _finalize(
    session: Session,
    customer: Customer,
    pending: _Pending,
    rows: Sequence[InvoiceRow],
    *,
    as_of: datetime,
) -> InvoiceView:
    draft = pending.draft
    currency = customer.currency
    number = store.next_number(session)
    figures = draft.totals
    status = "paid" if figures.total == 0 else "issued"
    row = InvoiceRow(
        id=pending.id,
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
        replaces=pending.replaces,
        written_off=False,
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
            corrects_plan_key=line.corrects_plan,
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
    done = {(ref.plan, ref.period.start) for ref in draft.corrected}
    corrected = [r.id for r in rows if (r.plan_key, r.period_start) in done and r.status != "void"]
    store.unflag_late_usage(session, corrected)
    session.flush()
    view = InvoiceView(
        id=row.id,
        customer=customer,
        ref=draft.ref,
        status=status,
        number=number,
        lines=draft.lines,
        totals=figures,
        issued_at=as_of,
        paid_at=row.paid_at,
        replaces=pending.replaces,
    )
    emit(
        session,
        "invoice.issued",
        {"invoice": invoice_event_data(view)},
        at=as_of,
        customer_id=customer.id,
    )
    if pending.replaces is not None:
        void = next((r for r in rows if r.number == pending.replaces), None)
        replaced = {"id": None if void is None else void.id, "number": pending.replaces}
        emit(
            session,
            "invoice.replaced",
            {"invoice": invoice_event_data(view), "replaces": replaced},
            at=as_of,
            customer_id=customer.id,
        )
    if status == "paid":
        _emit_paid(session, view, via="zero_total", at=as_of)
    return view


PREFIX_CANDIDATES = 10
"""At most this many candidates are listed when an id prefix is ambiguous."""


def resolve_invoice(
    session: Session, id_or_number: str, *, drafts_as_of: datetime | None = None
) -> str:
    """An invoice id from an id, a unique prefix of one, or an issued invoice's number
    (``42`` or ``#42``).

    Digits only are always a number (the CLI's short ids never are digits only).
    Prefixes match the stored invoices (issued, paid, void) and, with ``drafts_as_of``, the
    live drafts of every customer at that time too. A prefix that matches several invoices
    raises ``InvalidRequest`` listing them; one that matches none is returned as it is, so
    the caller's lookup says it was not found.
    """
    text = id_or_number.strip().removeprefix("#")
    if text.isascii() and text.isdigit() and len(text) <= 18:
        # Digits are always a number, never a prefix: a mistyped number must not reach an
        # invoice whose id happens to start with those digits.
        found = store.invoice_id_by_number(session, int(text))
        if found is None:
            raise NotFound(
                f"invoice number {text} not found (digits are read as a number; for an id "
                "prefix made of digits only, add the next character of the id)"
            )
        return found
    prefix = id_or_number.strip()
    if not prefix or store.get_invoice(session, prefix) is not None:
        return prefix
    matches = set(store.invoice_ids_with_prefix(session, prefix, limit=PREFIX_CANDIDATES + 1))
    if drafts_as_of is not None:
        state = load_catalog(session)
        for row in catalog_store.customer_rows(session):
            ids = _period_invoice_ids(session, state, row.id, drafts_as_of)
            matches.update(found for found in ids if found.startswith(prefix))
    if len(matches) == 1:
        return matches.pop()
    if not matches:
        return prefix
    shown = sorted(matches)[:PREFIX_CANDIDATES]
    listed = "; ".join(_candidate(session, found) for found in shown)
    more = ", …" if len(matches) > len(shown) else ""
    raise InvalidRequest(
        f"invoice id prefix {prefix!r} is ambiguous, it matches {len(matches)}"
        f"{'+' if more else ''} invoices: {listed}{more}; give more characters or the number"
    )


def _candidate(session: Session, found: str) -> str:
    row = store.get_invoice(session, found)
    if row is None:
        return f"{found} (draft)"
    return f"{found} (#{row.number}, {row.customer_id}, {row.status})"


def _locked_invoice(
    session: Session, invoice_id_: str, customer_id: str | None, what: str
) -> InvoiceRow:
    """The issued invoice, its customer's write lock and the row's lock taken (in that
    order, the order a close takes them)."""
    row = store.get_invoice(session, invoice_id_)
    if row is None or (customer_id is not None and row.customer_id != customer_id):
        raise NotFound(f"invoice '{invoice_id_}' not found (drafts cannot {what})")
    catalog_store.lock_customers(session, [row.customer_id])
    locked = store.get_invoice(session, invoice_id_, lock=True)
    assert locked is not None
    return locked


def void_invoice(
    session: Session,
    invoice_id_: str,
    *,
    now: datetime,
    write_off: bool = False,
    customer_id: str | None = None,
) -> InvoiceView:
    """Void an issued invoice with no payment and no credit note (spec 5.6).

    Its credits return to the grants' balances and the late usage it billed as corrections
    for other periods is billed again on the next draft. Its period returns to draft, and
    the next close issues a replacement; with ``write_off`` the period is deliberately not
    billed: no replacement, and late usage for it is never billed.
    """
    row = _locked_invoice(session, invoice_id_, customer_id, "be voided")
    label = f"invoice {row.number}"
    if row.status != "issued":
        raise Conflict(f"{label} is {row.status}: only issued, unpaid invoices can be voided")
    if store.paid_amount(session, row.id) > 0:
        raise Conflict(f"{label} has payments: only issued, unpaid invoices can be voided")
    if store.credit_notes(session, row.id):
        raise Conflict(f"{label} has credit notes: an invoice with a credit note cannot be voided")
    row.status = "void"
    row.voided_at = now
    row.written_off = write_off
    session.flush()
    corrected = {
        (line.corrects_plan_key, line.corrects_period_start)
        for line in store.invoice_lines(session, [row.id])[row.id]
        if line.corrects_period_start is not None and line.corrects_plan_key is not None
    }
    store.reflag_late_usage(session, customer_id=row.customer_id, periods=corrected)
    view = find_invoice(session, row.id, as_of=now)
    emit(
        session,
        "invoice.voided",
        {"invoice": invoice_event_data(view)},
        at=now,
        customer_id=view.customer.id,
    )
    return view


def issue_credit_note(
    session: Session,
    invoice_id_: str,
    *,
    amount: Decimal,
    reason: str,
    at: datetime,
    now: datetime,
    customer_id: str | None = None,
) -> CreditNoteView:
    """A credit note on an issued or paid invoice (spec 5.6), numbered from its own
    gap-free sequence; a refused one takes no number.

    It may take at most the invoice's total less earlier credit notes. What it takes off
    the amount still due reduces the amount due; the rest (the invoice was paid) becomes the
    grant ``credit-note-<number>``, priority 0, no expiry, usable from ``at``. The invoice
    is ``paid`` once payments and credit notes cover its total.
    """
    row = _locked_invoice(session, invoice_id_, customer_id, "get credit notes")
    label = f"invoice {row.number}"
    if row.status not in ("issued", "paid"):
        raise Conflict(f"{label} is {row.status}: credit notes go on issued or paid invoices")
    if not reason.strip():
        raise InvalidRequest("reason: a credit note needs a reason")
    if not amount.is_finite() or amount <= 0:
        raise OutOfRange(f"credit note of {amount} on {label}: the amount must be above 0")
    currency = row.currency
    notes = store.credit_notes(session, row.id)
    allowed = row.total - sum(note.amount for note in notes)
    try:
        minor = to_minor(amount, currency)
    except Unrepresentable:
        minor = None
    if minor is not None and from_minor(minor, currency) != amount:
        raise OutOfRange(f"credit note of {amount}: more decimals than {currency} allows")
    if minor is None or minor > allowed:
        raise OutOfRange(
            f"credit note of {amount} {currency} on {label} is above what the invoice still "
            f"allows, {from_minor(max(allowed, 0), currency)} {currency} (its total less "
            "earlier credit notes)"
        )
    paid = store.paid_amount(session, row.id)
    due = 0 if row.status == "paid" else row.total - paid - sum(n.off_due for n in notes)
    off_due = min(minor, max(due, 0))
    note = store.add_credit_note(
        session,
        CreditNoteRow(
            number=store.next_credit_note_number(session),
            invoice_id=row.id,
            customer_id=row.customer_id,
            currency=currency,
            amount=minor,
            off_due=off_due,
            granted=minor - off_due,
            reason=reason,
            at=at,
            created_at=now,
        ),
    )
    became_paid = (
        row.status == "issued" and paid + sum(n.off_due for n in notes) + off_due >= row.total
    )
    if became_paid:
        row.status = "paid"
        row.paid_at = at
    session.flush()
    view = _credit_note_view(note, row.number)
    emit(
        session,
        "credit_note.created",
        {"credit_note": credit_note_event_data(view)},
        at=now,
        customer_id=view.customer_id,
    )
    if became_paid:
        _emit_paid(session, find_invoice(session, row.id, as_of=now), via="credit_note", at=now)
    return view


def invoice_credit_notes(
    session: Session, invoice_id_: str, *, customer_id: str | None = None
) -> list[CreditNoteView]:
    """An issued invoice's credit notes, in number order (a draft has none)."""
    row = store.get_invoice(session, invoice_id_)
    if row is None or (customer_id is not None and row.customer_id != customer_id):
        raise NotFound(f"invoice '{invoice_id_}' not found (drafts have no credit notes)")
    return [_credit_note_view(note, row.number) for note in store.credit_notes(session, row.id)]


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
    """Record a payment on an issued invoice; it is paid once payments cover the total.

    A payment above the amount due, or on an invoice that is not issued, is refused
    (spec 5.7): nothing is recorded.
    """
    row = store.get_invoice(session, invoice_id_, lock=True)
    if row is None or (customer_id is not None and row.customer_id != customer_id):
        raise NotFound(f"invoice '{invoice_id_}' not found (drafts cannot be paid)")
    if row.status != "issued":
        raise Conflict(f"invoice '{invoice_id_}' is {row.status}: payments go on issued invoices")
    if amount <= 0:
        raise InvalidRequest("amount must be positive")
    try:
        minor = to_minor(amount, row.currency)
    except Unrepresentable:
        raise OutOfRange(
            f"payment of {amount} {row.currency} on invoice {row.number} is above the amount "
            f"due, {from_minor(row.total - store.paid_amount(session, row.id), row.currency)} "
            f"{row.currency}"
        ) from None
    if from_minor(minor, row.currency) != amount:
        raise InvalidRequest(f"amount {amount} has more decimals than {row.currency} allows")
    off_due = sum(note.off_due for note in store.credit_notes(session, row.id))
    due = row.total - store.paid_amount(session, row.id) - off_due
    if minor > due:
        raise OutOfRange(
            f"payment of {amount} {row.currency} on invoice {row.number} is above the amount "
            f"due, {from_minor(due, row.currency)} {row.currency}: pay at most the amount due"
        )
    store.add_payment(
        session, invoice_id=row.id, amount=minor, paid_at=now, reference=reference, method=method
    )
    became_paid = store.paid_amount(session, row.id) + off_due >= row.total
    if became_paid:
        row.status = "paid"
        row.paid_at = now
    session.flush()
    view = find_invoice(session, invoice_id_, as_of=now)
    if became_paid:
        _emit_paid(session, view, via="payment", at=now)
    return view
