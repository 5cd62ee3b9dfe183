"""Issue 7 (SQLite): a read does not take the write lock.

Before: every SQLite transaction began ``BEGIN IMMEDIATE``, reads included, so while one
writer held the lock every ``GET`` queued behind it (up to the 30 s busy timeout, then a
500). Now ``GET`` requests run in read transactions (``BEGIN DEFERRED``; WAL lets them read
beside the writer). On PostgreSQL reads never waited; the test runs there too.
"""

import threading

import httpx
from fastapi import FastAPI

from meterbill.db.database import Database
from meterbill.services.catalog import load_customer
from tests.api.support import ALPHA, FIXED_TEXT, Keys, TestClient

BOUND = 10.0  # seconds; the old behaviour waited 30 s for the lock


def test_reads_are_answered_while_a_writer_holds_its_transaction(
    app: FastAPI, database: Database, keys: Keys, client: TestClient
) -> None:
    writing = threading.Event()
    finish = threading.Event()

    def writer() -> None:
        with database.transaction() as session:  # BEGIN IMMEDIATE on SQLite
            load_customer(session, ALPHA)
            writing.set()
            finish.wait(BOUND * 2)

    holder = threading.Thread(target=writer)
    holder.start()
    answers: list[httpx.Response] = []
    try:
        assert writing.wait(BOUND)

        def read() -> None:
            path = f"/v1/customers/{ALPHA}/invoices?as_of={FIXED_TEXT}"
            answers.append(client.get(path, headers=keys.admin))
            answers.append(client.get(f"/dashboard/{ALPHA}", headers=keys.alpha))

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(BOUND)
        assert not reader.is_alive(), "the reads waited for the writer's lock"
    finally:
        finish.set()
        holder.join(BOUND * 3)
    assert [a.status_code for a in answers] == [200, 200], [a.text[:200] for a in answers]
