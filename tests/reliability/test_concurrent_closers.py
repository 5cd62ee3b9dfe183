"""Closers racing over one PostgreSQL database: every period issued once, numbers gap-free.

Three ``meterbill serve`` processes run their background closers every 0.3 s on the same
database while two ``meterbill close`` commands run at the same time. Twelve customers each
have twelve ended monthly periods (2025), so 144 invoices are due. Afterwards each
(customer, period) has exactly one invoice, the numbers are 1..144 without a gap, and no
closer or command failed.
"""

import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench.server import ServeProcess, meterbill
from sqlalchemy import text

from meterbill.db.database import Database
from tests.dbsupport import reset_postgres_schema
from tests.reliability.support import figures, prepare, setup_document

pytestmark = pytest.mark.postgres

CUSTOMERS = 12
MONTHS = 12  # subscriptions run through 2025
SERVERS = 3
COMMANDS = 2
DEADLINE = 120.0


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    reset_postgres_schema(postgres_database)
    return postgres_database


def _issued(url: str) -> int:
    database = Database(url)
    try:
        with database.transaction() as session:
            count: int = session.execute(text("SELECT count(*) FROM invoices")).scalar_one()
    finally:
        database.dispose()
    return count


def test_racing_closers_issue_each_period_once_with_gap_free_numbers(
    postgres_url: str, tmp_path: Path
) -> None:
    setup = setup_document(
        CUSTOMERS, starts_at="2025-01-01T00:00:00Z", ends_at="2026-01-01T00:00:00Z"
    )
    prepare(postgres_url, setup)
    expected = CUSTOMERS * MONTHS
    servers = [
        ServeProcess(postgres_url, log=tmp_path / f"serve-{n}.log", close_every=0.3)
        for n in range(SERVERS)
    ]
    commands: list[subprocess.Popen[str]] = []
    failures: list[BaseException] = []

    def start(server: ServeProcess) -> None:
        try:
            server.start()
        except BaseException as error:  # reported below
            failures.append(error)

    try:
        starting = [threading.Thread(target=start, args=(s,), daemon=True) for s in servers]
        for thread in starting:
            thread.start()
        commands = [
            subprocess.Popen(
                [str(meterbill()), "--database", postgres_url, "close"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(COMMANDS)
        ]
        for thread in starting:
            thread.join(timeout=90)
        assert failures == []
        outputs = [command.communicate(timeout=DEADLINE) for command in commands]
        deadline = time.monotonic() + DEADLINE
        while _issued(postgres_url) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for command in commands:
            if command.poll() is None:
                command.kill()
                command.wait(timeout=10)
        for server in servers:
            server.stop()

    for command, (out, err) in zip(commands, outputs, strict=True):
        assert command.returncode == 0, err
        assert "Traceback" not in out + err
    for server in servers:
        assert "Traceback" not in server.log_text(), server.log_text()[-3000:]

    issued = [
        (f"c{n}", invoice.period_start, invoice.number)
        for n in range(CUSTOMERS)
        for invoice in figures(postgres_url, f"c{n}", as_of=datetime(2026, 4, 10, tzinfo=UTC))
    ]
    assert sorted(number or 0 for _, _, number in issued) == list(range(1, expected + 1))
    assert sorted((customer, start) for customer, start, _ in issued) == sorted(
        (f"c{n}", datetime(2025, month, 1, tzinfo=UTC))
        for n in range(CUSTOMERS)
        for month in range(1, MONTHS + 1)
    )
