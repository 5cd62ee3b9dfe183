"""JSON shapes of webhook endpoints, delivery attempts and deliveries (API and CLI)."""

from meterbill.core.events import format_timestamp, time_text
from meterbill.services.webhooks import AttemptView, DeliveryView, EndpointView

__all__ = ["attempt_document", "delivery_document", "endpoint_document"]


def endpoint_document(view: EndpointView, *, secret: str | None = None) -> dict[str, object]:
    """An endpoint; ``secret`` only in the answers that create or rotate it."""
    document: dict[str, object] = {
        "id": view.id,
        "url": view.url,
        "description": view.description,
        "event_types": list(view.event_types),
        "created_at": format_timestamp(view.created_at),
        "previous_secret_valid_until": time_text(view.previous_secret_until),
    }
    if secret is not None:
        document["secret"] = secret
    return document


def attempt_document(view: AttemptView) -> dict[str, object]:
    return {
        "message_id": view.message_id,
        "event_type": view.event_type,
        "attempt": view.attempt,
        "at": format_timestamp(view.at),
        "status_code": view.status_code,
        "error": view.error,
        "outcome": view.outcome,
        "duration_ms": view.duration_ms,
    }


def delivery_document(view: DeliveryView) -> dict[str, object]:
    return {
        "endpoint_id": view.endpoint_id,
        "message_id": view.message_id,
        "event_type": view.event_type,
        "status": view.status,
        "attempts": view.attempts,
        "next_attempt_at": time_text(view.next_attempt_at),
        "last_status_code": view.last_status_code,
        "last_error": view.last_error,
    }
