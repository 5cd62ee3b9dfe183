"""Webhook events: what happened, written to the outbox with the change that caused it.

A use case calls :func:`emit` inside its own transaction, so the event exists exactly when
the change does: a rolled-back close leaves no ``invoice.issued`` behind, and a committed
one cannot lose its event if the process dies before delivery. The sender in ``meterbill
serve`` reads the outbox and delivers each message to the endpoints that want its type.

The payload follows the Standard Webhooks shape: ``{"type", "timestamp", "data"}``.
Money and quantities in ``data`` are decimal strings, as everywhere in meterbill's JSON.
"""

import secrets
from collections.abc import Mapping
from datetime import datetime

from meterbill.core.events import format_timestamp
from meterbill.db import Session
from meterbill.db import outbox as store
from meterbill.services.jsonio import dumps_text

__all__ = ["EVENT_TYPES", "emit", "new_message_id"]

EVENT_TYPES = (
    "invoice.issued",
    "invoice.paid",
    "invoice.voided",
    "invoice.replaced",
    "credit_note.created",
    "alert.triggered",
    "events.rejected",
)


def new_message_id() -> str:
    """A fresh Standard Webhooks message id (``msg_`` and 26 random characters)."""
    return "msg_" + secrets.token_hex(13)


def emit(session: Session, event_type: str, data: Mapping[str, object], *, at: datetime) -> str:
    """Write one event to the outbox in the caller's transaction; returns its message id."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    message_id = new_message_id()
    payload = dumps_text(
        {"type": event_type, "timestamp": format_timestamp(at), "data": dict(data)}
    )
    store.add_message(session, message_id, event_type, at, payload)
    return message_id
