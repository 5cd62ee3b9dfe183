"""Webhook endpoints and the delivery of outbox messages to them (Standard Webhooks).

Endpoints are registered with a URL and the event types they want (none: every type). Each
gets a signing secret ``whsec_<base64>``; it is stored in clear, because the sender must
sign with it (a hash could not sign), and shown once, when it is created or rotated. After
a rotation the previous secret keeps signing beside the new one for
:data:`ROTATION_OVERLAP` (two signatures in ``webhook-signature``), so receivers can switch
without losing a message.

Delivery (the loop itself runs in ``meterbill serve``, which owns the transactions):
:func:`claim_due` takes a lease on due deliveries and commits; the caller sends each one;
:func:`record_attempt` logs the attempt and moves the delivery on (``delivered``, the next
attempt after the :data:`DEFAULT_SCHEDULE` delay with jitter, or ``failed`` once the
schedule has run out). The state is committed only after the attempt, so a sender that dies
in between sends the message again once its lease has run out: at least once, with the same
``webhook-id``.
"""

import base64
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from meterbill.core.errors import Conflict, InvalidRequest, NotFound
from meterbill.db import Session
from meterbill.db import webhooks as store
from meterbill.db.models import (
    OutboxMessage,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)
from meterbill.services.jsonio import dumps_text, loads_exact
from meterbill.services.outbox import EVENT_TYPES

__all__ = [
    "DEFAULT_JITTER",
    "DEFAULT_SCHEDULE",
    "EVENT_TYPES",
    "ROTATION_OVERLAP",
    "AttemptResult",
    "AttemptView",
    "Claimed",
    "DeliveryView",
    "EndpointView",
    "check_event_types",
    "check_url",
    "claim_due",
    "create_endpoint",
    "customer_deliveries",
    "delete_endpoint",
    "endpoint_attempts",
    "get_endpoint",
    "list_endpoints",
    "new_secret",
    "record_attempt",
    "resend",
    "retry_delay",
    "rotate_secret",
    "signature_headers",
]

DEFAULT_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
"""Delays before the 2nd, 3rd, … attempt (Svix's schedule): 8 attempts over ~27.6 hours."""
DEFAULT_JITTER = 0.1
"""Each delay is stretched or shrunk by up to this fraction, at random."""
ROTATION_OVERLAP = timedelta(hours=24)
"""How long the previous secret keeps signing after a rotation."""
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION = 500
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class EndpointView:
    id: str
    url: str
    description: str | None
    event_types: tuple[str, ...]
    created_at: datetime
    previous_secret_until: datetime | None


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One delivery attempt as listed."""

    message_id: str
    event_type: str
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    outcome: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A message's delivery to one endpoint."""

    endpoint_id: str
    message_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _new_endpoint_id() -> str:
    return "ep_" + secrets.token_hex(12)


def check_url(url: str) -> str:
    """``url`` if it is an absolute http or https URL with a host."""
    text = url.strip()
    if not text or len(text) > MAX_URL_LENGTH:
        raise InvalidRequest(f"url: give an http or https URL of at most {MAX_URL_LENGTH} chars")
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise InvalidRequest("url: must not contain spaces or control characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as error:
        raise InvalidRequest(f"url: {url!r} is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidRequest(f"url: {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise InvalidRequest(f"url: {url!r} has no host")
    return text


def check_event_types(event_types: Iterable[str]) -> tuple[str, ...]:
    """The event types, each known, without repeats (empty: every type)."""
    chosen: list[str] = []
    for name in event_types:
        name = name.strip()
        if name not in EVENT_TYPES:
            raise InvalidRequest(
                f"event_types: unknown event type {name!r}; known: {', '.join(EVENT_TYPES)}"
            )
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def _event_types(row: WebhookEndpointRow) -> tuple[str, ...]:
    value = loads_exact(row.event_types)
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _view(row: WebhookEndpointRow) -> EndpointView:
    return EndpointView(
        id=row.id,
        url=row.url,
        description=row.description,
        event_types=_event_types(row),
        created_at=row.created_at,
        previous_secret_until=row.previous_secret_until,
    )


def _endpoint(session: Session, endpoint_id: str) -> WebhookEndpointRow:
    row = store.get_endpoint(session, endpoint_id)
    if row is None:
        raise NotFound(f"webhook endpoint '{endpoint_id}' not found")
    return row


def create_endpoint(
    session: Session,
    *,
    url: str,
    event_types: Sequence[str] = (),
    description: str | None = None,
    now: datetime,
) -> tuple[EndpointView, str]:
    """Register an endpoint; returns it and its secret (shown this once)."""
    checked_url = check_url(url)
    types = check_event_types(event_types)
    if description is not None and (len(description) > MAX_DESCRIPTION or "\x00" in description):
        raise InvalidRequest(f"description: at most {MAX_DESCRIPTION} characters, no NUL")
    secret = new_secret()
    row = store.add_endpoint(
        session,
        WebhookEndpointRow(
            id=_new_endpoint_id(),
            url=checked_url,
            description=description,
            event_types=dumps_text(list(types)),
            secret=secret,
            previous_secret=None,
            previous_secret_until=None,
            created_at=now,
        ),
    )
    return _view(row), secret


def list_endpoints(session: Session) -> list[EndpointView]:
    return [_view(row) for row in store.endpoint_rows(session)]


def get_endpoint(session: Session, endpoint_id: str) -> EndpointView:
    return _view(_endpoint(session, endpoint_id))


def delete_endpoint(session: Session, endpoint_id: str) -> None:
    """Delete an endpoint with its pending deliveries and its attempt log."""
    if not store.delete_endpoint(session, endpoint_id):
        raise NotFound(f"webhook endpoint '{endpoint_id}' not found")


def rotate_secret(
    session: Session, endpoint_id: str, *, now: datetime, overlap: timedelta = ROTATION_OVERLAP
) -> tuple[EndpointView, str]:
    """A new secret for the endpoint; the current one keeps signing, beside it, for
    ``overlap`` (a rotation during an overlap drops the oldest secret at once)."""
    row = _endpoint(session, endpoint_id)
    secret = new_secret()
    row.previous_secret = row.secret
    row.previous_secret_until = now + overlap
    row.secret = secret
    session.flush()
    return _view(row), secret


def endpoint_attempts(
    session: Session, endpoint_id: str, *, offset: int = 0, limit: int = 100
) -> list[AttemptView]:
    """The endpoint's delivery attempts, newest first."""
    _endpoint(session, endpoint_id)
    return [
        AttemptView(
            message_id=record.message_id,
            event_type=record.event_type,
            attempt=record.attempt.attempt,
            at=record.attempt.at,
            status_code=record.attempt.status_code,
            error=record.attempt.error,
            outcome=record.attempt.outcome,
            duration_ms=record.attempt.duration_ms,
        )
        for record in store.attempts_of_endpoint(session, endpoint_id, offset=offset, limit=limit)
    ]


def resend(
    session: Session,
    endpoint_id: str,
    message_id: str,
    *,
    now: datetime,
    customer_id: str | None = None,
) -> DeliveryView:
    """Send a failed (or already delivered) message to the endpoint again: it is due at
    once, with a full retry schedule, under the same ``webhook-id``.

    With ``customer_id`` (the operator console's customer page) only a message about that
    customer is resent; another one is not found."""
    _endpoint(session, endpoint_id)
    delivery = store.delivery_of_message(
        session,
        endpoint_id=endpoint_id,
        message_id=message_id,
        customer_id=customer_id,
        lock=True,
    )
    if delivery is None:
        if customer_id is not None:
            raise NotFound(
                f"customer '{customer_id}' has no message '{message_id}' "
                f"sent to endpoint '{endpoint_id}'"
            )
        raise NotFound(f"message '{message_id}' was never sent to endpoint '{endpoint_id}'")
    if delivery.status == "pending":
        raise Conflict(f"message '{message_id}' is still pending for endpoint '{endpoint_id}'")
    delivery.status = "pending"
    delivery.round_attempts = 0
    delivery.next_attempt_at = None
    delivery.locked_until = None
    delivery.locked_by = None
    session.flush()
    parts = store.delivery_parts(session, delivery.id)
    assert parts is not None
    return _delivery_view(*parts[:2], endpoint_id=endpoint_id)


def customer_deliveries(session: Session, customer_id: str, limit: int = 20) -> list[DeliveryView]:
    """The latest ``limit`` deliveries of the messages about one customer, newest first."""
    return [
        _delivery_view(delivery, message, endpoint_id=delivery.endpoint_id)
        for delivery, message in store.customer_deliveries(session, customer_id, limit=limit)
    ]


def _delivery_view(
    delivery: WebhookDeliveryRow, message: OutboxMessage, *, endpoint_id: str
) -> DeliveryView:
    return DeliveryView(
        endpoint_id=endpoint_id,
        message_id=message.id,
        event_type=message.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
    )


# --- the sender's side ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery whose lease a sender holds: what to send, where, signed with what."""

    delivery_id: int
    endpoint_id: str
    url: str
    message_id: str
    event_type: str
    payload: str
    secrets: tuple[str, ...]
    attempt: int


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What the receiver answered (``status_code``) or why it could not (``error``)."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim_due(
    session: Session, *, now: datetime, lease: timedelta, limit: int, owner: str
) -> list[Claimed]:
    """Take the lease of up to ``limit`` due deliveries (commit before sending them)."""
    claimed: list[Claimed] = []
    for delivery_id in store.due_deliveries(session, now=now, limit=limit):
        if not store.claim(session, delivery_id, now=now, until=now + lease, owner=owner):
            continue
        parts = store.delivery_parts(session, delivery_id)
        if parts is None:
            continue
        delivery, message, endpoint = parts
        keys = [endpoint.secret]
        if (
            endpoint.previous_secret is not None
            and endpoint.previous_secret_until is not None
            and endpoint.previous_secret_until > now
        ):
            keys.append(endpoint.previous_secret)
        claimed.append(
            Claimed(
                delivery_id=delivery_id,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                message_id=message.id,
                event_type=message.event_type,
                payload=message.payload,
                secrets=tuple(keys),
                attempt=delivery.attempts + 1,
            )
        )
    return claimed


def signature_headers(claimed: Claimed, *, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt, signed by the library with every live
    secret of the endpoint (space-separated signatures during a rotation)."""
    signatures = " ".join(
        Webhook(secret).sign(claimed.message_id, at, claimed.payload) for secret in claimed.secrets
    )
    return {
        "webhook-id": claimed.message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


def retry_delay(
    round_attempts: int,
    schedule: Sequence[timedelta],
    *,
    jitter: float = DEFAULT_JITTER,
    rng: random.Random | None = None,
) -> timedelta | None:
    """The wait after the ``round_attempts``-th failed attempt, with jitter; None when the
    schedule has run out (the delivery has failed)."""
    if round_attempts > len(schedule):
        return None
    base = schedule[round_attempts - 1]
    factor = 1.0 + (rng or random).uniform(-jitter, jitter) if jitter > 0 else 1.0
    return base * factor


def record_attempt(
    session: Session,
    claimed: Claimed,
    result: AttemptResult,
    *,
    now: datetime,
    schedule: Sequence[timedelta] = DEFAULT_SCHEDULE,
    jitter: float = DEFAULT_JITTER,
    rng: random.Random | None = None,
) -> str | None:
    """Log one attempt and move its delivery on; the outcome (``delivered``, ``retrying``
    or ``failed``), or None when the endpoint was deleted meanwhile."""
    delivery = store.get_delivery(session, claimed.delivery_id, lock=True)
    if delivery is None:
        return None
    delivery.attempts += 1
    delivery.round_attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = result.status_code
    delivery.last_error = None if result.error is None else result.error[:MAX_ERROR]
    delivery.locked_until = None
    delivery.locked_by = None
    if result.delivered:
        outcome = "delivered"
        delivery.status = "delivered"
        delivery.next_attempt_at = None
    else:
        delay = retry_delay(delivery.round_attempts, schedule, jitter=jitter, rng=rng)
        if delay is None:
            outcome = "failed"
            delivery.status = "failed"
            delivery.next_attempt_at = None
        else:
            outcome = "retrying"
            delivery.next_attempt_at = now + delay
    store.add_attempt(
        session,
        WebhookAttemptRow(
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            at=now,
            status_code=result.status_code,
            error=delivery.last_error,
            outcome=outcome,
            duration_ms=result.duration_ms,
        ),
    )
    return outcome
