"""Webhooks delivered by real ``meterbill serve`` processes to a real receiver on 127.0.0.1
(SQLite and PostgreSQL); every signature is checked with the Standard Webhooks library.

* ``kill -9`` of ``serve`` while a delivery is in flight and more messages are committed but
  not yet sent: after a restart every message arrives, the one in flight again with the
  same ``webhook-id`` (at least once);
* a receiver answering 500 sees the retries with growing delays (a small schedule), then the
  delivery fails, and a re-send through the API delivers it;
* two ``serve`` processes on one database deliver each message exactly once to a healthy
  receiver.

Every wait has a deadline; the timing assertions compare delays that differ threefold.
"""

import itertools
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from bench.server import ServeProcess
from sqlalchemy import select

from meterbill.db.database import Database
from meterbill.db.models import OutboxMessage, WebhookDeliveryRow
from meterbill.services import webhooks
from meterbill.services.catalog import load_catalog
from meterbill.services.ingest import ingest_batch
from tests.reliability.support import NOW, bearer, prepare, setup_document
from tests.webhook_receiver import Receiver, receiver

DEADLINE = 90.0


def rejected(txid: str) -> list[dict[str, object]]:
    """A batch with one event of an unknown customer: one ``events.rejected`` message."""
    return [
        {
            "transaction_id": txid,
            "customer_id": "nobody",
            "event_type": "call",
            "timestamp": "2026-01-05T00:00:00Z",
            "properties": {"n": 1, "region": "eu"},
        }
    ]


def endpoint(url: str, hook: Receiver) -> str:
    database = Database(url)
    try:
        with database.transaction() as session:
            view, secret = webhooks.create_endpoint(session, url=hook.url, now=NOW)
    finally:
        database.dispose()
    hook.secrets.append(secret)
    return view.id


def outbox(url: str) -> tuple[list[str], list[str]]:
    """Every message id in the outbox, and the status of every delivery."""
    database = Database(url)
    try:
        with database.transaction() as session:
            ids = list(session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.seq)))
            statuses = list(session.scalars(select(WebhookDeliveryRow.status)))
    finally:
        database.dispose()
    return ids, statuses


def post(server: ServeProcess, secret: str, batch: list[dict[str, object]]) -> None:
    response = httpx.post(
        f"{server.base_url}/v1/events", json=batch, headers=bearer(secret), timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == 1


def options(poll: str = "0.1", schedule: str = "0.5s,1s,2s,4s,8s") -> list[str]:
    return [
        "--webhook-poll",
        poll,
        "--webhook-timeout",
        "1",
        "--webhook-retry-schedule",
        schedule,
    ]


def test_kill_9_between_commit_and_delivery_still_delivers_every_message(
    db_url: str, tmp_path: Path
) -> None:
    secret = prepare(db_url, setup_document(1))
    with receiver() as hook:
        endpoint(db_url, hook)
        hook.held = 1  # the first delivery stays in flight until released
        server = ServeProcess(db_url, log=tmp_path / "serve.log", options=options())
        try:
            server.start()
            for n in range(3):
                post(server, secret, rejected(f"a{n}"))
            assert hook.holding.wait(DEADLINE)
            server.kill()
            # Committed while no sender runs at all.
            database = Database(db_url)
            try:
                with database.transaction() as session:
                    ingest_batch(session, load_catalog(session), rejected("b0"), now=NOW)
            finally:
                database.dispose()
            hook.release.set()
            in_flight = hook.ids()[0]
            server.start()
            ids, _ = outbox(db_url)
            assert len(ids) == 4
            hook.wait_for(
                lambda got: (
                    {item.webhook_id for item in got} >= set(ids)
                    and sum(item.webhook_id == in_flight for item in got) >= 2
                ),
                timeout=DEADLINE,
            )
            post(server, secret, rejected("c0"))  # and the restarted server goes on
            ids, _ = outbox(db_url)
            hook.wait_for(lambda got: {item.webhook_id for item in got} >= set(ids), timeout=60)
        finally:
            server.stop()
        assert "Traceback" not in server.log_text(), server.log_text()[-3000:]
    assert all(item.verified_with == (0,) for item in hook.received)
    assert {item.webhook_id for item in hook.received} == set(ids)
    _, statuses = outbox(db_url)
    assert statuses == ["delivered"] * 5


def test_a_failing_receiver_sees_growing_delays_then_a_resend_delivers(
    db_url: str, tmp_path: Path
) -> None:
    secret = prepare(db_url, setup_document(1))
    answer = {"code": 500}
    with receiver() as hook:
        hook.status = lambda _: answer["code"]
        endpoint_id = endpoint(db_url, hook)
        server = ServeProcess(
            db_url, log=tmp_path / "serve.log", options=options("0.05", "0.3s,0.9s,2.7s")
        )
        try:
            server.start()
            post(server, secret, rejected("x"))
            hook.wait_for(lambda got: len(got) == 4, timeout=DEADLINE)
            [message], _ = outbox(db_url)
            listed = httpx.get(
                f"{server.base_url}/v1/webhook_endpoints/{endpoint_id}/deliveries",
                headers=bearer(secret),
            ).json()["data"]
            assert [(a["attempt"], a["status_code"], a["outcome"]) for a in listed] == [
                (4, 500, "failed"),
                (3, 500, "retrying"),
                (2, 500, "retrying"),
                (1, 500, "retrying"),
            ]
            answer["code"] = 200
            resent = httpx.post(
                f"{server.base_url}/v1/webhook_endpoints/{endpoint_id}/deliveries/{message}/resend",
                headers=bearer(secret),
            )
            assert resent.status_code == 202, resent.text
            hook.wait_for(lambda got: len(got) == 5, timeout=DEADLINE)
        finally:
            server.stop()
    arrivals = [item.arrived for item in hook.received]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals[:4])]
    assert gaps[0] < gaps[1] < gaps[2], gaps
    assert gaps[0] >= 0.27
    assert [item.webhook_id for item in hook.received] == [message] * 5
    assert all(item.verified_with == (0,) for item in hook.received)
    _, statuses = outbox(db_url)
    assert statuses == ["delivered"]


@pytest.mark.parametrize("servers", [2])
def test_two_servers_deliver_each_message_once(db_url: str, tmp_path: Path, servers: int) -> None:
    secret = prepare(db_url, setup_document(1))
    batches = 30
    with receiver() as hook:
        endpoint(db_url, hook)
        processes = [
            ServeProcess(db_url, log=tmp_path / f"serve-{n}.log", options=options("0.02"))
            for n in range(servers)
        ]
        try:
            for process in processes:
                process.start()
            for n in range(batches):
                post(processes[n % servers], secret, rejected(f"t{n}"))
            ids, _ = outbox(db_url)
            assert len(ids) == batches
            hook.wait_for(lambda got: {item.webhook_id for item in got} >= set(ids), timeout=60)
            # A sender records an attempt after the receiver answered it: wait for the last
            # record rather than read the statuses the moment the last message arrived.
            deadline = time.monotonic() + 30
            _, statuses = outbox(db_url)
            while statuses != ["delivered"] * batches and time.monotonic() < deadline:
                time.sleep(0.1)
                _, statuses = outbox(db_url)
        finally:
            for process in processes:
                process.stop()
        for process in processes:
            assert "Traceback" not in process.log_text(), process.log_text()[-3000:]
    counts = Counter(item.webhook_id for item in hook.received)
    assert counts == dict.fromkeys(ids, 1)
    assert statuses == ["delivered"] * batches
    assert all(item.verified_with == (0,) for item in hook.received)
