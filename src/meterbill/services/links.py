"""Signed links: an invoice's page ``/invoices/{token}`` and a customer's usage dashboard
``/d/{token}``.

A token carries the invoice id and an HMAC-SHA256 of it under the installation's link
secret, together as unpadded URL-safe base64. Whoever holds a token may open that one
invoice's page; without the secret a token can be neither forged for another invoice nor
guessed (the MAC is 256 bits), and changing any character of a token makes it invalid.

A dashboard token carries the customer id and an expiry (whole seconds since the epoch),
both inside the signed payload, under a context of its own: an invoice token is never a
dashboard token, nor the other way round, and an expired token is refused.

A dashboard *session* token (the sign-in cookie) is made the same way under a third
context and carries an API key's id, never its secret: the dashboard checks on every
request that the key still exists and is not revoked, so revoking the key ends the session.

A *form* token (:func:`form_token`) is an HMAC of a session token under a fourth context:
the operator console's forms carry it, so a page of another site cannot post them.

The secret lives in the ``meta`` table under ``link_secret`` (32 random bytes, created on
first use). It never leaves the server.

A public link names a finalized invoice only: :func:`invoice_for_token` answers ``None`` for
a tampered, foreign or revoked token and for a draft. :func:`rotate_link_secret` replaces the
installation's link secret, which revokes every link handed out so far at once (the
Typesense API hands out new ones from then on).
"""

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from datetime import datetime

from meterbill.core.periods import epoch_seconds
from meterbill.db import Session
from meterbill.db import catalog as catalog_store
from meterbill.db import invoices as invoice_store
from meterbill.db.models import Meta
from meterbill.services import invoicing
from meterbill.services.invoicing import InvoiceView
from meterbill.services.jsonio import JSONError, dumps_text, loads_exact

__all__ = [
    "LINK_SECRET_KEY",
    "MAX_TOKEN_LENGTH",
    "dashboard_link_token",
    "dashboard_session_token",
    "finalized_invoice",
    "form_token",
    "invoice_for_token",
    "invoice_link_token",
    "link_secret",
    "rotate_link_secret",
    "verify_dashboard_link_token",
    "verify_dashboard_session_token",
    "verify_form_token",
    "verify_invoice_link_token",
]

LINK_SECRET_KEY = "link_secret"
MAX_TOKEN_LENGTH = 1024
_SECRET_BYTES = 32
_FINALIZED = frozenset({"issued", "paid", "void"})
_MAC_BYTES = hashlib.sha256().digest_size
# Domain separation: a MAC made for another purpose with the same secret is never a link.
_CONTEXT = b"meterbill/invoice-link/v1\x00"
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_DASHBOARD_CONTEXT = b"meterbill/dashboard-link/v1\x00"
_SESSION_CONTEXT = b"meterbill/dashboard-session/v1\x00"
_FORM_CONTEXT = b"meterbill/console-form/v1\x00"
_EXPIRY = struct.Struct(">q")  # expiry in whole seconds since the epoch, signed 64-bit


def _mac(secret: bytes, invoice_id: str) -> bytes:
    return hmac.new(secret, _CONTEXT + invoice_id.encode("utf-8"), hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def invoice_link_token(secret: bytes, invoice_id: str) -> str:
    """The token of ``invoice_id``: URL-safe base64 of the id's UTF-8 bytes and their MAC."""
    if not secret:
        raise ValueError("the link secret must not be empty")
    if not invoice_id:
        raise ValueError("the invoice id must not be empty")
    return _encode(invoice_id.encode("utf-8") + _mac(secret, invoice_id))


def verify_invoice_link_token(secret: bytes, token: str) -> str | None:
    """The invoice id a genuine token names, or None for anything else.

    Only the canonical encoding is accepted (no padding, no other alphabet, no stray bits),
    so every invoice has exactly one token per secret.
    """
    raw = _canonical_bytes(secret, token, minimum=_MAC_BYTES + 1)
    if raw is None:
        return None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    try:
        invoice_id = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not hmac.compare_digest(mac, _mac(secret, invoice_id)):
        return None
    return invoice_id


def _canonical_bytes(secret: bytes, token: str, *, minimum: int) -> bytes | None:
    """The bytes of a token in canonical URL-safe base64 (no padding, no stray bits, no
    other alphabet), at least ``minimum`` long; None for anything else."""
    if not secret or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    if not _ALPHABET.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < minimum or _encode(raw) != token:
        return None
    return raw


def _epoch_seconds(moment: datetime, what: str) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return epoch_seconds(moment)


def _expiring_token(secret: bytes, context: bytes, text: str, expires_at: datetime) -> str:
    """URL-safe base64 of the expiry (8 bytes, big-endian), ``text`` in UTF-8 and the
    HMAC-SHA256 of both under ``context``."""
    if not secret:
        raise ValueError("the link secret must not be empty")
    payload = _EXPIRY.pack(_epoch_seconds(expires_at, "expires_at")) + text.encode("utf-8")
    return _encode(payload + hmac.new(secret, context + payload, hashlib.sha256).digest())


def _verify_expiring_token(secret: bytes, context: bytes, token: str, now: datetime) -> str | None:
    """The text of a genuine token of ``context`` not yet expired at ``now``, else None."""
    raw = _canonical_bytes(secret, token, minimum=_EXPIRY.size + _MAC_BYTES + 1)
    if raw is None:
        return None
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, hmac.new(secret, context + payload, hashlib.sha256).digest()):
        return None
    (expires,) = _EXPIRY.unpack(payload[: _EXPIRY.size])
    if _epoch_seconds(now, "now") >= expires:
        return None
    try:
        return payload[_EXPIRY.size :].decode("utf-8")
    except UnicodeDecodeError:
        return None


def dashboard_link_token(secret: bytes, customer_id: str, *, expires_at: datetime) -> str:
    """A token opening ``customer_id``'s dashboard until ``expires_at`` (whole seconds).

    URL-safe base64 of the expiry (8 bytes, big-endian), the id's UTF-8 bytes and the
    HMAC-SHA256 of both under the dashboard context.
    """
    if not customer_id:
        raise ValueError("the customer id must not be empty")
    return _expiring_token(secret, _DASHBOARD_CONTEXT, customer_id, expires_at)


def verify_dashboard_link_token(secret: bytes, token: str, *, now: datetime) -> str | None:
    """The customer id of a genuine dashboard token not yet expired at ``now``, else None.

    As for invoice tokens, only the canonical encoding is accepted.
    """
    return _verify_expiring_token(secret, _DASHBOARD_CONTEXT, token, now)


def dashboard_session_token(secret: bytes, key_id: str, *, expires_at: datetime) -> str:
    """The sign-in cookie of the API key ``key_id`` (its id, never its secret), valid until
    ``expires_at``; made like a dashboard link under a context of its own."""
    if not key_id:
        raise ValueError("the key id must not be empty")
    return _expiring_token(secret, _SESSION_CONTEXT, key_id, expires_at)


def verify_dashboard_session_token(secret: bytes, token: str, *, now: datetime) -> str | None:
    """The key id of a genuine session token not yet expired at ``now``, else None."""
    return _verify_expiring_token(secret, _SESSION_CONTEXT, token, now)


def form_token(secret: bytes, session_token: str) -> str:
    """The anti-CSRF token of the console's forms for one sign-in session: a MAC of the
    session cookie under a context of its own. A page of another site can neither read the
    cookie nor compute the MAC, so it cannot post a console form on the operator's behalf;
    a new sign-in (a new cookie) gets a new token."""
    if not secret or not session_token:
        raise ValueError("the secret and the session token must not be empty")
    mac = hmac.new(secret, _FORM_CONTEXT + session_token.encode("utf-8"), hashlib.sha256)
    return _encode(mac.digest())


def verify_form_token(secret: bytes, session_token: str, token: str) -> bool:
    """Whether ``token`` is :func:`form_token` of ``session_token`` (in constant time)."""
    if not secret or not session_token or not token or len(token) > MAX_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(
        token.encode("ascii", "replace"), form_token(secret, session_token).encode("ascii")
    )


def _decode_secret(stored: str) -> bytes | None:
    try:
        value = loads_exact(stored)
    except JSONError:
        return None
    if not isinstance(value, str):
        return None
    try:
        secret = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return secret if len(secret) >= _SECRET_BYTES else None


def link_secret(session: Session) -> bytes:
    """The installation's link secret, created (32 random bytes) the first time it is needed.

    Two first uses racing on PostgreSQL: the loser's insert fails inside a savepoint and it
    reads the winner's secret instead (SQLite serializes writers, so it never races there).
    """
    stored = catalog_store.get_meta(session, LINK_SECRET_KEY)
    if stored is not None:
        secret = _decode_secret(stored)
        if secret is None:
            raise RuntimeError(f"meta '{LINK_SECRET_KEY}' is not a base64 secret of 32+ bytes")
        return secret
    fresh = secrets.token_bytes(_SECRET_BYTES)
    try:
        # Insert only (never update): a secret stored meanwhile must not be replaced, or the
        # links already handed out with it would stop working.
        with session.begin_nested():
            session.add(Meta(key=LINK_SECRET_KEY, value=dumps_text(_encode(fresh))))
            session.flush()
    except Exception:
        # The savepoint is rolled back: the key exists now, stored by a concurrent request.
        stored = catalog_store.get_meta(session, LINK_SECRET_KEY)
        secret = _decode_secret(stored) if stored is not None else None
        if secret is None:
            raise
        return secret
    return fresh


# --- the invoice behind a link ------------------------------------------------------------


def finalized_invoice(session: Session, invoice_id: str) -> InvoiceView | None:
    """The issued, paid or void invoice ``invoice_id``; ``None`` for a draft or nothing."""
    row = invoice_store.get_invoice(session, invoice_id)
    if row is None or row.status not in _FINALIZED:
        return None
    view = invoicing.find_invoice(session, invoice_id, as_of=row.issued_at)
    return view if view.status in _FINALIZED else None


def invoice_for_token(session: Session, token: str) -> InvoiceView | None:
    """The finalized invoice a genuine link token names; ``None`` for anything else (a
    tampered token, one signed with another installation's or a rotated-out secret, a
    draft). Never creates the link secret: without one no link was ever handed out."""
    if catalog_store.get_meta(session, LINK_SECRET_KEY) is None:
        return None
    invoice_id = verify_invoice_link_token(link_secret(session), token)
    if invoice_id is None:
        return None
    return finalized_invoice(session, invoice_id)


def rotate_link_secret(session: Session) -> bytes:
    """Replace the link secret with 32 fresh random bytes and return them.

    Every invoice link handed out so far stops working at once (its page and PDF answer
    404); the links made from now on (the Typesense API's ``invoice_html_url``) use the
    new secret. Every other link signed with the same secret (the dashboard links) is
    revoked too. Committed with the caller's transaction.
    """
    fresh = secrets.token_bytes(_SECRET_BYTES)
    encoded = base64.urlsafe_b64encode(fresh).decode("ascii").rstrip("=")
    catalog_store.set_meta(session, LINK_SECRET_KEY, dumps_text(encoded))
    session.flush()
    return fresh
