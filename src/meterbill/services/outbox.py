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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from meterbill.core.events import format_timestamp
from meterbill.db import Session
from meterbill.db import outbox as store
from meterbill.db import webhooks as webhook_store
from meterbill.services.jsonio import dumps_text, loads_exact

__all__ = ["EVENT_TYPES", "Outgoing", "emit", "emit_all", "new_message_id"]

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


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One event to write to the outbox: its type, its data, when it happened and the
    customer it is about (None: no single one), which the operator console lists a
    customer's deliveries by."""

    event_type: str
    data: Mapping[str, object]
    at: datetime
    customer_id: str | None = None


def emit(
    session: Session,
    event_type: str,
    data: Mapping[str, object],
    *,
    at: datetime,
    customer_id: str | None = None,
) -> str:
    """Write one event to the outbox in the caller's transaction; returns its message id."""
    return emit_all(session, [Outgoing(event_type, data, at, customer_id)])[0]


def emit_all(session: Session, events: Sequence[Outgoing]) -> list[str]:
    """Write these events to the outbox in the caller's transaction, in this order, with a
    pending delivery for each endpoint that wants them; returns their message ids."""
    for event in events:
        if event.event_type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event type {event.event_type!r}")
    if not events:
        return []
    ids = [new_message_id() for _ in events]
    store.add_messages(
        session,
        [
            store.NewMessage(
                id=message_id,
                event_type=event.event_type,
                created_at=event.at,
                payload=dumps_text(
                    {
                        "type": event.event_type,
                        "timestamp": format_timestamp(event.at),
                        "data": dict(event.data),
                    }
                ),
                customer_id=event.customer_id,
            )
            for message_id, event in zip(ids, events, strict=True)
        ],
    )
    endpoints = webhook_store.endpoint_rows(session)
    wanting = {
        message_id: [e.id for e in endpoints if _wants(e.event_types, event.event_type)]
        for message_id, event in zip(ids, events, strict=True)
    }
    if any(wanting.values()):
        seqs = store.sequence_numbers(session, ids)
        webhook_store.add_deliveries(
            session,
            [
                (seqs[message_id], endpoint_id, event.at)
                for message_id, event in zip(ids, events, strict=True)
                for endpoint_id in wanting[message_id]
            ],
        )
    return ids


def _wants(event_types: str, event_type: str) -> bool:
    """Whether an endpoint's stored event types (a JSON list; empty: all) hold ``event_type``."""
    wanted = loads_exact(event_types)
    return not wanted or (isinstance(wanted, list) and event_type in wanted)
