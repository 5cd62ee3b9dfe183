"""Issue 9: connections are bounded in time and number, and a failing ``accept()`` does
not flood the log.

Before: a connection that never sent a request (or only part of its head) stayed open
forever, the number of connections was unbounded, and at the open-file limit asyncio
logged a traceback per failed ``accept()`` retry (267 MB in 20 s). Now ``meterbill serve``
has ``--timeout-header``, ``--timeout-keep-alive``, ``--max-connections`` and
``--max-header-bytes`` (defaults in docs/operations.md), and repeats of the accept error
are collapsed into one line per 10 s with a count.
"""

import logging
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from tests.server.conftest import Server

WAIT = 8.0  # every wait for the server is bounded by this


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    sock.settimeout(WAIT)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a timeout fails the test)."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the server kept the connection open {WAIT} s (got {received!r})")
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def test_idle_slow_and_kept_alive_connections_are_closed(serve: Callable[..., Server]) -> None:
    server = serve("--timeout-header", "1", "--timeout-keep-alive", "1")
    with _connect(server) as silent:  # connects and says nothing
        assert _read_until_closed(silent) == b""
    with _connect(server) as slow:  # half a request head, then nothing
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert _read_until_closed(slow) == b""
    with _connect(server) as kept:  # one request, then idle on the kept-alive connection
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_until_closed(kept)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    # A request in time is answered as ever.
    assert httpx.get(f"{server.base_url}/healthz", timeout=WAIT).status_code == 200


def test_connections_over_the_limit_get_503_and_are_closed(serve: Callable[..., Server]) -> None:
    server = serve("--max-connections", "4")
    held = [_connect(server) for _ in range(4)]
    try:
        time.sleep(0.3)  # let the server take them in
        with _connect(server) as extra:
            answer = _read_until_closed(extra)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ")
        assert b"retry-after: 1" in head.lower()
        assert b'"code":"overloaded"' in body
        # The four held connections are served normally.
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _read_until_closed(held[0]).startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        for sock in held:
            sock.close()


def test_a_request_head_over_the_limit_is_refused(serve: Callable[..., Server]) -> None:
    # The server buffers at most --max-header-bytes of an unfinished request head.
    server = serve("--max-header-bytes", "4096")
    with _connect(server) as endless:
        endless.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"x" * 6000)
        assert _read_until_closed(endless).startswith(b"HTTP/1.1 400 ")
    assert httpx.get(f"{server.base_url}/healthz", timeout=WAIT).status_code == 200


def test_at_the_open_file_limit_the_log_does_not_flood(serve: Callable[..., Server]) -> None:
    # 128 open files: the default connection limit leaves room for the database pool, so a
    # crowd of 300 connections is refused with 503s instead of exhausting descriptors.
    server = serve(open_files=128)
    crowd: list[socket.socket] = []
    try:
        for _ in range(300):
            try:
                crowd.append(_connect(server))
            except OSError:
                break  # the backlog is full: the kernel refuses, which is fine
        time.sleep(1.5)
    finally:
        for sock in crowd:
            sock.close()
    # Served again once the crowd is gone (the server first drains the connections the
    # kernel queued meanwhile, refusing them while it still counts the crowd's).
    deadline = time.monotonic() + 3 * WAIT
    status: int | str = "no answer"
    while time.monotonic() < deadline:
        try:
            status = httpx.get(f"{server.base_url}/healthz", timeout=WAIT).status_code
        except httpx.TransportError as error:
            status = type(error).__name__
        if status == 200:
            break
        time.sleep(0.2)
    assert status == 200
    log = server.log.read_text()
    assert log.count("socket.accept() out of system resource") <= 1
    assert log.count("Traceback") <= 2
    assert len(log) < 64 * 1024, len(log)


def test_repeats_of_a_log_line_are_collapsed() -> None:
    from meterbill.cli.serve import RepeatFilter

    now = [100.0]
    keep = RepeatFilter("socket.accept()", every=10.0, clock=lambda: now[0])

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, None)

    assert keep.filter(record("socket.accept() out of system resource"))
    passed = [keep.filter(record("socket.accept() out of system resource")) for _ in range(999)]
    assert not any(passed)
    assert keep.filter(record("something else"))  # other lines are never held back
    now[0] = 110.0
    again = record("socket.accept() out of system resource")
    assert keep.filter(again)
    assert again.getMessage() == (
        "socket.accept() out of system resource (999 more like it in the last 10 s)"
    )
    assert not keep.filter(record("socket.accept() out of system resource"))


def test_the_default_connection_limit_leaves_room_for_the_pool() -> None:
    from meterbill.cli.serve import default_max_connections

    assert 16 <= default_max_connections(10) <= 4096
