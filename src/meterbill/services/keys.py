"""API keys: admin keys see everything, a customer key only its own customer.

A secret looks like ``mb_<id>_<random>``; the id finds the stored row and the SHA-256 hash
of the whole secret is compared in constant time.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from meterbill.core.errors import InvalidRequest, NotFound
from meterbill.db import Session
from meterbill.db import catalog as catalog_store
from meterbill.db import keys as store

__all__ = [
    "Principal",
    "authenticate",
    "create_key",
    "derived_key",
    "list_keys",
    "principal_of_key",
    "revoke_key",
]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: an admin (customer_id None) or one customer."""

    key_id: str
    customer_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.customer_id is None

    def can_see(self, customer_id: str) -> bool:
        return self.customer_id is None or self.customer_id == customer_id


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session, *, customer_id: str | None, now: datetime, name: str | None = None
) -> tuple[str, str]:
    """A new key; returns (key id, secret). The secret is shown once and never stored."""
    if customer_id is not None and catalog_store.get_customer(session, customer_id) is None:
        raise NotFound(f"customer '{customer_id}' not found")
    key_id = secrets.token_hex(6)
    secret = f"mb_{key_id}_{secrets.token_urlsafe(24)}"
    store.add_key(
        session,
        key_id=key_id,
        kind="admin" if customer_id is None else "customer",
        customer_id=customer_id,
        secret_hash=_hash(secret),
        name=name,
        now=now,
    )
    return key_id, secret


def derived_key(
    session: Session,
    *,
    seed: bytes,
    label: str,
    customer_id: str | None,
    now: datetime,
    name: str | None = None,
) -> tuple[str, str]:
    """A key whose id and secret are derived from ``seed`` and ``label`` (HMAC-SHA-256), so
    that asking again with the same seed gives the same key: created the first time, then
    found. Returns (key id, secret). Meant for the demo, which prints its keys on every run
    over the same database; a key of that id that was revoked (or belongs to someone else)
    is left alone and a fresh random key is made instead.
    """
    digest = hmac.new(seed, f"meterbill key {label}".encode(), hashlib.sha256).digest()
    key_id = digest[:6].hex()
    secret = f"mb_{key_id}_{base64.urlsafe_b64encode(digest[6:30]).decode()}"
    row = store.get_key(session, key_id)
    if row is None:
        store.add_key(
            session,
            key_id=key_id,
            kind="admin" if customer_id is None else "customer",
            customer_id=customer_id,
            secret_hash=_hash(secret),
            name=name,
            now=now,
        )
        return key_id, secret
    usable = (
        row.revoked_at is None
        and row.customer_id == customer_id
        and hmac.compare_digest(row.secret_hash, _hash(secret))
    )
    if usable:
        return key_id, secret
    return create_key(session, customer_id=customer_id, now=now, name=name)


def authenticate(session: Session, secret: str) -> Principal | None:
    """The principal of a presented secret, or None for a missing, wrong or revoked key."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != "mb" or not secret.isascii() or not secret.isprintable():
        return None
    row = store.get_key(session, parts[1])
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _hash(secret)):
        return None
    return Principal(row.id, row.customer_id)


def principal_of_key(session: Session, key_id: str) -> Principal | None:
    """The principal of the key ``key_id`` (from a signed session), or None if the key does
    not exist or was revoked."""
    row = store.get_key(session, key_id)
    if row is None or row.revoked_at is not None:
        return None
    return Principal(row.id, row.customer_id)


def list_keys(session: Session) -> list[dict[str, object]]:
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "customer_id": row.customer_id,
            "name": row.name,
            "created_at": row.created_at,
            "revoked_at": row.revoked_at,
        }
        for row in store.key_rows(session)
    ]


def revoke_key(session: Session, key_id: str, *, now: datetime) -> None:
    row = store.get_key(session, key_id)
    if row is None:
        raise NotFound(f"key '{key_id}' not found")
    if row.revoked_at is not None:
        raise InvalidRequest(f"key '{key_id}' is already revoked")
    row.revoked_at = now
