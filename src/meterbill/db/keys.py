"""API keys: stored as a SHA-256 hash of the secret, never the secret itself."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterbill.db.models import ApiKeyRow

__all__ = ["add_key", "get_key", "key_rows"]


def add_key(
    session: Session,
    *,
    key_id: str,
    kind: str,
    customer_id: str | None,
    secret_hash: str,
    name: str | None,
    now: datetime,
) -> ApiKeyRow:
    row = ApiKeyRow(
        id=key_id,
        kind=kind,
        customer_id=customer_id,
        secret_hash=secret_hash,
        name=name,
        created_at=now,
        revoked_at=None,
    )
    session.add(row)
    session.flush()
    return row


def get_key(session: Session, key_id: str) -> ApiKeyRow | None:
    return session.get(ApiKeyRow, key_id)


def key_rows(session: Session) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)))
