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

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import takewhile

from meterbill.core.adjustments import LINE_TAX
from meterbill.core.catalog import Catalog, CreditGrant, CreditKind, Customer
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
from meterbill.db import Session
from meterbill.db import catalog as catalog_store
from meterbill.db import invoices as store
from meterbill.db.models import CreditNoteRow, InvoiceLineRow, InvoiceRow
from meterbill.services.catalog import CatalogState, customer_from_row, load_catalog, load_customer
from meterbill.services.jsonio import dumps_text, loads_exact
from meterbill.services.outbox import Outgoing, emit, emit_all
from meterbill.services.usage import divided, memoized, period_usage, preloaded

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
    emit_all(session, [_paid_event(view, via=via, at=at)])


def _paid_event(view: InvoiceView, *, via: str, at: datetime) -> Outgoing:
    data = {"invoice": invoice_event_data(view), "paid_via": via}
    return Outgoing("invoice.paid", data, at, view.customer.id)


def billing_customer(session: Session, customer_id: str) -> Customer:
    """The customer with the grants its credit notes made (kind ``credit_note``, priority
    0, no expiry, from the credit note's time), drawn like any other grant."""
    customer = load_customer(session, customer_id)
    return _with_note_grants(customer, store.credit_note_grants(session, customer_id=customer_id))


def _with_note_grants(customer: Customer, notes: Sequence[CreditNoteRow]) -> Customer:
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


@dataclass(frozen=True, slots=True)
class _Account:
    """What a customer's drafts are computed from besides usage: the customer as stored,
    the same with its credit notes' grants (``billing``), its invoices, and the minor units
    each grant has paid on those that are not void."""

    customer: Customer
    billing: Customer
    rows: Sequence[InvoiceRow]
    used: Mapping[str, int]


def _account(session: Session, customer_id: str) -> _Account:
    """The customer's account (:class:`NotFound` if there is no such customer)."""
    found = _accounts(session, [customer_id])[customer_id]
    if isinstance(found, _Account):
        return found
    raise found


def _accounts(
    session: Session, customer_ids: Sequence[str]
) -> dict[str, _Account | BillingError | ArithmeticError]:
    """The customers' accounts, read in four statements whatever their number; a customer
    whose account cannot be made (its stored definition does not read) maps to why."""
    rows = store.customers_invoice_rows(session, customer_ids)
    used = store.customers_credit_usage(session, customer_ids)
    notes = store.customers_credit_note_grants(session, customer_ids)
    stored = catalog_store.customers_by_id(session, customer_ids)
    result: dict[str, _Account | BillingError | ArithmeticError] = {}
    for customer_id in customer_ids:
        try:
            row = stored.get(customer_id)
            if row is None:
                raise NotFound(f"customer '{customer_id}' not found")
            customer = customer_from_row(row)
            result[customer_id] = _Account(
                customer,
                _with_note_grants(customer, notes.get(customer_id, [])),
                rows.get(customer_id, []),
                used.get(customer_id, {}),
            )
        except (BillingError, ArithmeticError) as error:
            result[customer_id] = error
    return result


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


def _unissued(
    catalog: Catalog, account: _Account, as_of: datetime
) -> tuple[list[PeriodRef], list[PeriodRef]]:
    """The customer's periods started by ``as_of``, and those of them with no issued, paid
    or written-off invoice (the drafts), in order."""
    refs = customer_periods(account.billing, catalog, until=as_of)
    stored = {
        (row.plan_key, row.period_start)
        for row in account.rows
        if row.status != "void" or row.written_off
    }
    return refs, sorted(ref for ref in refs if (ref.plan, ref.period.start) not in stored)


def _drafts(
    session: Session,
    state: CatalogState,
    account: _Account,
    *,
    as_of: datetime,
    accrued: bool = False,
    upto: int | None = None,
) -> list[_Pending]:
    """The customer's drafts: every period with no issued, paid or written-off invoice;
    ``accrued``: with usage measured up to ``as_of`` (``customer_invoices``); ``upto``:
    only the first ``upto`` of them (a close: those it issues; see ``draft_invoices``)."""
    catalog = state.catalog
    customer, rows = account.billing, account.rows
    refs, drafts = _unissued(catalog, account, as_of)
    if not drafts[:upto]:
        return []
    voids: dict[tuple[str, datetime], list[InvoiceRow]] = {}
    for row in rows:
        if row.status == "void":
            voids.setdefault((row.plan_key, row.period_start), []).append(row)
    deductions: dict[PeriodRef, list[Line]] = {}
    for ref in drafts[:upto]:
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
    used = {key: from_minor(minor, customer.currency) for key, minor in account.used.items()}
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
            for ref in drafts[:upto]
        },
        used=used,
        corrections=pending,
        deductions=deductions,
        remember=_usage_lines_memo(session, state, customer.currency),
        upto=upto,
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
    account = _account(session, customer_id)
    customer, rows = account.customer, account.rows
    lines = store.invoice_lines(session, [row.id for row in rows])
    replaced = _replaced_by(rows)
    views = [
        _issued_view(session, customer, row, lines[row.id], replaced.get(row.number))
        for row in rows
    ]
    views.extend(
        _draft_view(customer, d)
        for d in _drafts(session, state, account, as_of=as_of, accrued=accrued)
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


CLOSE_BATCH = 500
"""Customers a close reads and writes together (``close_periods``)."""


def close_periods(
    session: Session,
    *,
    as_of: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> CloseResult:
    """Finalize every draft whose period end + grace period ≤ ``as_of`` (spec 4.7).

    Customers are closed in batches of ``CLOSE_BATCH``, in id order: the batch's write
    locks are taken, then what its drafts are computed from is read in a few statements
    for the whole batch (accounts, each meter's day buckets, pending events), each
    customer's invoices are computed, and the batch's invoices are written together with
    one block of numbers (``docs/decisions.md`` 57).

    Each customer is computed on its own and writes nothing until all of its invoices are
    computed: one whose invoice cannot be computed (an amount that cannot be represented,
    spec 7; or any other billing error) takes no invoice number, is reported in
    ``failed``, and every other customer is still closed. ``progress(done, total)`` is
    called after each customer.
    """
    state = load_catalog(session)
    grace = state.catalog.settings.grace_period_hours
    issued: list[InvoiceView] = []
    failed: list[CloseFailure] = []
    customers = catalog_store.customer_ids(session)
    total = len(customers)
    for start in range(0, total, CLOSE_BATCH):
        batch = customers[start : start + CLOSE_BATCH]
        catalog_store.lock_customers(session, batch)
        accounts = _accounts(session, batch)
        due: dict[str, list[PeriodRef]] = {}
        for customer_id in batch:
            try:
                account = accounts[customer_id]
                if not isinstance(account, _Account):
                    raise account
                refs = _due(state.catalog, account, as_of=as_of, grace=grace)
            except (BillingError, ArithmeticError) as error:
                failed.append(_close_failure(customer_id, error))
                continue
            if refs:
                due[customer_id] = refs
        spans = {
            customer_id: Span(refs[0].period.start, max(ref.period.end for ref in refs))
            for customer_id, refs in due.items()
        }
        ready: list[_Issue] = []
        with preloaded(session, spans):
            for done, customer_id in enumerate(batch, start=start):
                if progress is not None:
                    progress(done, total)
                account = accounts[customer_id]
                if customer_id not in due or not isinstance(account, _Account):
                    continue
                try:
                    ready.extend(_issues(session, state, account, len(due[customer_id]), as_of))
                except (BillingError, ArithmeticError) as error:
                    failed.append(_close_failure(customer_id, error))
        issued.extend(_write_issues(session, ready, as_of=as_of))
    if progress is not None:
        progress(total, total)
    return CloseResult(issued=issued, failed=failed)


def _due(
    catalog: Catalog, account: _Account, *, as_of: datetime, grace: Decimal
) -> list[PeriodRef]:
    """The drafts a close at ``as_of`` issues: the leading ones (in period order) whose
    period ended a grace period ago."""
    _, drafts = _unissued(catalog, account, as_of)
    return list(takewhile(lambda ref: closable(ref, as_of=as_of, grace_hours=grace), drafts))


def _close_failure(customer_id: str, error: BillingError | ArithmeticError) -> CloseFailure:
    problem = error if isinstance(error, BillingError) else _unexpected(error)
    if isinstance(problem, Unrepresentable):
        problem = problem.within(customer=customer_id)
    return CloseFailure(customer_id, problem)


def _unexpected(error: ArithmeticError) -> BillingError:
    return Unrepresentable(f"{type(error).__name__}: {error}")


@dataclass(slots=True)
class _Issue:
    """One draft a close issues, with its rows ready to write (all but the number)."""

    account: _Account
    pending: _Pending
    row: dict[str, object]
    lines: list[dict[str, object]]
    credits: list[dict[str, object]]
    corrected: list[str]
    status: str


def _issues(
    session: Session, state: CatalogState, account: _Account, upto: int, as_of: datetime
) -> list[_Issue]:
    """The customer's first ``upto`` drafts, computed and turned into rows to issue."""
    customer = account.customer
    pendings = _drafts(session, state, account, as_of=as_of, upto=upto)
    result = []
    for pending in pendings:
        try:
            result.append(_issue(account, pending, as_of=as_of))
        except Unrepresentable as error:
            raise error.within(customer=customer.id, period=span_of(pending.draft.ref)) from None
    return result


def _issue(account: _Account, pending: _Pending, *, as_of: datetime) -> _Issue:
    customer = account.customer
    draft = pending.draft
    currency = customer.currency
    figures = draft.totals
    status = "paid" if figures.total == 0 else "issued"
    row = dict(
        id=pending.id,
        customer_id=customer.id,
        plan_key=draft.ref.plan,
        period_start=draft.ref.period.start,
        period_end=draft.ref.period.end,
        currency=currency,
        status=status,
        number=None,
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
    lines: list[dict[str, object]] = [
        dict(
            invoice_id=pending.id,
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
    ]
    credits: list[dict[str, object]] = [
        dict(
            invoice_id=pending.id,
            grant_key=use.grant,
            customer_id=customer.id,
            kind=use.kind.value,
            amount=to_minor(use.amount, currency),
        )
        for use in figures.credits
    ]
    done = {(ref.plan, ref.period.start) for ref in draft.corrected}
    corrected = [
        r.id for r in account.rows if (r.plan_key, r.period_start) in done and r.status != "void"
    ]
    return _Issue(account, pending, row, lines, credits, corrected, status)


def _write_issues(
    session: Session, issues: Sequence[_Issue], *, as_of: datetime
) -> list[InvoiceView]:
    """Write these invoices with the next numbers of the sequence, in this order, and their
    webhook events."""
    if not issues:
        return []
    first = store.next_numbers(session, len(issues))
    for offset, issue in enumerate(issues):
        issue.row["number"] = first + offset
    store.add_invoices(
        session,
        [issue.row for issue in issues],
        [line for issue in issues for line in issue.lines],
        [use for issue in issues for use in issue.credits],
    )
    store.unflag_late_usage(session, [ref for issue in issues for ref in issue.corrected])
    views: list[InvoiceView] = []
    events: list[Outgoing] = []
    for issue in issues:
        customer, pending = issue.account.customer, issue.pending
        draft = pending.draft
        view = InvoiceView(
            id=pending.id,
            customer=customer,
            ref=draft.ref,
            status=issue.status,
            number=first + len(views),
            lines=draft.lines,
            totals=draft.totals,
            issued_at=as_of,
            paid_at=as_of if issue.status == "paid" else None,
            replaces=pending.replaces,
        )
        views.append(view)
        data = invoice_event_data(view)
        events.append(Outgoing("invoice.issued", {"invoice": data}, as_of, customer.id))
        if pending.replaces is not None:
            void = next((r for r in issue.account.rows if r.number == pending.replaces), None)
            replaced = {"id": None if void is None else void.id, "number": pending.replaces}
            events.append(
                Outgoing(
                    "invoice.replaced", {"invoice": data, "replaces": replaced}, as_of, customer.id
                )
            )
        if issue.status == "paid":
            events.append(_paid_event(view, via="zero_total", at=as_of))
    emit_all(session, events)
    return views


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
