"""``kill -9`` of ``meterbill serve`` while two clients ingest: nothing lost, nothing doubled.

Two client threads post batches of 100 events to ``/v1/events`` (some events are sent by
both). The server process is SIGKILLed three times mid-stream and started again on the same
database and port; the clients retry every failed batch with the same body (same
transaction ids) until it is answered. Afterwards every event sent is stored exactly once,
and every invoice equals the one a fresh database computes from the same events ingested
once, in process: a batch is all or nothing, events and buckets alike.
"""

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from bench.server import ServeProcess
from sqlalchemy import text

from meterbill.db.database import Database
from meterbill.services.catalog import load_catalog
from meterbill.services.ingest import Status, ingest_batch
from tests.reliability.support import (
    NOW,
    Retrying,
    event,
    figures,
    prepare,
    setup_document,
)

CUSTOMERS = 3
BATCH = 100
BATCHES_PER_CLIENT = 30
KILL_AT = (8, 20, 32)  # batches answered (of 60) when the server is killed
SHARED = 300  # events of client 0 that client 1 sends too
DEADLINE = 240.0  # seconds for the whole ingest, kills and restarts included
MINUTES = 89 * 24 * 60  # 2026-01-01 to 2026-03-31


def client_events(client: int) -> list[dict[str, object]]:
    """Client 0 sends 3,000 events of its own; client 1 sends 2,700 of its own with client
    0's first 300 interleaved (one in ten), so both clients race on the same ids."""
    count = BATCH * BATCHES_PER_CLIENT - (SHARED if client == 1 else 0)
    own = [
        event(
            f"k{client}-{i}",
            f"c{i % CUSTOMERS}",
            minute=(i * 7919 + client * 13) % MINUTES,
            n=1 + i % 7,
        )
        for i in range(count)
    ]
    if client == 0:
        return own
    shared = client_events(0)[:SHARED]
    mixed: list[dict[str, object]] = []
    for index, item in enumerate(shared):
        mixed.append(item)
        mixed.extend(own[index * 9 : index * 9 + 9])
    assert len(mixed) == BATCH * BATCHES_PER_CLIENT
    return mixed


def _threads(work: list[Callable[[], None]]) -> tuple[list[threading.Thread], list[BaseException]]:
    errors: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:  # reported by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,), daemon=True) for job in work]
    for thread in threads:
        thread.start()
    return threads, errors


def units(item: dict[str, object]) -> Decimal:
    properties = item["properties"]
    assert isinstance(properties, dict)
    return Decimal(properties["n"])


def test_kill_9_during_ingest_loses_and_doubles_nothing(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    secret = prepare(db_url, setup_document(CUSTOMERS))
    sent = [client_events(0), client_events(1)]
    server = ServeProcess(db_url, log=log)
    done = 0
    lock = threading.Lock()
    deadline = time.monotonic() + DEADLINE
    clients = [Retrying(server.base_url, secret, deadline=deadline) for _ in sent]

    def client(index: int) -> Callable[[], None]:
        def work() -> None:
            nonlocal done
            events = sent[index]
            for start in range(0, len(events), BATCH):
                clients[index].post(events[start : start + BATCH])
                with lock:
                    done += 1

        return work

    kills = 0
    try:
        server.start()
        threads, errors = _threads([client(0), client(1)])
        for threshold in KILL_AT:
            while done < threshold and not errors and time.monotonic() < deadline:
                time.sleep(0.005)
            if errors or time.monotonic() >= deadline:
                break
            server.restart_after_kill()
            kills += 1
        for thread in threads:
            thread.join(timeout=max(deadline - time.monotonic(), 1))
        assert not any(thread.is_alive() for thread in threads), "clients did not finish"
        assert errors == []
    finally:
        for retrying in clients:
            retrying.close()
        server.stop()
    assert kills == len(KILL_AT)
    assert done == 2 * BATCHES_PER_CLIENT
    # The kills hit the clients: some request failed and was sent again.
    assert sum(retrying.failures for retrying in clients) >= 1

    distinct = {(e["customer_id"], e["transaction_id"]): e for batch in sent for e in batch}
    assert len(distinct) == 2 * BATCH * BATCHES_PER_CLIENT - SHARED

    # 0 lost, 0 doubled: the stored events are exactly the distinct events sent.
    database = Database(db_url)
    try:
        with database.transaction() as session:
            rows = session.execute(text("SELECT customer_id, transaction_id FROM events"))
            stored = [(row[0], row[1]) for row in rows]
    finally:
        database.dispose()
    assert len(stored) == len(distinct)
    assert set(stored) == set(distinct)

    # The same events ingested once into a fresh database make the same invoices.
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    prepare(reference, setup_document(CUSTOMERS))
    once = Database(reference)
    try:
        items = list(distinct.values())
        for start in range(0, len(items), 1000):
            with once.transaction() as session:
                outcomes = ingest_batch(
                    session, load_catalog(session), items[start : start + 1000], now=NOW
                )
            assert all(o.status is Status.ACCEPTED for o in outcomes)
    finally:
        once.dispose()
    for n in range(CUSTOMERS):
        customer = f"c{n}"
        got = figures(db_url, customer, as_of=NOW)
        assert got == figures(reference, customer, as_of=NOW)
        # And by hand: every unit of n sent for the customer is billed once at 0.01.
        sent_units = sum((units(e) for e in items if e["customer_id"] == customer), Decimal(0))
        assert sum((line[2] for f in got for line in f.lines), Decimal(0)) == sent_units
        assert sum((f.total for f in got), Decimal(0)) == sent_units * Decimal("0.01")
    assert "Traceback" not in log.read_text()
