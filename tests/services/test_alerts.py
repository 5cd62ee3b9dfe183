"""Spend alerts fire once per period when crossed, on SQLite and PostgreSQL.

Plan ``basic`` bills ``calls`` at 1.00 a call, monthly. Customer ``acme`` watches its draft
total (above 5) and the ``calls`` amount (above 3); ``bravo`` has a free grant of 10.00 and
watches its credit balance (below 4). Every figure below is counted by hand from the calls.
"""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from sqlalchemy import select

from meterbill.core.errors import InvalidSetup
from meterbill.db.database import Database
from meterbill.db.models import AlertFiring, OutboxMessage
from meterbill.services import alerts
from meterbill.services.catalog import apply_setup
from meterbill.services.ingest import rebuild_meter
from tests.services.support import World, call, open_world, setup

START = "2026-01-01T00:00:00Z"
SETUP_AT = datetime(2026, 1, 1, tzinfo=UTC)
ACME: dict[str, object] = {
    "id": "acme",
    "name": "Acme",
    "subscriptions": [{"plan": "basic", "starts_at": START}],
    "alerts": [
        {"key": "total-5", "kind": "draft_total_above", "threshold": "5"},
        {"key": "calls-3", "kind": "product_amount_above", "threshold": "3", "product": "calls"},
    ],
}
BRAVO: dict[str, object] = {
    "id": "bravo",
    "name": "Bravo",
    "subscriptions": [{"plan": "basic", "starts_at": START}],
    "credits": [{"key": "welcome", "kind": "free", "amount": "10.00", "starts_at": START}],
    "alerts": [{"key": "low", "kind": "credit_balance_below", "threshold": "4"}],
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def calls(world: World, customer: str, count: int, when: str, prefix: str) -> None:
    items = [call(f"{prefix}-{n}", when, customer) for n in range(count)]
    world.ingest(items, now=at(when))


def evaluate(world: World, customer: str, now: str) -> list[tuple[str, str, str]]:
    """Evaluate and record; what fired as (alert key, period start month, value)."""
    with world.database.transaction() as session:
        fired = alerts.evaluate(session, customer, now=at(now))
    return [
        (f.crossing.alert.key, f"{f.crossing.ref.period.start:%Y-%m}", str(f.crossing.value))
        for f in fired
    ]


def messages(database: Database) -> list[dict[str, object]]:
    with database.transaction(read_only=True) as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.seq))
        return [orjson.loads(row.payload) for row in rows]


def firing_count(database: Database) -> int:
    with database.transaction(read_only=True) as session:
        return len(list(session.scalars(select(AlertFiring))))


def test_each_alert_fires_once_per_period_when_crossed(db_url: str) -> None:
    with open_world(db_url, setup([ACME]), now=SETUP_AT) as world:
        # 4 calls: calls amount 4.00 > 3 fires; total 4.00 is not above 5.
        calls(world, "acme", 4, "2026-01-10T00:00:00Z", "a")
        assert evaluate(world, "acme", "2026-01-10T00:01:00Z") == [("calls-3", "2026-01", "4.00")]
        # 5 calls: total 5.00 is at the threshold, not above it; calls-3 already fired.
        calls(world, "acme", 1, "2026-01-11T00:00:00Z", "b")
        assert evaluate(world, "acme", "2026-01-11T00:01:00Z") == []
        # 6 calls: total 6.00 > 5 fires.
        calls(world, "acme", 1, "2026-01-12T00:00:00Z", "c")
        assert evaluate(world, "acme", "2026-01-12T00:01:00Z") == [("total-5", "2026-01", "6.00")]
        # Crossed further: nothing fires again in January.
        calls(world, "acme", 10, "2026-01-13T00:00:00Z", "d")
        assert evaluate(world, "acme", "2026-01-13T00:01:00Z") == []
        # February starts at zero: nothing until it crosses again, then both fire once more.
        assert evaluate(world, "acme", "2026-02-01T00:01:00Z") == []
        calls(world, "acme", 7, "2026-02-03T00:00:00Z", "e")
        assert sorted(evaluate(world, "acme", "2026-02-03T00:01:00Z")) == [
            ("calls-3", "2026-02", "7.00"),
            ("total-5", "2026-02", "7.00"),
        ]
        assert evaluate(world, "acme", "2026-02-04T00:00:00Z") == []
        sent = messages(world.database)
        assert firing_count(world.database) == 4
        with world.database.transaction(read_only=True) as session:
            owners = list(session.scalars(select(OutboxMessage.customer_id)))
        assert owners == ["acme"] * 4
    assert [m["type"] for m in sent] == ["alert.triggered"] * 4
    assert sent[1] == {
        "type": "alert.triggered",
        "timestamp": "2026-01-12T00:01:00Z",
        "data": {
            "alert_key": "total-5",
            "kind": "draft_total_above",
            "customer_id": "acme",
            "currency": "USD",
            "threshold": "5.00",
            "value": "6.00",
            "plan": "basic",
            "period_start": "2026-01-01T00:00:00Z",
            "period_end": "2026-02-01T00:00:00Z",
            "invoice_id": sent[1]["data"]["invoice_id"],  # type: ignore[index]
            "at": "2026-01-12T00:01:00Z",
        },
    }
    first = sent[0]["data"]
    assert isinstance(first, dict)
    assert (first["kind"], first["product"], first["value"]) == (
        "product_amount_above",
        "calls",
        "4.00",
    )


def test_the_credit_balance_falling_below_fires(db_url: str) -> None:
    with open_world(db_url, setup([BRAVO]), now=SETUP_AT) as world:
        # 5 calls: the draft draws 5.00 of the 10.00 grant; 5.00 left is not below 4.
        calls(world, "bravo", 5, "2026-01-10T00:00:00Z", "a")
        assert evaluate(world, "bravo", "2026-01-10T00:01:00Z") == []
        # 7 calls: 3.00 left, below 4.
        calls(world, "bravo", 2, "2026-01-11T00:00:00Z", "b")
        assert evaluate(world, "bravo", "2026-01-11T00:01:00Z") == [("low", "2026-01", "3.00")]
        calls(world, "bravo", 2, "2026-01-12T00:00:00Z", "c")
        assert evaluate(world, "bravo", "2026-01-12T00:01:00Z") == []
        # After January is issued (9.00 used), 1.00 is left: February fires again at once.
        world.close(at("2026-02-02T00:00:00Z"))
        assert evaluate(world, "bravo", "2026-02-02T00:01:00Z") == [("low", "2026-02", "1.00")]
        with world.database.transaction(read_only=True) as session:
            statuses = alerts.alert_statuses(session, "bravo", at=at("2026-02-02T00:02:00Z"))
    assert [(s.alert.key, s.value, s.fired_value) for s in statuses] == [
        ("low", Decimal("1.00"), Decimal("1.00"))
    ]


def test_racing_evaluators_record_one_firing(db_url: str) -> None:
    with open_world(db_url, setup([ACME]), now=SETUP_AT) as world:
        calls(world, "acme", 4, "2026-01-10T00:00:00Z", "a")
        now = at("2026-01-10T00:01:00Z")
        found = []
        for _ in range(2):  # both evaluators see the crossing before either records it
            with world.database.transaction(read_only=True) as session:
                found.append(alerts.crossings(session, "acme", now=now))
        assert [len(f) for f in found] == [1, 1]
        barrier = threading.Barrier(2)
        results: list[int] = []
        errors: list[BaseException] = []

        def race(crossings: list[alerts.Crossing]) -> None:
            try:
                barrier.wait(timeout=30)
                with world.database.transaction() as session:
                    results.append(len(alerts.record(session, crossings, now=now)))
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=race, args=(f,)) for f in found]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert sorted(results) == [0, 1]
        assert firing_count(world.database) == 1
        assert len(messages(world.database)) == 1


def test_a_product_alert_watches_only_plans_with_the_product(db_url: str) -> None:
    customer: dict[str, object] = {
        "id": "duo",
        "name": "Duo",
        "subscriptions": [
            {"plan": "basic", "starts_at": START},
            {"plan": "extra", "starts_at": START},
        ],
        "alerts": [
            {"key": "premium", "kind": "product_amount_above", "threshold": "15",
             "product": "premium"},
            {"key": "each", "kind": "draft_total_above", "threshold": "1.50"},
        ],
    }  # fmt: skip
    with open_world(db_url, setup([customer]), now=SETUP_AT) as world:
        # 2 calls: basic's draft 2.00, extra's draft (premium at 10.00) 20.00.
        calls(world, "duo", 2, "2026-01-10T00:00:00Z", "a")
        fired = evaluate(world, "duo", "2026-01-10T00:01:00Z")
        with world.database.transaction(read_only=True) as session:
            rows = session.scalars(select(AlertFiring).order_by(AlertFiring.id)).all()
            pairs = sorted((row.alert_key, row.plan_key, row.value) for row in rows)
    assert sorted(fired) == [
        ("each", "2026-01", "2.00"),
        ("each", "2026-01", "20.00"),
        ("premium", "2026-01", "20.00"),
    ]
    assert pairs == [
        ("each", "basic", Decimal("2.00")),
        ("each", "extra", Decimal("20.00")),
        ("premium", "extra", Decimal("20.00")),
    ]


def test_a_setup_alert_on_an_unknown_product_names_its_path(db_url: str) -> None:
    customer: dict[str, object] = {
        "id": "acme",
        "name": "Acme",
        "alerts": [{"key": "x", "kind": "product_amount_above", "threshold": "1",
                    "product": "nothing"}],
    }  # fmt: skip
    database = Database(db_url)
    try:
        with database.transaction() as session, pytest.raises(InvalidSetup) as caught:
            apply_setup(session, setup([customer]), now=SETUP_AT, rebuild=rebuild_meter)
    finally:
        database.dispose()
    assert caught.value.path == "customers[0].alerts[0].product"
    assert "unknown product 'nothing'" in str(caught.value)
