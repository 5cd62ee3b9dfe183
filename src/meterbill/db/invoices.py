"""Issued invoices: rows, frozen lines, credit applications, payments and numbering.

Draft invoices are never stored: they are computed live from the buckets. An invoice row is
written once, when its period is closed, and only its status changes afterwards.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from meterbill.db.models import (
    CreditApplicationRow,
    CreditNoteCounter,
    CreditNoteRow,
    InvoiceCounter,
    InvoiceLineRow,
    InvoiceRow,
    PaymentRow,
)
from meterbill.db.session import insert_rows

__all__ = [
    "add_credit_note",
    "add_invoices",
    "add_payment",
    "credit_applications",
    "credit_note_grants",
    "credit_notes",
    "credit_notes_of",
    "credit_usage",
    "customers_credit_note_grants",
    "customers_credit_usage",
    "customers_invoice_rows",
    "deducted_corrections",
    "flag_late_usage",
    "get_invoice",
    "invoice_id_by_number",
    "invoice_ids_with_prefix",
    "invoice_lines",
    "invoice_rows",
    "issued_summaries",
    "lines_for_period",
    "next_credit_note_number",
    "next_numbers",
    "paid_amount",
    "payments",
    "reflag_late_usage",
    "replacement_number",
    "unflag_late_usage",
]


def invoice_rows(session: Session, *, customer_id: str) -> list[InvoiceRow]:
    return customers_invoice_rows(session, [customer_id]).get(customer_id, [])


def customers_invoice_rows(
    session: Session, customer_ids: Sequence[str]
) -> dict[str, list[InvoiceRow]]:
    """Each customer's invoices (period start, then plan), per customer that has any."""
    result: dict[str, list[InvoiceRow]] = {}
    for chunk in _chunks(customer_ids):
        query = select(InvoiceRow).where(InvoiceRow.customer_id.in_(chunk))
        ordered = query.order_by(
            InvoiceRow.customer_id, InvoiceRow.period_start, InvoiceRow.plan_key
        )
        for row in session.scalars(ordered):
            result.setdefault(row.customer_id, []).append(row)
    return result


def _chunks(items: Sequence[str], size: int = 5000) -> Iterable[list[str]]:
    ordered = sorted(set(items))
    for index in range(0, len(ordered), size):
        yield ordered[index : index + size]


def issued_summaries(
    session: Session,
) -> list[tuple[InvoiceRow, frozenset[str], frozenset[str]]]:
    """Every invoice that is not void, with the product keys on its lines and the keys of
    the credit grants it drew on: what protects the setup (spec 5.2)."""
    rows = list(
        session.scalars(
            select(InvoiceRow).where(InvoiceRow.status != "void").order_by(InvoiceRow.number)
        )
    )
    if not rows:
        return []
    products: dict[str, set[str]] = {}
    query = (
        select(InvoiceLineRow.invoice_id, InvoiceLineRow.product_key)
        .join(InvoiceRow, InvoiceRow.id == InvoiceLineRow.invoice_id)
        .where(InvoiceRow.status != "void", InvoiceLineRow.product_key.is_not(None))
        .distinct()
    )
    for invoice_id, product_key in session.execute(query):
        if product_key is not None:
            products.setdefault(invoice_id, set()).add(product_key)
    grants: dict[str, set[str]] = {}
    drawn = (
        select(CreditApplicationRow.invoice_id, CreditApplicationRow.grant_key)
        .join(InvoiceRow, InvoiceRow.id == CreditApplicationRow.invoice_id)
        .where(InvoiceRow.status != "void", CreditApplicationRow.amount > 0)
        .distinct()
    )
    for invoice_id, grant_key in session.execute(drawn):
        grants.setdefault(invoice_id, set()).add(grant_key)
    return [
        (row, frozenset(products.get(row.id, ())), frozenset(grants.get(row.id, ())))
        for row in rows
    ]


def get_invoice(session: Session, invoice_id: str, *, lock: bool = False) -> InvoiceRow | None:
    query = select(InvoiceRow).where(InvoiceRow.id == invoice_id)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def invoice_id_by_number(session: Session, number: int) -> str | None:
    return session.scalar(select(InvoiceRow.id).where(InvoiceRow.number == number))


def invoice_ids_with_prefix(session: Session, prefix: str, *, limit: int) -> list[str]:
    """Ids of stored invoices that start with ``prefix`` (at most ``limit``), in id order."""
    # SQLite's LIKE ignores ASCII case: the exact check is made here.
    query = select(InvoiceRow.id).where(InvoiceRow.id.startswith(prefix, autoescape=True))
    found = session.scalars(query.order_by(InvoiceRow.id).limit(limit))
    return [value for value in found if value.startswith(prefix)]


def invoice_lines(session: Session, invoice_ids: Sequence[str]) -> dict[str, list[InvoiceLineRow]]:
    result: dict[str, list[InvoiceLineRow]] = {i: [] for i in invoice_ids}
    if not invoice_ids:
        return result
    query = select(InvoiceLineRow).where(InvoiceLineRow.invoice_id.in_(list(invoice_ids)))
    for row in session.scalars(query.order_by(InvoiceLineRow.invoice_id, InvoiceLineRow.position)):
        result[row.invoice_id].append(row)
    return result


def lines_for_period(
    session: Session, *, customer_id: str, plan_key: str, period_start: datetime
) -> list[InvoiceLineRow]:
    """Everything billed for one period: its invoice's own lines and later corrections."""
    own = (
        select(InvoiceLineRow)
        .join(InvoiceRow, InvoiceRow.id == InvoiceLineRow.invoice_id)
        .where(
            InvoiceRow.customer_id == customer_id,
            InvoiceRow.status != "void",
            (
                (InvoiceRow.plan_key == plan_key)
                & (InvoiceRow.period_start == period_start)
                & InvoiceLineRow.corrects_period_start.is_(None)
            )
            | (
                (InvoiceLineRow.corrects_period_start == period_start)
                & (InvoiceLineRow.corrects_plan_key == plan_key)
            ),
        )
        .order_by(InvoiceRow.number, InvoiceLineRow.position)
    )
    return list(session.scalars(own))


def credit_usage(session: Session, *, customer_id: str) -> dict[str, int]:
    """Minor units each grant has paid on invoices that are not void."""
    return customers_credit_usage(session, [customer_id]).get(customer_id, {})


def customers_credit_usage(
    session: Session, customer_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """:func:`credit_usage` per customer that has any."""
    result: dict[str, dict[str, int]] = {}
    table = CreditApplicationRow
    for chunk in _chunks(customer_ids):
        query = (
            select(table.customer_id, table.grant_key, func.sum(table.amount))
            .join(InvoiceRow, InvoiceRow.id == table.invoice_id)
            .where(table.customer_id.in_(chunk), InvoiceRow.status != "void")
            .group_by(table.customer_id, table.grant_key)
        )
        for customer, key, total in session.execute(query):
            result.setdefault(customer, {})[key] = int(total)
    return result


def credit_applications(session: Session, invoice_id: str) -> list[CreditApplicationRow]:
    query = select(CreditApplicationRow).where(CreditApplicationRow.invoice_id == invoice_id)
    return list(session.scalars(query.order_by(CreditApplicationRow.grant_key)))


def next_numbers(session: Session, count: int) -> int:
    """Take the next ``count`` invoice numbers at once: one sequence per installation,
    gap-free; returns the first, the others follow it.

    The counter row stays locked until the transaction ends, so a rolled-back close gives
    its numbers back and two closers can never take the same one.
    """
    counter = session.scalar(select(InvoiceCounter).where(InvoiceCounter.id == 1).with_for_update())
    if counter is None:
        counter = InvoiceCounter(id=1, last_number=0)
        session.add(counter)
    first = counter.last_number + 1
    counter.last_number += count
    session.flush()
    return first


def flag_late_usage(session: Session, timestamps: Mapping[str, Sequence[datetime]]) -> int:
    """Mark each customer's issued invoices whose period holds one of its ``timestamps``.

    One query for the whole batch, whatever the number of customers.
    """
    moments = {customer: sorted(times) for customer, times in timestamps.items() if times}
    if not moments:
        return 0
    earliest = min(times[0] for times in moments.values())
    latest = max(times[-1] for times in moments.values())
    rows = session.execute(
        select(
            InvoiceRow.id, InvoiceRow.customer_id, InvoiceRow.period_start, InvoiceRow.period_end
        ).where(
            InvoiceRow.customer_id.in_(sorted(moments)),
            InvoiceRow.status != "void",
            InvoiceRow.period_start <= latest,
            InvoiceRow.period_end > earliest,
        )
    )
    hit = [
        invoice_id
        for invoice_id, customer_id, start, end in rows
        if any(start <= moment < end for moment in moments[customer_id])
    ]
    if hit:
        # Locked in id order first: concurrent batches flag the same invoices without
        # deadlocking.
        ordered = sorted(set(hit))
        session.execute(
            select(InvoiceRow.id)
            .where(InvoiceRow.id.in_(ordered))
            .order_by(InvoiceRow.id)
            .with_for_update()
        ).all()
        session.execute(
            update(InvoiceRow).where(InvoiceRow.id.in_(ordered)).values(late_usage=True)
        )
    return len(hit)


def add_invoices(
    session: Session,
    invoices: Sequence[Mapping[str, object]],
    lines: Sequence[Mapping[str, object]],
    credits: Sequence[Mapping[str, object]],
) -> None:
    """Insert issued invoices, their lines and their credit applications (column values),
    one statement per table whatever their number."""
    for model, rows in (
        (InvoiceRow, invoices),
        (InvoiceLineRow, lines),
        (CreditApplicationRow, credits),
    ):
        insert_rows(session, model.__table__, rows)


def unflag_late_usage(session: Session, invoice_ids: Sequence[str]) -> None:
    if invoice_ids:
        session.execute(
            update(InvoiceRow).where(InvoiceRow.id.in_(list(invoice_ids))).values(late_usage=False)
        )


def payments(session: Session, invoice_id: str) -> list[PaymentRow]:
    query = select(PaymentRow).where(PaymentRow.invoice_id == invoice_id)
    return list(session.scalars(query.order_by(PaymentRow.id)))


def paid_amount(session: Session, invoice_id: str) -> int:
    query = select(func.coalesce(func.sum(PaymentRow.amount), 0)).where(
        PaymentRow.invoice_id == invoice_id
    )
    return int(session.scalar(query) or 0)


def add_payment(
    session: Session,
    *,
    invoice_id: str,
    amount: int,
    paid_at: datetime,
    reference: str | None,
    method: str,
) -> PaymentRow:
    row = PaymentRow(
        invoice_id=invoice_id, amount=amount, paid_at=paid_at, reference=reference, method=method
    )
    session.add(row)
    session.flush()
    return row


def deducted_corrections(
    session: Session, *, customer_id: str, plan_key: str, period_start: datetime
) -> list[tuple[int, InvoiceLineRow]]:
    """The correction lines for one period on issued invoices that are not void, each with
    its invoice's number: what a replacement of that period deducts (spec 5.6)."""
    query = (
        select(InvoiceRow.number, InvoiceLineRow)
        .join(InvoiceRow, InvoiceRow.id == InvoiceLineRow.invoice_id)
        .where(
            InvoiceRow.customer_id == customer_id,
            InvoiceRow.status != "void",
            InvoiceLineRow.corrects_period_start == period_start,
            InvoiceLineRow.corrects_plan_key == plan_key,
        )
        .order_by(InvoiceRow.number, InvoiceLineRow.position)
    )
    return [(int(number), line) for number, line in session.execute(query)]


def next_credit_note_number(session: Session) -> int:
    """The next credit-note number: its own gap-free sequence, locked like invoice numbers."""
    counter = session.scalar(
        select(CreditNoteCounter).where(CreditNoteCounter.id == 1).with_for_update()
    )
    if counter is None:
        counter = CreditNoteCounter(id=1, last_number=0)
        session.add(counter)
    counter.last_number += 1
    session.flush()
    return counter.last_number


def add_credit_note(session: Session, row: CreditNoteRow) -> CreditNoteRow:
    session.add(row)
    session.flush()
    return row


def credit_notes(session: Session, invoice_id: str) -> list[CreditNoteRow]:
    query = select(CreditNoteRow).where(CreditNoteRow.invoice_id == invoice_id)
    return list(session.scalars(query.order_by(CreditNoteRow.number)))


def credit_notes_of(session: Session, *, customer_id: str) -> list[CreditNoteRow]:
    query = select(CreditNoteRow).where(CreditNoteRow.customer_id == customer_id)
    return list(session.scalars(query.order_by(CreditNoteRow.number)))


def credit_note_grants(session: Session, *, customer_id: str) -> list[CreditNoteRow]:
    """The customer's credit notes that became a credit grant (``granted`` above zero)."""
    return customers_credit_note_grants(session, [customer_id]).get(customer_id, [])


def customers_credit_note_grants(
    session: Session, customer_ids: Sequence[str]
) -> dict[str, list[CreditNoteRow]]:
    """:func:`credit_note_grants` per customer that has any."""
    result: dict[str, list[CreditNoteRow]] = {}
    for chunk in _chunks(customer_ids):
        query = select(CreditNoteRow).where(
            CreditNoteRow.customer_id.in_(chunk), CreditNoteRow.granted > 0
        )
        for row in session.scalars(query.order_by(CreditNoteRow.number)):
            result.setdefault(row.customer_id, []).append(row)
    return result


def replacement_number(session: Session, number: int) -> int | None:
    """The number of the invoice that replaces invoice ``number``, if any."""
    found = session.scalar(select(InvoiceRow.number).where(InvoiceRow.replaces == number))
    return None if found is None else int(found)


def reflag_late_usage(
    session: Session, *, customer_id: str, periods: Iterable[tuple[str, datetime]]
) -> None:
    """Flag the customer's issued invoices of ``periods`` (plan, start) for re-rating: a void
    gave back the corrections it billed for them."""
    for plan_key, period_start in sorted(periods):
        session.execute(
            update(InvoiceRow)
            .where(
                InvoiceRow.customer_id == customer_id,
                InvoiceRow.plan_key == plan_key,
                InvoiceRow.period_start == period_start,
                InvoiceRow.status != "void",
            )
            .values(late_usage=True)
        )
