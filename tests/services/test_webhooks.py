"""Webhook events written by the use cases, and their delivery by the sender, on SQLite and
PostgreSQL. ``calls`` costs 1.00 a call; a real receiver on 127.0.0.1 checks every signature
with the Standard Webhooks library."""

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from meterbill.cli.webhook_sender import SenderOptions, WebhookSender, parse_schedule
from meterbill.core.errors import Conflict, InvalidRequest, NotFound
from meterbill.db.database import Database
from meterbill.db.models import OutboxMessage, WebhookDeliveryRow
from meterbill.services import webhooks
from meterbill.services.invoicing import (
    issue_credit_note,
    record_payment,
    resolve_invoice,
    void_invoice,
)
from tests.services.support import World, call, open_world, setup
from tests.webhook_receiver import receiver

JAN = "2026-01-01T00:00:00Z"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


DOCUMENT = setup(
    [
        {"id": "acme", "name": "Acme", "subscriptions": [{"plan": "basic", "starts_at": JAN}]},
        {"id": "idle", "name": "Idle", "subscriptions": [{"plan": "basic", "starts_at": JAN}]},
    ]
)


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    with open_world(db_url, DOCUMENT, now=at("2026-01-01T00:00:00")) as opened:
        yield opened


def messages(database: Database) -> list[tuple[str, dict[str, Any]]]:
    with database.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.seq))
        return [(row.event_type, orjson.loads(row.payload)) for row in rows]


def deliveries(database: Database) -> list[tuple[str, str, str]]:
    """(endpoint id, event type, status) of every delivery."""
    with database.transaction() as session:
        rows = session.execute(
            select(
                WebhookDeliveryRow.endpoint_id, OutboxMessage.event_type, WebhookDeliveryRow.status
            )
            .join(OutboxMessage, OutboxMessage.seq == WebhookDeliveryRow.message_seq)
            .order_by(WebhookDeliveryRow.id)
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def add_endpoint(database: Database, url: str, *types: str) -> tuple[str, str]:
    with database.transaction() as session:
        view, secret = webhooks.create_endpoint(
            session, url=url, event_types=types, now=at("2026-01-01T00:00:00")
        )
    return view.id, secret


def test_invoicing_writes_its_events_with_the_change(world: World) -> None:
    database = world.database
    everything, _ = add_endpoint(database, "https://example.com/all")
    paid_only, _ = add_endpoint(database, "https://example.com/paid", "invoice.paid")
    world.ingest([call(f"j{i}", "2026-01-10T00:00:00Z") for i in range(3)], now=at("2026-01-10"))
    world.ingest([call(f"f{i}", "2026-02-10T00:00:00Z") for i in range(2)], now=at("2026-02-10"))
    world.close(at("2026-02-02T00:00:00"))  # January: acme #1 (3.00), idle #2 (0.00, paid)
    with database.transaction() as session:
        record_payment(
            session, resolve_invoice(session, "1"), amount=D("3.00"), now=at("2026-02-05")
        )
    world.close(at("2026-03-02T00:00:00"))  # February: acme #3 (2.00), idle #4 (0.00)
    with database.transaction() as session:
        void_invoice(session, resolve_invoice(session, "3"), now=at("2026-03-03"))
    world.close(at("2026-03-04T00:00:00"))  # acme's February again: #5 replaces #3
    with database.transaction() as session:
        note = issue_credit_note(
            session,
            resolve_invoice(session, "5"),
            amount=D("2.00"),
            reason="goodwill",
            at=at("2026-03-05"),
            now=at("2026-03-05"),
        )
    assert note.number == 1

    found = messages(database)
    assert [(kind, body["type"]) for kind, body in found] == [(k, k) for k, _ in found]
    summary = [
        (kind, body["data"].get("invoice", body["data"].get("credit_note", {})).get("number"))
        for kind, body in found
    ]
    assert summary == [
        ("invoice.issued", 1),
        ("invoice.issued", 2),
        ("invoice.paid", 2),  # a total of zero is paid at issue
        ("invoice.paid", 1),
        ("invoice.issued", 3),
        ("invoice.issued", 4),
        ("invoice.paid", 4),
        ("invoice.voided", 3),
        ("invoice.issued", 5),
        ("invoice.replaced", 5),
        ("credit_note.created", 1),
        ("invoice.paid", 5),  # the credit note covered the amount due
    ]
    # Each message is stored with the customer it is about (invoice 2 and 4 are idle's).
    with database.transaction(read_only=True) as session:
        owners = list(
            session.scalars(select(OutboxMessage.customer_id).order_by(OutboxMessage.seq))
        )
    assert owners == ["acme", "idle", "idle", "acme", "acme", "idle", "idle"] + ["acme"] * 5
    issued = found[0][1]
    assert issued["timestamp"] == "2026-02-02T00:00:00Z"
    invoice = issued["data"]["invoice"]
    assert {k: invoice[k] for k in ("customer_id", "status", "currency", "period_start")} == {
        "customer_id": "acme",
        "status": "issued",
        "currency": "USD",
        "period_start": "2026-01-01T00:00:00Z",
    }
    assert (invoice["subtotal"], invoice["total"], invoice["amount_due"]) == (
        "3.00",
        "3.00",
        "3.00",
    )
    assert "lines" not in invoice
    assert found[3][1]["data"]["paid_via"] == "payment"
    assert found[3][1]["data"]["invoice"]["amount_due"] == "0.00"
    assert found[2][1]["data"]["paid_via"] == "zero_total"
    assert found[7][1]["data"]["invoice"]["status"] == "void"
    replaced = found[9][1]["data"]
    assert replaced["replaces"]["number"] == 3
    assert replaced["replaces"]["id"] == found[7][1]["data"]["invoice"]["id"]
    assert replaced["invoice"]["replaces"] == 3
    credit = found[10][1]["data"]["credit_note"]
    assert (credit["amount"], credit["off_due"], credit["granted"]) == ("2.00", "2.00", "0.00")
    assert found[11][1]["data"]["paid_via"] == "credit_note"

    sent = deliveries(database)
    assert [kind for endpoint, kind, _ in sent if endpoint == everything] == [k for k, _ in found]
    assert [kind for endpoint, kind, _ in sent if endpoint == paid_only] == ["invoice.paid"] * 4
    assert {status for _, _, status in sent} == {"pending"}


def test_a_batch_with_rejects_writes_one_summary_and_a_clean_batch_nothing(world: World) -> None:
    database = world.database
    world.ingest([call("ok1", "2026-01-10T00:00:00Z")], now=at("2026-01-10"))
    assert messages(database) == []
    batch: list[dict[str, object]] = [
        call("ok2", "2026-01-10T00:00:00Z"),
        call("ok2", "2026-01-10T00:00:00Z"),  # a duplicate within the batch
        call("bad1", "2026-01-10T00:00:00Z", customer="nobody"),
        {"transaction_id": "bad2", "customer_id": "acme"},
    ]
    assert [s.value for s in world.ingest(batch, now=at("2026-01-10"))] == [
        "accepted",
        "duplicate",
        "rejected",
        "rejected",
    ]
    [(kind, body)] = messages(database)
    assert kind == "events.rejected"
    data = body["data"]
    assert (data["accepted"], data["duplicate"], data["rejected"]) == (1, 1, 2)
    assert [(r["index"], r["transaction_id"]) for r in data["rejects"]] == [
        (2, "bad1"),
        (3, "bad2"),
    ]
    assert data["rejects"][0]["reason"] == "unknown customer 'nobody'"


def test_an_endpoint_gets_the_events_after_it_was_added_only(world: World) -> None:
    database = world.database
    world.ingest([call("x", "2026-01-10T00:00:00Z", customer="nobody")], now=at("2026-01-10"))
    endpoint, _ = add_endpoint(database, "http://127.0.0.1:9/late")
    world.ingest([call("y", "2026-01-10T00:00:00Z", customer="nobody")], now=at("2026-01-10"))
    assert len(messages(database)) == 2
    assert deliveries(database) == [(endpoint, "events.rejected", "pending")]


@pytest.mark.parametrize(
    ("url", "types", "message"),
    [
        ("ftp://example.com/x", (), "http:// or https://"),
        ("example.com/x", (), "http:// or https://"),
        ("https:///nohost", (), "no host"),
        ("https://example.com:99999/", (), "not a valid URL"),
        ("https://exa mple.com/", (), "spaces"),
        ("https://example.com/", ("invoice.deleted",), "unknown event type 'invoice.deleted'"),
    ],
)
def test_bad_urls_and_event_types_are_refused(
    world: World, url: str, types: tuple[str, ...], message: str
) -> None:
    with world.database.transaction() as session, pytest.raises(InvalidRequest, match=message):
        webhooks.create_endpoint(session, url=url, event_types=types, now=at("2026-01-01"))


class Clock:
    """A clock the test moves by hand, starting at the real time (receivers check the
    ``webhook-timestamp`` against theirs, within 5 minutes)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def sender(database: Database, clock: Clock, schedule: str = "10s,20s,40s") -> WebhookSender:
    options = SenderOptions(poll=0.05, timeout=5, schedule=parse_schedule(schedule))
    return WebhookSender(database, options, clock=clock, rng=random.Random(7))


def one_rejected_batch(world: World, txid: str = "r") -> None:
    world.ingest([call(txid, "2026-01-10T00:00:00Z", customer="nobody")], now=at("2026-01-10"))


def test_the_sender_delivers_signed_messages_once(world: World) -> None:
    clock = Clock()
    with receiver() as hook:
        endpoint, secret = add_endpoint(world.database, hook.url)
        hook.secrets.append(secret)
        one_rejected_batch(world, "r1")
        one_rejected_batch(world, "r2")
        worker = sender(world.database, clock)
        try:
            assert worker.run_once() == 2
            assert worker.run_once() == 0  # delivered: nothing is due any more
        finally:
            worker.close()
    assert len(hook.received) == 2
    for item in hook.received:
        assert item.verified_with == (0,)
        assert item.body is not None
        assert item.body["type"] == "events.rejected"
    ids = [body["data"]["rejects"][0]["transaction_id"] for _, body in messages(world.database)]
    assert ids == ["r1", "r2"]
    assert [status for *_, status in deliveries(world.database)] == ["delivered", "delivered"]
    with world.database.transaction() as session:
        attempts = webhooks.endpoint_attempts(session, endpoint)
    assert [(a.message_id, a.attempt, a.status_code, a.outcome) for a in attempts] == [
        (hook.received[1].webhook_id, 1, 200, "delivered"),
        (hook.received[0].webhook_id, 1, 200, "delivered"),
    ]


def test_a_failing_receiver_gets_retries_with_growing_delays_then_a_resend(world: World) -> None:
    clock = Clock()
    answers = {"code": 500}
    with receiver() as hook:
        hook.status = lambda _: answers["code"]
        endpoint, secret = add_endpoint(world.database, hook.url)
        hook.secrets.append(secret)
        one_rejected_batch(world)
        worker = sender(world.database, clock)
        started = clock.now
        due: list[datetime] = [started]
        try:
            for _ in range(3):
                assert worker.run_once() == 1
                with world.database.transaction() as session:
                    [row] = session.scalars(select(WebhookDeliveryRow)).all()
                assert row.status == "pending"
                assert row.next_attempt_at is not None
                clock.now = row.next_attempt_at - timedelta(seconds=1)
                assert worker.run_once() == 0  # not due yet
                clock.now = row.next_attempt_at
                due.append(row.next_attempt_at)
            assert worker.run_once() == 1  # the 4th attempt: the schedule has run out
            assert [status for *_, status in deliveries(world.database)] == ["failed"]
            assert worker.run_once() == 0
            gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(due)]
            assert 9 <= gaps[0] <= 11, gaps
            assert 18 <= gaps[1] <= 22, gaps
            assert 36 <= gaps[2] <= 44, gaps
            assert gaps[0] < gaps[1] < gaps[2]

            message = hook.received[0].webhook_id
            with world.database.transaction() as session:
                again = webhooks.resend(session, endpoint, message, now=clock.now)
            assert (again.status, again.attempts, again.last_status_code) == ("pending", 4, 500)
            with world.database.transaction() as session, pytest.raises(Conflict):
                webhooks.resend(session, endpoint, message, now=clock.now)
            answers["code"] = 204
            assert worker.run_once() == 1
        finally:
            worker.close()
    assert [item.webhook_id for item in hook.received] == [message] * 5
    assert all(item.verified_with == (0,) for item in hook.received)
    with world.database.transaction() as session:
        attempts = webhooks.endpoint_attempts(session, endpoint)
    assert [(a.attempt, a.status_code, a.outcome) for a in attempts] == [
        (5, 204, "delivered"),
        (4, 500, "failed"),
        (3, 500, "retrying"),
        (2, 500, "retrying"),
        (1, 500, "retrying"),
    ]
    assert attempts[1].error == "HTTP 500: ok"
    with world.database.transaction() as session, pytest.raises(NotFound):
        webhooks.resend(session, endpoint, "msg_unknown", now=clock.now)


def test_an_unreachable_receiver_is_an_error_not_a_crash(world: World) -> None:
    clock = Clock()
    endpoint, _ = add_endpoint(world.database, "http://127.0.0.1:9/nothing-listens")
    one_rejected_batch(world)
    worker = sender(world.database, clock)
    try:
        assert worker.run_once() == 1
    finally:
        worker.close()
    with world.database.transaction() as session:
        [attempt] = webhooks.endpoint_attempts(session, endpoint)
    assert attempt.status_code is None
    assert attempt.outcome == "retrying"
    assert attempt.error is not None
    assert "ConnectError" in attempt.error


def test_after_a_rotation_both_secrets_sign_for_a_day(world: World) -> None:
    clock = Clock()
    with receiver() as hook:
        endpoint, old = add_endpoint(world.database, hook.url)
        with world.database.transaction() as session:
            view, new = webhooks.rotate_secret(session, endpoint, now=clock.now)
        assert new != old
        assert new.startswith("whsec_")
        assert view.previous_secret_until == clock.now + timedelta(hours=24)
        hook.secrets.extend([old, new])
        one_rejected_batch(world, "a")
        worker = sender(world.database, clock)
        try:
            worker.run_once()
        finally:
            worker.close()
    [first] = hook.received
    assert first.verified_with == (0, 1)
    assert len(first.signature.split(" ")) == 2
    one_rejected_batch(world, "b")
    with world.database.transaction() as session:  # a day later the old secret signs no more
        [claimed] = webhooks.claim_due(
            session,
            now=clock.now + timedelta(hours=24),
            lease=timedelta(seconds=5),
            limit=5,
            owner="x",
        )
    assert claimed.secrets == (new,)


def test_one_lease_at_a_time_and_a_lost_lease_comes_back(world: World) -> None:
    now = at("2026-01-10T00:00:00")
    one_rejected_batch(world)
    lease = timedelta(seconds=30)
    with world.database.transaction() as session:
        first = webhooks.claim_due(session, now=now, lease=lease, limit=10, owner="a")
    assert first == []  # no endpoint: nothing to deliver
    add_endpoint(world.database, "http://127.0.0.1:9/x")
    one_rejected_batch(world, "r2")
    with world.database.transaction() as session:
        first = webhooks.claim_due(session, now=now, lease=lease, limit=10, owner="a")
    with world.database.transaction() as session:
        second = webhooks.claim_due(session, now=now, lease=lease, limit=10, owner="b")
    assert len(first) == 1
    assert second == []
    later = now + lease  # "a" died holding it: the lease runs out
    with world.database.transaction() as session:
        third = webhooks.claim_due(session, now=later, lease=lease, limit=10, owner="b")
    assert [c.message_id for c in third] == [c.message_id for c in first]


def test_deleting_an_endpoint_deletes_its_deliveries(world: World) -> None:
    endpoint, _ = add_endpoint(world.database, "http://127.0.0.1:9/x")
    one_rejected_batch(world)
    with world.database.transaction() as session:
        webhooks.delete_endpoint(session, endpoint)
    assert deliveries(world.database) == []
    assert len(messages(world.database)) == 1  # the outbox keeps the event
    with world.database.transaction() as session, pytest.raises(NotFound):
        webhooks.delete_endpoint(session, endpoint)


def test_retry_schedules_parse() -> None:
    assert parse_schedule("5s, 5m,30m,2h,0.5,1d,250ms") == (
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(seconds=0.5),
        timedelta(days=1),
        timedelta(milliseconds=250),
    )
    with pytest.raises(ValueError, match="delay 2 'soon'"):
        parse_schedule("5s,soon")
