"""Accepted events count at once and exactly once, before, during and after the fold
(issue 12): ingest lists them as pending, reads add the pending ones to the buckets, the
fold moves them into the buckets, a meter rebuilt meanwhile does not count them twice."""

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from meterbill.cli.folding import Holds, Sweeper, fold_all, start_folder
from meterbill.db import usage as usage_store
from meterbill.services import rollup
from meterbill.services.catalog import load_catalog, meter_ref
from meterbill.services.ingest import Status, apply_to_meters, rebuild_meter
from meterbill.services.invoicing import customer_invoices
from meterbill.services.rollup import fold_pending, pending_count
from tests.services.support import World, call, open_world, setup

JAN = "2026-01-01T00:00:00Z"
SETUP_AT = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 25, tzinfo=UTC)
AS_OF = datetime(2026, 1, 31, 12, tzinfo=UTC)

# calls: 1.00 a call (count); units: 0.01 a unit (sum). Three calls of 100 + 250 + 50 units
# on two days: 3 calls = 3.00, 400 units = 4.00.
EVENTS = [
    call("e1", "2026-01-05T10:00:00Z", units=100),
    call("e2", "2026-01-05T10:30:00Z", units=250),
    call("e3", "2026-01-20T23:59:59Z", units=50),
]


def document() -> dict[str, object]:
    subscriptions = [{"plan": "basic", "starts_at": JAN}, {"plan": "metered", "starts_at": JAN}]
    return setup([{"id": "acme", "name": "Acme", "subscriptions": subscriptions}])


def lines(world: World) -> dict[str, tuple[D, D]]:
    drafts = world.invoices("acme", as_of=AS_OF)  # one per plan: basic and metered
    return {line.name: (line.quantity, line.amount) for draft in drafts for line in draft.lines}


def pending(world: World) -> int:
    with world.database.transaction() as session:
        return pending_count(session)


EXPECTED = {"Calls": (D(3), D("3.00")), "Units": (D(400), D("4.00"))}


def test_pending_events_count_at_once_and_the_fold_changes_no_figure(db_url: str) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        assert world.ingest(EVENTS, now=NOW) == [Status.ACCEPTED] * 3
        assert pending(world) == 3
        assert lines(world) == EXPECTED

        assert fold_all(world.database) == 3
        assert pending(world) == 0
        assert lines(world) == EXPECTED
        assert fold_all(world.database) == 0

        # A duplicate is not pending again; a new event counts before and after its fold.
        late = [EVENTS[0], call("e4", "2026-01-05T10:45:00Z", units=1)]
        assert world.ingest(late, now=NOW) == [Status.DUPLICATE, Status.ACCEPTED]
        assert pending(world) == 1
        expected = {"Calls": (D(4), D("4.00")), "Units": (D(401), D("4.01"))}
        assert lines(world) == expected
        assert fold_all(world.database) == 1
        assert lines(world) == expected


def test_the_fold_takes_batches_oldest_first(db_url: str) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        world.ingest(EVENTS, now=NOW)
        with world.database.transaction() as session:
            assert fold_pending(session, load_catalog(session), limit=2) == 2
        assert pending(world) == 1
        assert lines(world) == EXPECTED
        with world.database.transaction() as session:
            assert fold_pending(session, load_catalog(session), limit=2) == 1
        assert pending(world) == 0
        assert lines(world) == EXPECTED


def test_a_meter_rebuilt_while_events_are_pending_counts_them_once(db_url: str) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        world.ingest(EVENTS[:2], now=NOW)
        fold_all(world.database)
        world.ingest(EVENTS[2:], now=NOW)  # e3 pending
        with world.database.transaction() as session:
            state = load_catalog(session)
            rebuild_meter(session, meter_ref(state, "units"))
            rebuild_meter(session, meter_ref(state, "calls"))
        assert pending(world) == 1
        assert lines(world) == EXPECTED
        fold_all(world.database)
        assert lines(world) == EXPECTED


def test_a_fold_that_commits_in_the_middle_of_a_read_is_not_counted_twice(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        world.ingest(EVENTS, now=NOW)
        original: Callable[..., Any] = usage_store.load_buckets
        folded: list[int] = []

        def fold_then_load(*args: Any, **kwargs: Any) -> Any:
            # Between this read's look at the pending events and its bucket reads.
            if not folded:
                folded.append(fold_all(world.database))
            return original(*args, **kwargs)

        monkeypatch.setattr(usage_store, "load_buckets", fold_then_load)
        # A read transaction (SQLite: one snapshot; PostgreSQL: read committed, where the
        # fold's commit shows and the read is made again).
        with world.database.transaction(read_only=True) as session:
            drafts = customer_invoices(session, "acme", as_of=AS_OF)
        assert {line.name: (line.quantity, line.amount) for d in drafts for line in d.lines} == (
            EXPECTED
        )
        assert folded == [3]
        assert pending(world) == 0


def test_the_serve_folder_empties_the_pending_list(db_url: str) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        world.ingest(EVENTS, now=NOW)
        stop = threading.Event()
        thread = start_folder(world.database, every=0.05, stop=stop)
        try:
            deadline = time.monotonic() + 30
            while pending(world) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(timeout=10)
        assert pending(world) == 0
        assert lines(world) == EXPECTED


def test_a_customer_whose_events_cannot_be_folded_does_not_stop_the_others(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriptions = [{"plan": "basic", "starts_at": JAN}, {"plan": "metered", "starts_at": JAN}]
    both = setup(
        [
            {"id": "acme", "name": "Acme", "subscriptions": subscriptions},
            {"id": "bolt", "name": "Bolt", "subscriptions": subscriptions},
        ]
    )
    with open_world(db_url, both, now=SETUP_AT) as world:
        bolts = [call(f"b{n}", "2026-01-06T10:00:00Z", customer="bolt", units=10) for n in range(4)]
        # bolt's events come first: they are the oldest in every batch the fold takes.
        world.ingest(bolts, now=NOW)
        world.ingest(EVENTS, now=NOW)
        original: Callable[..., Any] = apply_to_meters

        def failing_for_bolt(session: Any, state: Any, events: Any, **kwargs: Any) -> Any:
            if any(event.customer_id == "bolt" for event in events):
                raise ArithmeticError("bolt's buckets cannot take this")
            return original(session, state, events, **kwargs)

        monkeypatch.setattr(rollup, "apply_to_meters", failing_for_bolt, raising=True)
        moment = [0.0]
        holds = Holds(seconds=60, clock=lambda: moment[0])
        # Batches of 2: bolt's four events alone would fill every batch if it were retried.
        assert fold_all(world.database, limit=2, holds=holds) == 3  # acme's
        assert pending(world) == 4  # bolt's, still counted by every read
        assert lines(world) == EXPECTED
        bolt = {
            line.name: (line.quantity, line.amount)
            for draft in world.invoices("bolt", as_of=AS_OF)
            for line in draft.lines
        }
        assert bolt == {"Calls": (D(4), D("4.00")), "Units": (D(40), D("0.40"))}
        assert fold_all(world.database, limit=2, holds=holds) == 0  # bolt is held
        monkeypatch.setattr(rollup, "apply_to_meters", original)
        assert fold_all(world.database, limit=2, holds=holds) == 0  # still held
        moment[0] = 61.0
        assert fold_all(world.database, limit=2, holds=holds) == 4
        assert pending(world) == 0
        assert lines(world) == EXPECTED
        folded = {
            line.name: (line.quantity, line.amount)
            for draft in world.invoices("bolt", as_of=AS_OF)
            for line in draft.lines
        }
        assert folded == bolt


def test_a_folder_vacuums_the_pending_queue_every_so_many_events(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fold deletes what it folds; on PostgreSQL those rows stay in the queue's index
    until a vacuum, and every read's usage stamp walks them (30 ms after a million-event
    burst). A folder sweeps the queue every ``after`` events, and once more at the end of
    a fold that folded that many (``docs/decisions.md`` 58)."""
    with open_world(db_url, document(), now=SETUP_AT) as world:
        sweeps: list[bool] = []
        sweep = world.database.sweep_pending
        monkeypatch.setattr(world.database, "sweep_pending", lambda: sweeps.append(sweep()))
        many = [call(f"s{n}", f"2026-01-0{1 + n % 9}T10:00:00Z") for n in range(5)]
        assert world.ingest(many, now=NOW) == [Status.ACCEPTED] * 5
        # Batches of 2: 2 (no sweep), 4 (sweep at 3), 5 (1 since), then the end (5 ≥ 3).
        assert fold_all(world.database, limit=2, sweeper=Sweeper(after=3)) == 5
        # A sweep runs (and vacuums) on PostgreSQL only; SQLite keeps no dead rows.
        assert sweeps == [world.database.dialect == "postgresql"] * 2
        # Below the threshold, no sweep; a folder's sweeper counts across its folds.
        kept = Sweeper(after=3)
        assert world.ingest([call("t1", "2026-01-09T10:00:00Z")], now=NOW) == [Status.ACCEPTED]
        assert fold_all(world.database, sweeper=kept) == 1
        assert (len(sweeps), kept.folded) == (2, 1)
        two = [call("t2", "2026-01-09T11:00:00Z"), call("t3", "2026-01-09T12:00:00Z")]
        assert world.ingest(two, now=NOW) == [Status.ACCEPTED] * 2
        assert fold_all(world.database, sweeper=kept) == 2
        assert (len(sweeps), kept.folded) == (3, 0)
        # The figures are those of the 8 calls of 1 unit, whatever was swept.
        invoices = world.invoices("acme", as_of=AS_OF)
        assert [(view.ref.plan, view.totals.total) for view in invoices] == [
            ("basic", D("8.00")),
            ("metered", D("0.08")),
        ]
