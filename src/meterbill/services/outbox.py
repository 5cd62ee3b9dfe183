"""Webhook events: what happened, written to the outbox with the change that caused it.

A use case calls :func:`emit` inside its own transaction, so the event exists exactly when
the change does: a rolled-back close leaves no ``invoice.issued`` behind, and a committed
one cannot lose its event if the process dies before delivery. The sender in ``meterbill
serve`` delivers each message to the endpoints that want its type.

The message is always written, endpoints or not (the outbox is also the record of what
happened); one pending delivery per endpoint that wants its type is written with it. An
endpoint therefore receives the events emitted after it was registered, never older ones
(as with Svix or Orb).

The payload follows the Standard Webhooks shape: ``{"type", "timestamp", "data"}``.
Money and quantities in ``data`` are decimal strings, as everywhere in meterbill's JSON.
"""

import secrets
from collections.abc import Mapping
from datetime import datetime

from meterbill.core.events import format_timestamp
from meterbill.db import Session
from meterbill.db import outbox as store
from meterbill.db import webhooks as webhook_store
from meterbill.services.jsonio import dumps_text, loads_exact

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


def emit(
    session: Session,
    event_type: str,
    data: Mapping[str, object],
    *,
    at: datetime,
    customer_id: str | None = None,
) -> str:
    """Write one event to the outbox in the caller's transaction; returns its message id.

    ``customer_id`` is the customer the event is about (None: no single one), which the
    operator console lists a customer's deliveries by."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    message_id = new_message_id()
    payload = dumps_text(
        {"type": event_type, "timestamp": format_timestamp(at), "data": dict(data)}
    )
    row = store.add_message(session, message_id, event_type, at, payload, customer_id=customer_id)
    wanting = [
        endpoint.id
        for endpoint in webhook_store.endpoint_rows(session)
        if _wants(endpoint.event_types, event_type)
    ]
    if wanting:
        webhook_store.add_deliveries(session, message_seq=row.seq, endpoint_ids=wanting, now=at)
    return message_id


def _wants(event_types: str, event_type: str) -> bool:
    """Whether an endpoint's stored event types (a JSON list; empty: all) hold ``event_type``."""
    wanted = loads_exact(event_types)
    return not wanted or (isinstance(wanted, list) and event_type in wanted)
