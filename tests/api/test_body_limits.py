"""Issue 8: bodies are never read (or inflated) past their limit, and not at all without
a valid key.

The application is called as ASGI directly with a ``receive`` that hands out the body in
chunks and counts what was taken, so the tests see exactly how much the server read.
Before the fix every route read the whole body first (``/metronome/v1/ingest`` even before
the key), and the Metronome ingest inflated a gzip body whole before its 8 MiB check.
"""

import gzip
import tracemalloc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from meterbill.api.errors import ApiError
from meterbill.api.native import MAX_BODY
from meterbill.core.errors import InvalidRequest
from tests.api.support import Keys
from tests.server.conftest import run_async

MIB = 1024 * 1024
CHUNK = 64 * 1024
METRONOME_LIMIT = 8 * MIB
FORM_LIMIT = 16 * 1024


@dataclass
class Outcome:
    status: int
    body: bytes
    consumed: int  # body bytes the application took from ``receive``


def _chunks(total: int, size: int = CHUNK) -> Iterator[bytes]:
    block = b"x" * size
    sent = 0
    while sent < total:
        piece = block[: min(size, total - sent)]
        sent += len(piece)
        yield piece


def call(
    app: FastAPI,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: Iterator[bytes],
) -> Outcome:
    """One request through the ASGI interface, the body streamed from ``body``."""
    consumed = 0
    started: dict[str, object] = {}
    parts: list[bytes] = []

    async def receive() -> dict[str, object]:
        nonlocal consumed
        chunk = next(body, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            assert isinstance(chunk, bytes)
            parts.append(chunk)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def run() -> None:
        await app(scope, receive, send)  # type: ignore[arg-type]

    run_async(run)
    status = started.get("status")
    assert isinstance(status, int), started
    return Outcome(status, b"".join(parts), consumed)


def test_metronome_ingest_checks_the_key_before_reading(app: FastAPI, keys: Keys) -> None:
    for headers in ({}, {"Authorization": "Bearer mb_nope_nope"}, keys.revoked):
        outcome = call(app, "POST", "/metronome/v1/ingest", headers, _chunks(64 * MIB))
        assert outcome.status == 401, outcome.body
        assert outcome.consumed == 0


def test_metronome_ingest_stops_reading_past_8_mib(app: FastAPI, keys: Keys) -> None:
    outcome = call(app, "POST", "/metronome/v1/ingest", keys.admin, _chunks(64 * MIB))
    assert outcome.status == 413, outcome.body
    assert b"8388608" in outcome.body
    assert outcome.consumed <= METRONOME_LIMIT + CHUNK
    # A declared length over the limit is refused before a byte is read.
    declared = {**keys.admin, "Content-Length": str(200 * MIB)}
    outcome = call(app, "POST", "/metronome/v1/ingest", declared, _chunks(200 * MIB))
    assert (outcome.status, outcome.consumed) == (413, 0)


def test_metronome_ingest_inflates_a_gzip_bomb_only_up_to_the_limit(
    app: FastAPI, keys: Keys
) -> None:
    bomb = gzip.compress(bytes(96 * MIB), compresslevel=9)  # ~95 KB on the wire
    assert len(bomb) < MIB
    headers = {**keys.admin, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    tracemalloc.start()
    try:
        outcome = call(app, "POST", "/metronome/v1/ingest", headers, iter([bomb]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.status == 413, outcome.body
    # Inflating it whole would take 96 MiB; the bound is 8 MiB (+1 byte) and copies of it.
    assert peak < 40 * MIB, peak
    assert b"decompressed request body over 8388608 bytes" in outcome.body


def test_gunzip_is_bounded_and_reads_what_gzip_reads() -> None:
    from meterbill.api import bodies

    members = gzip.compress(b'[{"a": 1},') + gzip.compress(b'{"b": 2}]') + b"\x00" * 8
    assert bodies.gunzip(members, 100) == b'[{"a": 1},{"b": 2}]'
    with pytest.raises(ApiError) as raised:
        bodies.gunzip(gzip.compress(bytes(10 * MIB)), MIB)
    assert raised.value.status == 413
    assert bodies.gunzip(gzip.compress(bytes(MIB)), MIB) == bytes(MIB)  # exactly the limit
    for broken in (b"not gzip", gzip.compress(b"[1, 2, 3]")[:-6]):
        with pytest.raises(InvalidRequest):
            bodies.gunzip(broken, MIB)


def test_events_and_setup_stop_reading_past_64_mib(app: FastAPI, keys: Keys) -> None:
    for method, path in (("POST", "/v1/events"), ("PUT", "/v1/setup")):
        outcome = call(app, method, path, keys.admin, _chunks(MAX_BODY + 16 * MIB))
        assert outcome.status == 413, (path, outcome.body)
        assert outcome.consumed <= MAX_BODY + CHUNK, path
        declared = {**keys.admin, "Content-Length": str(MAX_BODY + 1)}
        outcome = call(app, method, path, declared, _chunks(MAX_BODY + 1))
        assert (outcome.status, outcome.consumed) == (413, 0), path
        # Without a valid key nothing is read.
        outcome = call(app, method, path, keys.revoked, _chunks(MAX_BODY + 16 * MIB))
        assert (outcome.status, outcome.consumed) == (401, 0), path


def test_dashboard_login_stops_reading_past_16_kib(app: FastAPI) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    outcome = call(app, "POST", "/dashboard/login", headers, _chunks(300 * MIB, 4096))
    assert outcome.status == 413
    assert b"16384 bytes" in outcome.body
    assert outcome.consumed <= FORM_LIMIT + 4096
