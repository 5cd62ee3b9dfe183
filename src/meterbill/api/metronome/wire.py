"""The Metronome wire format: JSON with exact numbers, errors, cursors and parameters.

* Every amount and quantity is a JSON *number* (Metronome's clients read numbers), written
  from the exact ``Decimal`` digits, never through a float.
* Errors are ``{"message": "..."}`` with the HTTP status Metronome would use.
* ``next_page`` cursors are opaque URL-safe strings; the end of a listing is ``null``.
* Times are accepted in every RFC 3339 variant (``Z``, offsets, fractions), as offset-less
  date-times (read as UTC) or as bare dates, and written as ``2026-01-01T00:00:00Z``.
"""

import base64
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.responses import Response

from meterbill.api.deps import bearer_secret, get_session, require_admin, resolve_principal
from meterbill.core.errors import InvalidEvent, InvalidRequest, NotFound
from meterbill.core.events import parse_timestamp
from meterbill.core.periods import Span, WindowSize
from meterbill.db import Session
from meterbill.services import metronome as service
from meterbill.services.jsonio import dumps_numbers
from meterbill.services.keys import Principal

__all__ = [
    "AdminDep",
    "MetronomeJSON",
    "PrincipalDep",
    "SessionDep",
    "decode_cursor",
    "encode",
    "encode_cursor",
    "id_list",
    "instant",
    "limit_of",
    "offset_of",
    "ok",
    "page",
    "size_of",
    "slice_page",
    "span_of",
    "visible_customer",
    "window_of",
]


class MetronomeJSON(Response):
    """``application/json`` rendered with :func:`encode` (decimals as exact numbers)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return encode(content)


def encode(value: object) -> bytes:
    """Compact UTF-8 JSON; ``Decimal`` as a number with its exact digits (trailing zeros
    dropped), datetimes as RFC 3339 in UTC."""
    return dumps_numbers(value, trim=True)


def ok(data: object) -> MetronomeJSON:
    """``{"data": ...}``."""
    return MetronomeJSON({"data": data})


def page(items: list[Any], next_page: str | None) -> MetronomeJSON:
    """``{"data": [...], "next_page": "..." | null}``."""
    return MetronomeJSON({"data": items, "next_page": next_page})


# --------------------------------------------------------------------------- cursors


def encode_cursor(*parts: str | int) -> str:
    text = "|".join(str(part) for part in parts)
    return base64.urlsafe_b64encode(f"m1|{text}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, count: int) -> list[str] | None:
    """The ``count`` parts of a cursor made by :func:`encode_cursor` (None: no cursor)."""
    if cursor is None or cursor == "":
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    parts = text.split("|")
    if len(parts) != count + 1 or parts[0] != "m1":
        raise InvalidRequest(f"next_page: invalid cursor '{cursor}'")
    return parts[1:]


def offset_of(cursor: str | None) -> int:
    parts = decode_cursor(cursor, 1)
    if parts is None:
        return 0
    if not parts[0].isdigit():
        raise InvalidRequest(f"next_page: invalid cursor '{cursor}'")
    return int(parts[0])


def limit_of(value: int | None, *, default: int, maximum: int = 100) -> int:
    if value is None:
        return default
    if not 1 <= value <= maximum:
        raise InvalidRequest(f"limit must be between 1 and {maximum}, got {value}")
    return value


def slice_page(items: list[Any], cursor: str | None, limit: int) -> MetronomeJSON:
    """One page of ``items`` from an offset cursor."""
    start = offset_of(cursor)
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return page(chunk, encode_cursor(start + limit) if more else None)


# --------------------------------------------------------------------------- parameters

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NO_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?")


def instant(value: str, name: str) -> datetime:
    """An RFC 3339 time; an offset-less date-time or a bare date is read as UTC."""
    text = value.strip()
    if _DATE.fullmatch(text):
        text += "T00:00:00Z"
    elif _NO_OFFSET.fullmatch(text):
        text = (text + ":00" if text.count(":") == 1 else text) + "Z"
    try:
        return parse_timestamp(text)
    except InvalidEvent as error:
        raise InvalidRequest(f"{name}: {error}") from None


def span_of(starting_on: str, ending_before: str) -> Span:
    start = instant(starting_on, "starting_on")
    end = instant(ending_before, "ending_before")
    if end <= start:
        raise InvalidRequest("ending_before must be after starting_on")
    return Span(start, end)


def window_of(value: str | None, *, default: str | None, allowed: Iterable[str]) -> str:
    """A window size in any case (``HOUR``, ``hour``, ``Hour``), returned upper-case."""
    options = tuple(allowed)
    if value is None:
        if default is None:
            raise InvalidRequest(f"window_size is required: one of {', '.join(options)}")
        return default
    text = value.upper()
    if text not in options:
        raise InvalidRequest(f"window_size must be one of {', '.join(options)}, got '{value}'")
    return text


def size_of(window: str) -> WindowSize | None:
    return {"HOUR": WindowSize.HOUR, "DAY": WindowSize.DAY}.get(window)


def id_list(values: Iterable[str] | None) -> list[str] | None:
    """A query array: the SDK sends ``a,b,c``; repeated parameters work as well."""
    if values is None:
        return None
    return [part for value in values for part in value.split(",") if part]


# --------------------------------------------------------------------------- access

# The transaction commits when the endpoint returns, *before* the response is sent
# (``scope="function"``). FastAPI's default for a dependency with ``yield`` ends it after
# the response went out, so a client could send its next request — and read — before its
# write was committed (a customer just created, not yet found on PostgreSQL).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _principal(request: Request, session: SessionDep) -> Principal:
    return resolve_principal(session, bearer_secret(request))


PrincipalDep = Annotated[Principal, Depends(_principal)]
"""The caller's key (401 without a valid one)."""


def _admin(principal: PrincipalDep) -> Principal:
    require_admin(principal)
    return principal


AdminDep = Annotated[Principal, Depends(_admin)]
"""An admin key (401 without a valid key, 403 with a customer key)."""


def visible_customer(
    session: Session, principal: Principal, reference: str
) -> service.CustomerRecord:
    """The customer named in a path, if the key may see it; otherwise the same 404 as for a
    customer that does not exist."""
    try:
        record = service.find_customer(session, reference)
    except NotFound:
        record = None
    if record is None or not principal.can_see(record.id):
        raise NotFound(f"customer '{reference}' not found")
    return record
