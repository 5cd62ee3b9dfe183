"""The spend-alert evaluator of ``meterbill serve`` (on SQLite and PostgreSQL): a pass looks
at the customers with new events, a sweep at every customer, and racing evaluators fire once.

``acme`` and ``bravo`` are the customers of tests/services/test_alerts.py; here bravo's
grant of 10.00 expires on 2026-01-20, which no event announces: only a sweep sees it.
"""

from datetime import UTC, datetime

from meterbill.cli.alerting import AlertEvaluator
from tests.services.support import call, open_world, setup
from tests.services.test_alerts import ACME, BRAVO, at, firing_count, messages

SETUP_AT = datetime(2026, 1, 1, tzinfo=UTC)


def fired(evaluator: AlertEvaluator, now: str) -> list[tuple[str, str, str]]:
    return sorted(
        (f.crossing.customer.id, f.crossing.alert.key, str(f.crossing.value))
        for f in evaluator.run_pass(at(now))
    )


def test_passes_follow_new_events_and_sweeps_catch_the_rest(db_url: str) -> None:
    expiring = {
        **BRAVO,
        "credits": [
            {"key": "welcome", "kind": "free", "amount": "10.00",
             "starts_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-20T00:00:00Z"},
        ],
    }  # fmt: skip
    with open_world(db_url, setup([ACME, expiring]), now=SETUP_AT) as world:
        evaluator = AlertEvaluator(world.database, sweep_passes=3)
        assert fired(evaluator, "2026-01-10T00:00:00Z") == []  # a sweep: nothing crossed
        world.ingest(
            [call(f"a-{n}", "2026-01-10T00:00:00Z", "acme") for n in range(4)],
            now=at("2026-01-10T00:00:00Z"),
        )
        # acme has new events: its calls amount 4.00 is above 3.
        assert fired(evaluator, "2026-01-21T00:00:00Z") == [("acme", "calls-3", "4.00")]
        # bravo's grant expired, but no event of bravo's came: not looked at until a sweep.
        assert fired(evaluator, "2026-01-21T00:00:00Z") == []
        assert fired(evaluator, "2026-01-21T00:00:00Z") == [("bravo", "low", "0")]
        assert fired(evaluator, "2026-01-21T00:00:00Z") == []
        assert firing_count(world.database) == 2
        assert len(messages(world.database)) == 2


def test_two_evaluators_on_one_database_fire_once(db_url: str) -> None:
    with open_world(db_url, setup([ACME]), now=SETUP_AT) as world:
        first, second = AlertEvaluator(world.database), AlertEvaluator(world.database)
        world.ingest(
            [call(f"a-{n}", "2026-01-10T00:00:00Z", "acme") for n in range(6)],
            now=at("2026-01-10T00:00:00Z"),
        )
        assert fired(first, "2026-01-10T00:01:00Z") == [
            ("acme", "calls-3", "6.00"),
            ("acme", "total-5", "6.00"),
        ]
        assert fired(second, "2026-01-10T00:01:00Z") == []
        assert firing_count(world.database) == 2
