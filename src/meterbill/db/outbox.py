"""Storage of the webhook outbox: rows are only ever added here."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from meterbill.db.models import OutboxMessage

__all__ = ["NewMessage", "add_messages", "message_count", "sequence_numbers"]


@dataclass(frozen=True, slots=True)
class NewMessage:
    id: str
    event_type: str
    created_at: datetime
    payload: str
    customer_id: str | None


def add_messages(session: Session, messages: Sequence[NewMessage]) -> None:
    """Add these messages to the outbox in the caller's transaction, in this order (their
    sequence numbers follow it), in one statement."""
    if messages:
        session.execute(
            insert(OutboxMessage),
            [
                {
                    "id": message.id,
                    "event_type": message.event_type,
                    "created_at": message.created_at,
                    "payload": message.payload,
                    "customer_id": message.customer_id,
                }
                for message in messages
            ],
        )


def sequence_numbers(session: Session, message_ids: Sequence[str]) -> dict[str, int]:
    """The sequence number of each of these messages."""
    result: dict[str, int] = {}
    for index in range(0, len(message_ids), 5000):
        chunk = list(message_ids[index : index + 5000])
        query = select(OutboxMessage.id, OutboxMessage.seq).where(OutboxMessage.id.in_(chunk))
        result.update({message_id: int(seq) for message_id, seq in session.execute(query)})
    return result


def message_count(session: Session) -> int:
    """How many messages the outbox holds."""
    return int(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)
