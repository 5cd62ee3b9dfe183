"""Storage of webhook endpoints, deliveries and attempts.

A delivery is claimed with a *lease*: a conditional ``UPDATE`` sets ``locked_until`` and
``locked_by`` only if the row is still pending, due and not held by a live lease, so of
several senders racing for a row exactly one sees its ``UPDATE`` count one row. This works
on SQLite (one writer at a time) and on PostgreSQL (a second ``UPDATE`` waits for the first
and then re-checks the condition); on PostgreSQL the candidates are also read with ``FOR
UPDATE SKIP LOCKED`` so that senders do not queue behind each other's rows. A sender that
dies holding a lease loses it when ``locked_until`` passes: the delivery is due again.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from meterbill.db.models import (
    OutboxMessage,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)

__all__ = [
    "AttemptRecord",
    "add_attempt",
    "add_deliveries",
    "add_endpoint",
    "attempts_of_endpoint",
    "claim",
    "customer_deliveries",
    "delete_endpoint",
    "delivery_of_message",
    "delivery_parts",
    "due_deliveries",
    "endpoint_rows",
    "get_delivery",
    "get_endpoint",
    "pending_deliveries",
]


def add_endpoint(session: Session, row: WebhookEndpointRow) -> WebhookEndpointRow:
    session.add(row)
    session.flush()
    return row


def endpoint_rows(session: Session) -> list[WebhookEndpointRow]:
    query = select(WebhookEndpointRow).order_by(
        WebhookEndpointRow.created_at, WebhookEndpointRow.id
    )
    return list(session.scalars(query))


def get_endpoint(session: Session, endpoint_id: str) -> WebhookEndpointRow | None:
    return session.get(WebhookEndpointRow, endpoint_id)


def delete_endpoint(session: Session, endpoint_id: str) -> bool:
    """Delete an endpoint with its deliveries and attempts; whether it existed."""
    result = session.execute(delete(WebhookEndpointRow).where(WebhookEndpointRow.id == endpoint_id))
    return _rowcount(result) > 0


def add_deliveries(session: Session, deliveries: Sequence[tuple[int, str, datetime]]) -> None:
    """For each (message sequence number, endpoint id, now): one pending delivery of the
    message to the endpoint, due at once."""
    session.add_all(
        WebhookDeliveryRow(
            message_seq=message_seq,
            endpoint_id=endpoint_id,
            status="pending",
            attempts=0,
            round_attempts=0,
            next_attempt_at=None,
            locked_until=None,
            locked_by=None,
            created_at=now,
        )
        for message_seq, endpoint_id, now in deliveries
    )
    session.flush()


def _due(now: datetime) -> list[object]:
    return [
        WebhookDeliveryRow.status == "pending",
        or_(
            WebhookDeliveryRow.next_attempt_at.is_(None), WebhookDeliveryRow.next_attempt_at <= now
        ),
        or_(WebhookDeliveryRow.locked_until.is_(None), WebhookDeliveryRow.locked_until <= now),
    ]


def due_deliveries(session: Session, *, now: datetime, limit: int) -> list[int]:
    """Ids of pending deliveries that are due and held by no live lease, oldest first."""
    query = (
        select(WebhookDeliveryRow.id)
        .where(*_due(now))  # type: ignore[arg-type]
        .order_by(WebhookDeliveryRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def claim(
    session: Session, delivery_id: int, *, now: datetime, until: datetime, owner: str
) -> bool:
    """Take the lease of one delivery if it is still due and free; whether it was taken."""
    result = session.execute(
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.id == delivery_id, *_due(now))  # type: ignore[arg-type]
        .values(locked_until=until, locked_by=owner)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def _rowcount(result: object) -> int:
    """The rows an UPDATE or DELETE matched (a ``CursorResult``'s ``rowcount``)."""
    count = getattr(result, "rowcount", 0)
    return count if isinstance(count, int) else 0


def get_delivery(
    session: Session, delivery_id: int, *, lock: bool = False
) -> WebhookDeliveryRow | None:
    query = select(WebhookDeliveryRow).where(WebhookDeliveryRow.id == delivery_id)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def delivery_parts(
    session: Session, delivery_id: int
) -> tuple[WebhookDeliveryRow, OutboxMessage, WebhookEndpointRow] | None:
    """A delivery with its message and endpoint (None if the endpoint was deleted)."""
    found = session.execute(
        select(WebhookDeliveryRow, OutboxMessage, WebhookEndpointRow)
        .join(OutboxMessage, OutboxMessage.seq == WebhookDeliveryRow.message_seq)
        .join(WebhookEndpointRow, WebhookEndpointRow.id == WebhookDeliveryRow.endpoint_id)
        .where(WebhookDeliveryRow.id == delivery_id)
    ).first()
    return None if found is None else (found[0], found[1], found[2])


def delivery_of_message(
    session: Session,
    *,
    endpoint_id: str,
    message_id: str,
    customer_id: str | None = None,
    lock: bool = False,
) -> WebhookDeliveryRow | None:
    """The message's delivery to the endpoint (with ``customer_id``: only if the message is
    about that customer)."""
    query = (
        select(WebhookDeliveryRow)
        .join(OutboxMessage, OutboxMessage.seq == WebhookDeliveryRow.message_seq)
        .where(WebhookDeliveryRow.endpoint_id == endpoint_id, OutboxMessage.id == message_id)
    )
    if customer_id is not None:
        query = query.where(OutboxMessage.customer_id == customer_id)
    if lock:
        query = query.with_for_update(of=WebhookDeliveryRow)
    return session.scalar(query)


def customer_deliveries(
    session: Session, customer_id: str, *, limit: int
) -> list[tuple[WebhookDeliveryRow, OutboxMessage]]:
    """The deliveries of the messages about one customer with their messages, newest
    message first (then by endpoint)."""
    rows = session.execute(
        select(WebhookDeliveryRow, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.seq == WebhookDeliveryRow.message_seq)
        .where(OutboxMessage.customer_id == customer_id)
        .order_by(OutboxMessage.seq.desc(), WebhookDeliveryRow.endpoint_id)
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in rows]


def add_attempt(session: Session, row: WebhookAttemptRow) -> None:
    session.add(row)
    session.flush()


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One logged attempt with the message it carried."""

    attempt: WebhookAttemptRow
    message_id: str
    event_type: str
    delivery_status: str


def attempts_of_endpoint(
    session: Session, endpoint_id: str, *, offset: int, limit: int
) -> list[AttemptRecord]:
    """The endpoint's attempts, newest first."""
    rows = session.execute(
        select(
            WebhookAttemptRow,
            OutboxMessage.id,
            OutboxMessage.event_type,
            WebhookDeliveryRow.status,
        )
        .join(WebhookDeliveryRow, WebhookDeliveryRow.id == WebhookAttemptRow.delivery_id)
        .join(OutboxMessage, OutboxMessage.seq == WebhookDeliveryRow.message_seq)
        .where(WebhookDeliveryRow.endpoint_id == endpoint_id)
        .order_by(WebhookAttemptRow.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [AttemptRecord(row[0], row[1], row[2], row[3]) for row in rows]


def pending_deliveries(session: Session) -> int:
    """Deliveries still to be made (the outbox depth)."""
    query = (
        select(func.count())
        .select_from(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.status == "pending")
    )
    return int(session.scalar(query) or 0)
