"""Request dependencies: the database session (one transaction per request), the clock,
and the caller's identity from ``Authorization: Bearer <key>``."""

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from meterbill.api.errors import ApiError
from meterbill.core.errors import NotFound
from meterbill.db import Session
from meterbill.db.database import Database
from meterbill.services.keys import Principal, authenticate

__all__ = [
    "READ_METHODS",
    "ClockDep",
    "PrincipalDep",
    "SessionDep",
    "bearer_secret",
    "get_session",
    "require_admin",
    "require_customer",
]


READ_METHODS = frozenset({"GET", "HEAD"})
"""Requests whose transaction is a read transaction (SQLite: no write lock)."""


def get_session(request: Request) -> Iterator[Session]:
    """A session whose work commits when the request succeeds and rolls back otherwise.

    ``GET`` and ``HEAD`` get a read transaction: on SQLite it takes no write lock, so any
    number of readers run beside a writer (WAL) instead of queueing behind each other.
    """
    database: Database = request.app.state.database
    with database.transaction(read_only=request.method in READ_METHODS) as session:
        yield session


def get_clock(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


# scope="function": commit before the response goes out, so a client that reads right after
# a write sees it (by default a yield dependency would finish after the response).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ClockDep = Annotated[datetime, Depends(get_clock)]


def bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def resolve_principal(session: Session, secret: str | None) -> Principal:
    principal = authenticate(session, secret) if secret else None
    if principal is None:
        raise ApiError(401, "unauthorized", "missing or invalid API key")
    return principal


def get_principal(request: Request, session: SessionDep) -> Principal:
    return resolve_principal(session, bearer_secret(request))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "this needs an admin key")


def require_customer(principal: Principal, customer_id: str) -> None:
    """Another customer's data answers 404, exactly as if it did not exist."""
    if not principal.can_see(customer_id):
        raise NotFound(f"customer '{customer_id}' not found")
