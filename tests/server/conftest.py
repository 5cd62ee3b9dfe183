"""A real ``meterbill serve`` process on 127.0.0.1 over ``db_url`` (SQLite and PostgreSQL),
with the small setup of ``tests/api/support.py``, its standard events and an admin key.

``serve(*options)`` starts one (extra ``serve`` options as arguments) and stops it after
the test; every wait is bounded.
"""

import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup, load_catalog
from meterbill.services.ingest import Status, ingest_batch, rebuild_meter
from meterbill.services.keys import create_key
from meterbill.services.setupio import load_setup_document
from tests.api.support import FIXED, SETUP_YAML, STANDARD_EVENTS

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Server:
    base_url: str
    port: int
    admin: str  # an admin key's secret
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin}"}


def run_async(make: Callable[[], Awaitable[T]], *, timeout: float = 60.0) -> T:
    """``asyncio.run(make())`` in a thread of its own, so it works whatever event loop the
    test process already runs (the browser tests' Playwright keeps one in the main thread)."""
    results: list[T] = []
    failures: list[BaseException] = []

    def target() -> None:
        async def main() -> T:
            return await make()

        try:
            results.append(asyncio.run(main()))
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=target, name="run-async", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"the async part did not finish in {timeout} s")
    if failures:
        raise failures[0]
    return results[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def prepare(url: str) -> str:
    """Apply the setup, ingest the standard events and return a new admin key's secret."""
    database = Database(url)
    try:
        with database.transaction() as session:
            document = load_setup_document(SETUP_YAML.encode(), source="setup")
            apply_setup(session, document, now=FIXED, rebuild=rebuild_meter)
            _, admin = create_key(session, customer_id=None, now=FIXED, name="admin")
        with database.transaction() as session:
            outcomes = ingest_batch(session, load_catalog(session), STANDARD_EVENTS, now=FIXED)
        assert all(o.status is Status.ACCEPTED for o in outcomes)
        return admin
    finally:
        database.dispose()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    _stop(process)


@pytest.fixture
def serve(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    processes: list[subprocess.Popen[bytes]] = []
    admin = prepare(db_url)

    def start(*options: str, open_files: int | None = None) -> Server:
        """``open_files``: the server's RLIMIT_NOFILE (default: this process's)."""

        def limit_open_files() -> None:
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        command = [
            str(Path(sys.executable).with_name("meterbill")),
            "--database",
            db_url,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--close-every",
            "0",
            *options,
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ},
                preexec_fn=limit_open_files,
            )
        processes.append(process)
        server = Server(f"http://127.0.0.1:{port}", port, admin, log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"serve did not answer in {START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")

    try:
        yield start
    finally:
        for process in processes:
            _stop(process)
