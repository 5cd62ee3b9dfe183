"""Storage of the webhook outbox: rows are only ever added here."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterbill.db.models import OutboxMessage

__all__ = ["add_message", "message_count"]


def add_message(
    session: Session,
    message_id: str,
    event_type: str,
    created_at: datetime,
    payload: str,
    *,
    customer_id: str | None = None,
) -> OutboxMessage:
    """Add one message to the outbox in the caller's transaction."""
    row = OutboxMessage(
        id=message_id,
        event_type=event_type,
        created_at=created_at,
        payload=payload,
        customer_id=customer_id,
    )
    session.add(row)
    session.flush()
    return row


def message_count(session: Session) -> int:
    """How many messages the outbox holds."""
    return int(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)
