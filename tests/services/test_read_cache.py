"""A usage read served from the read cache is never stale (issue 12).

Read transactions keep period and window usage under the customer's usage stamp
(``db.usage.usage_stamp``). These tests change what is stored in every way it can change
(new pending events, folds in any batch size, time-weighted events written at once, a
rebuilt meter, a transaction that rolls back, a fold committing in the middle of a read) and
check each cached read against the events accepted so far, computed by hand, and against
the same read made without a cache.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterbill.cli.folding import fold_all
from meterbill.core.periods import Span, WindowSize
from meterbill.db import usage as usage_store
from meterbill.db.database import Database
from meterbill.services import usage as usage_service
from meterbill.services.breakdowns import LineFigures, breakdown_of
from meterbill.services.catalog import apply_setup, load_catalog, meter_ref
from meterbill.services.ingest import Status, ingest_batch, rebuild_meter
from meterbill.services.invoicing import customer_invoices
from meterbill.services.reports import range_breakdowns
from meterbill.services.rollup import fold_pending
from meterbill.services.usage import period_usage, window_usage
from meterbill.views.reports import range_window_documents
from tests.dbsupport import reset_postgres_schema
from tests.services.support import World, call, open_world, setup

SETUP_AT = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 25, tzinfo=UTC)
JANUARY = Span(SETUP_AT, datetime(2026, 2, 1, tzinfo=UTC))
DAYS = [Span(SETUP_AT + timedelta(days=n), SETUP_AT + timedelta(days=n + 1)) for n in range(31)]
NO_GROUP: tuple[str, ...] = ()


def document() -> dict[str, object]:
    doc = setup([{"id": "acme", "name": "Acme"}, {"id": "bolt", "name": "Bolt"}])
    meters = doc["meters"]
    assert isinstance(meters, list)
    meters.append(
        {
            "key": "level",
            "name": "Level",
            "event_type": "gauge",
            "aggregation": "time_weighted",
            "property": "level",
        }
    )
    return doc


def gauge(txid: str, when: str, level: int, customer: str = "acme") -> dict[str, object]:
    return {
        "transaction_id": txid,
        "customer_id": customer,
        "event_type": "gauge",
        "timestamp": when,
        "properties": {"level": level},
    }


Usage = dict[str, object]


def usage(database: Database, customer: str, *, read_only: bool) -> Usage:
    """Every meter's January usage and daily series of ``customer``, from one transaction
    (a read transaction uses the cache; a write transaction never does)."""
    with database.transaction(read_only=read_only) as session:
        state = load_catalog(session)
        result: Usage = {}
        for key in ("calls", "units", "level"):
            ref = meter_ref(state, key)
            result[key] = period_usage(
                session, ref, customer_id=customer, span=JANUARY, divisor=None
            )
            result[f"{key} by day"] = window_usage(
                session,
                ref,
                customer_id=customer,
                windows=DAYS,
                size=WindowSize.DAY,
                groups={NO_GROUP},
                divisor=None,
            )
        return result


def written(found: Usage) -> str:
    """Usage as text, every number with its digits (equal Decimals may be written apart),
    groups in order."""
    return repr({key: sorted(cast(dict[Any, Any], value).items()) for key, value in found.items()})


def totals(database: Database, customer: str) -> tuple[D, D]:
    found = usage(database, customer, read_only=True)
    calls, units = found["calls"], found["units"]
    assert isinstance(calls, dict)
    assert isinstance(units, dict)
    return calls.get(NO_GROUP, D(0)), units.get(NO_GROUP, D(0))


def test_a_cached_read_follows_every_new_event_fold_and_rebuild(db_url: str) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        cache = world.database.read_cache
        world.ingest([call("e1", "2026-01-05T10:00:00Z", units=100)], now=NOW)
        assert totals(world.database, "acme") == (D(1), D(100))
        hits = cache.hits
        assert totals(world.database, "acme") == (D(1), D(100))
        assert cache.hits > hits  # the second read came from the cache

        # A new pending event, then its fold, then a fold of a batch of one of two.
        world.ingest([call("e2", "2026-01-06T10:00:00Z", units=250)], now=NOW)
        assert totals(world.database, "acme") == (D(2), D(350))
        fold_all(world.database)
        assert totals(world.database, "acme") == (D(2), D(350))
        world.ingest(
            [
                call("e3", "2026-01-07T10:00:00Z", units=50),
                call("e4", "2026-01-07T11:00:00Z", units=1),
            ],
            now=NOW,
        )
        with world.database.transaction() as session:
            assert fold_pending(session, load_catalog(session), limit=1) == 1
        assert totals(world.database, "acme") == (D(4), D(401))
        fold_all(world.database)
        assert totals(world.database, "acme") == (D(4), D(401))

        # Another customer's events change nothing of this one's, and are read right.
        world.ingest([call("b1", "2026-01-07T10:00:00Z", customer="bolt", units=7)], now=NOW)
        assert totals(world.database, "bolt") == (D(1), D(7))
        assert totals(world.database, "acme") == (D(4), D(401))

        # A rebuilt meter (its buckets deleted and written again) is read again.
        with world.database.transaction() as session:
            rebuild_meter(session, meter_ref(load_catalog(session), "units"))
        assert totals(world.database, "acme") == (D(4), D(401))
        assert usage(world.database, "acme", read_only=True) == usage(
            world.database, "acme", read_only=False
        )


def test_a_time_weighted_event_written_at_once_is_read_at_once(db_url: str) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        world.ingest([gauge("g1", "2026-01-01T00:00:00Z", 2)], now=NOW)
        before = usage(world.database, "acme", read_only=True)
        assert usage(world.database, "acme", read_only=True) == before  # cached
        # Level 2 from the 1st, 5 from the 16th: 2 × 15 days + 5 × 16 days, in days.
        world.ingest([gauge("g2", "2026-01-16T00:00:00Z", 5)], now=NOW)
        after = usage(world.database, "acme", read_only=True)
        assert after != before
        assert after == usage(world.database, "acme", read_only=False)


def test_a_write_that_rolls_back_leaves_no_cached_read(db_url: str) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        world.ingest([call("e1", "2026-01-05T10:00:00Z", units=100)], now=NOW)
        assert totals(world.database, "acme") == (D(1), D(100))

        class Abandon(Exception):
            pass

        def write_read_and_roll_back() -> None:
            with world.database.transaction() as session:
                state = load_catalog(session)
                items = [call("x1", "2026-01-05T11:00:00Z", units=5)]
                assert ingest_batch(session, state, items, now=NOW)[0].status is Status.ACCEPTED
                # A read inside the writing transaction sees its own write, uncached.
                ref = meter_ref(state, "units")
                seen = period_usage(session, ref, customer_id="acme", span=JANUARY, divisor=None)
                assert seen == {NO_GROUP: D(105)}
                raise Abandon

        with pytest.raises(Abandon):
            write_read_and_roll_back()
        assert totals(world.database, "acme") == (D(1), D(100))
        # Another event with the same count of pending events is still seen.
        world.ingest([call("e2", "2026-01-05T12:00:00Z", units=9)], now=NOW)
        assert totals(world.database, "acme") == (D(2), D(109))


def test_a_fold_committed_in_the_middle_of_a_read_is_not_kept(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        world.ingest([call("e1", "2026-01-05T10:00:00Z", units=100)], now=NOW)
        original: Callable[..., Any] = usage_store.load_buckets
        folded: list[int] = []

        def fold_then_load(*args: Any, **kwargs: Any) -> Any:
            if not folded:
                folded.append(fold_all(world.database))
                # ...and a new event that stays pending, committed during the read too.
                world.ingest([call("e2", "2026-01-06T10:00:00Z", units=1)], now=NOW)
            return original(*args, **kwargs)

        monkeypatch.setattr(usage_store, "load_buckets", fold_then_load)
        first = totals(world.database, "acme")
        monkeypatch.setattr(usage_store, "load_buckets", original)
        # SQLite reads one snapshot (the events before the fold); PostgreSQL's read
        # committed reads again after the fold. Either way, the next read has both.
        assert first in {(D(1), D(100)), (D(2), D(101))}
        assert totals(world.database, "acme") == (D(2), D(101))
        assert folded == [1]


def test_a_read_after_a_new_event_reuses_the_buckets_and_adds_the_event(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        world.ingest([call("e1", "2026-01-05T10:00:00Z", units=100)], now=NOW)
        fold_all(world.database)
        assert totals(world.database, "acme") == (D(1), D(100))
        original: Callable[..., Any] = usage_store.load_buckets
        loads: list[object] = []

        def counted(*args: Any, **kwargs: Any) -> Any:
            loads.append(kwargs.get("span"))
            return original(*args, **kwargs)

        monkeypatch.setattr(usage_store, "load_buckets", counted)
        world.ingest([call("e2", "2026-01-06T10:00:00Z", units=250)], now=NOW)
        # e2 is pending: the stamp moved, the buckets did not; they come from the cache.
        assert totals(world.database, "acme") == (D(2), D(350))
        assert loads == []
        fold_all(world.database)  # the fold moves the buckets: read again
        assert totals(world.database, "acme") == (D(2), D(350))
        assert loads != []


def test_a_read_after_a_new_event_sums_no_stored_bucket_again(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        world.ingest([call("e1", "2026-01-05T10:00:00Z", units=100)], now=NOW)
        fold_all(world.database)
        usage(world.database, "acme", read_only=True)
        original: Callable[..., Any] = usage_service._stored_pieces
        summed: list[str] = []

        def counted(session: Any, ref: Any, *args: Any, **kwargs: Any) -> Any:
            summed.append(ref.meter.key)
            return original(session, ref, *args, **kwargs)

        monkeypatch.setattr(usage_service, "_stored_pieces", counted)
        world.ingest(
            [
                call("e2", "2026-01-06T10:00:00Z", units=250),
                call("e3", "2026-01-07T00:00:00Z", units=5),  # the first instant of the 7th
            ],
            now=NOW,
        )
        found = usage(world.database, "acme", read_only=True)
        # Order-free meters add the pending events to their kept sums of the stored
        # buckets; the time-weighted one (nothing pending: ingest writes its buckets) reads.
        assert set(summed) == {"level"}
        assert found["calls"] == {NO_GROUP: D(3)}
        assert found["units"] == {NO_GROUP: D(355)}
        by_day = [D(0)] * 31
        by_day[4], by_day[5], by_day[6] = D(100), D(250), D(5)
        assert found["units by day"] == {NO_GROUP: by_day}
        assert written(found) == written(usage(world.database, "acme", read_only=False))


def test_a_fold_just_before_the_pending_read_is_not_missed(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_world(db_url, document(), now=SETUP_AT) as world:
        world.ingest([call("e1", "2026-01-05T10:00:00Z", units=100)], now=NOW)
        fold_all(world.database)
        assert totals(world.database, "acme") == (D(1), D(100))  # buckets cached
        world.ingest([call("e2", "2026-01-06T10:00:00Z", units=250)], now=NOW)
        original: Callable[..., Any] = usage_store.pending_events
        folded: list[int] = []

        def fold_first(*args: Any, **kwargs: Any) -> Any:
            if not folded:
                # After the read took its stamp (e2 pending, the buckets as cached), the
                # fold moves e2 into the buckets: the pending read below no longer has it,
                # so the cached buckets (without e2) must not be used.
                folded.append(fold_all(world.database))
            return original(*args, **kwargs)

        monkeypatch.setattr(usage_store, "pending_events", fold_first)
        assert totals(world.database, "acme") == (D(2), D(350))
        assert folded == [1]
        monkeypatch.setattr(usage_store, "pending_events", original)
        assert totals(world.database, "acme") == (D(2), D(350))


def day_amounts(database: Database, *, read_only: bool) -> dict[int, D]:
    """The Units line's amount per January day of acme's draft breakdown (non-zero days)."""
    as_of = datetime(2026, 1, 31, 12, tzinfo=UTC)
    with database.transaction(read_only=read_only) as session:
        (view,) = [v for v in customer_invoices(session, "acme", as_of=as_of) if v.lines]
        result = breakdown_of(session, view, size=WindowSize.DAY, as_of=as_of)
    amounts: dict[int, D] = {}
    for entry in result.windows:
        for line, figure in entry.lines:
            if line.name == "Units" and figure.amount:
                amounts[entry.window.start.day] = figure.amount
    return amounts


def test_a_cached_breakdown_follows_every_new_event(db_url: str) -> None:
    subscribed = [{"plan": "metered", "starts_at": "2026-01-01T00:00:00Z"}]
    with open_world(
        db_url, setup([{"id": "acme", "name": "Acme", "subscriptions": subscribed}]), now=SETUP_AT
    ) as world:
        cache = world.database.read_cache
        world.ingest([call("e1", "2026-01-05T10:00:00Z", units=100)], now=NOW)
        assert day_amounts(world.database, read_only=True) == {5: D("1.00")}
        hits = cache.hits
        assert day_amounts(world.database, read_only=True) == {5: D("1.00")}
        assert cache.hits > hits
        world.ingest([call("e2", "2026-01-06T10:00:00Z", units=250)], now=NOW)
        expected = {5: D("1.00"), 6: D("2.50")}
        assert day_amounts(world.database, read_only=True) == expected
        fold_all(world.database)
        assert day_amounts(world.database, read_only=True) == expected
        world.ingest([call("e3", "2026-01-05T11:00:00Z", units=7)], now=NOW)
        expected = {5: D("1.07"), 6: D("2.50")}
        assert day_amounts(world.database, read_only=True) == expected
        assert day_amounts(world.database, read_only=False) == expected


def range_documents(database: Database, as_of: datetime) -> list[dict[str, object]]:
    """acme's January day windows as the native API writes them, from a read transaction."""
    with database.transaction(read_only=True) as session:
        found = range_breakdowns(session, "acme", span=JANUARY, size=WindowSize.DAY, as_of=as_of)
    return range_window_documents(found, skip_zero=True)


def units_by_day(documents: list[dict[str, object]]) -> dict[str, tuple[str, object]]:
    """Per window start with a Units line: (the window's status, that line's amount)."""
    found: dict[str, tuple[str, object]] = {}
    for document in documents:
        lines = document["lines"]
        assert isinstance(lines, list)
        for line in lines:
            if line["name"] == "Units":
                found[str(document["start"])[:10]] = (str(document["status"]), line["amount"])
    return found


def test_a_written_breakdown_window_is_reused_until_usage_or_status_changes(db_url: str) -> None:
    subscribed = [{"plan": "metered", "starts_at": "2026-01-01T00:00:00Z"}]
    with open_world(
        db_url, setup([{"id": "acme", "name": "Acme", "subscriptions": subscribed}]), now=SETUP_AT
    ) as world:
        world.ingest([call("e1", "2026-01-05T10:00:00Z", units=100)], now=NOW)
        as_of = datetime(2026, 1, 31, 12, tzinfo=UTC)
        first = range_documents(world.database, as_of)
        assert units_by_day(first) == {"2026-01-05": ("draft", "1.00")}
        again = range_documents(world.database, as_of)
        assert again == first
        assert all(a is b for a, b in zip(again, first, strict=True))  # written once
        world.ingest([call("e2", "2026-01-05T11:00:00Z", units=50)], now=NOW)
        after = range_documents(world.database, as_of)
        assert units_by_day(after) == {"2026-01-05": ("draft", "1.50")}
        issued_at = datetime(2026, 2, 5, tzinfo=UTC)
        world.close(issued_at)
        issued = range_documents(world.database, issued_at)
        assert units_by_day(issued) == {"2026-01-05": ("issued", "1.50")}


TAXED: dict[str, object] = {
    "settings": {"taxes": [{"key": "vat20", "name": "VAT 20%", "rate": "0.20"}]},
    "meters": [
        {"key": k, "name": k, "event_type": k, "aggregation": "sum", "property": "value"}
        for k in ("compute", "egress")
    ],
    "products": [
        {
            "key": "compute",
            "name": "Compute",
            "meter": "compute",
            "price": {"model": "per_unit", "unit_price": "0.40"},
        },
        {
            "key": "egress",
            "name": "Egress",
            "meter": "egress",
            "price": {"model": "per_unit", "unit_price": "0.10"},
        },
    ],
    "plans": [
        {"key": "growth", "name": "Growth", "interval": "month", "products": ["compute", "egress"]}
    ],
    "customers": [
        {
            "id": "acme",
            "name": "Acme",
            "subscriptions": [{"plan": "growth", "starts_at": "2026-01-01T00:00:00Z"}],
            "taxes": ["vat20"],
        }
    ],
}


def use(txid: str, kind: str, when: str, value: int | D) -> dict[str, object]:
    return {
        "transaction_id": txid,
        "customer_id": "acme",
        "event_type": kind,
        "timestamp": when,
        "properties": {"value": value},
    }


def line_windows(
    database: Database, *, read_only: bool
) -> tuple[dict[tuple[str, int], D], dict[str, LineFigures]]:
    """acme's draft breakdown: each line's non-zero amounts per January day, and each
    line's figures object (what the read cache keeps per line)."""
    as_of = datetime(2026, 1, 31, 12, tzinfo=UTC)
    with database.transaction(read_only=read_only) as session:
        (view,) = customer_invoices(session, "acme", as_of=as_of)
        result = breakdown_of(session, view, size=WindowSize.DAY, as_of=as_of)
    amounts = {
        (line.name, entry.window.start.day): figure.amount
        for entry in result.windows
        for line, figure in entry.lines
        if figure.amount
    }
    first = result.windows[0]
    sources = {
        line.name: source for (line, _), source in zip(first.lines, first.sources, strict=True)
    }
    return amounts, sources


def test_a_new_event_computes_again_only_the_lines_it_changes_and_the_tax(
    db_url: str,
) -> None:
    with open_world(db_url, TAXED, now=SETUP_AT) as world:
        world.ingest(
            [
                use("c1", "compute", "2026-01-05T10:00:00Z", 10),
                use("g1", "egress", "2026-01-06T10:00:00Z", 100),
            ],
            now=NOW,
        )
        before, sources = line_windows(world.database, read_only=True)
        assert before == {
            ("Compute", 5): D("4.00"),
            ("Egress", 6): D("10.00"),
            ("VAT 20%", 5): D("0.80"),
            ("VAT 20%", 6): D("2.00"),
        }
        world.ingest([use("g2", "egress", "2026-01-07T10:00:00Z", 50)], now=NOW)
        after, again = line_windows(world.database, read_only=True)
        assert after == {
            ("Compute", 5): D("4.00"),
            ("Egress", 6): D("10.00"),
            ("Egress", 7): D("5.00"),
            ("VAT 20%", 5): D("0.80"),
            ("VAT 20%", 6): D("2.00"),
            ("VAT 20%", 7): D("1.00"),
        }
        assert again["Compute"] is sources["Compute"]  # its usage did not change
        assert again["Egress"] is not sources["Egress"]
        assert line_windows(world.database, read_only=False)[0] == after
        # The same line total, spread differently: only the usage tells them apart.
        world.ingest(
            [
                use("g3", "egress", "2026-01-08T10:00:00Z", 30),
                use("g4", "egress", "2026-01-06T11:00:00Z", -30),
            ],
            now=NOW,
        )
        moved = {
            ("Compute", 5): D("4.00"),
            ("Egress", 6): D("7.00"),
            ("Egress", 7): D("5.00"),
            ("Egress", 8): D("3.00"),
            ("VAT 20%", 5): D("0.80"),
            ("VAT 20%", 6): D("1.40"),
            ("VAT 20%", 7): D("1.00"),
            ("VAT 20%", 8): D("0.60"),
        }
        assert line_windows(world.database, read_only=True)[0] == moved
        assert line_windows(world.database, read_only=False)[0] == moved


def two_customers() -> dict[str, object]:
    customers = TAXED["customers"]
    assert isinstance(customers, list)
    return {**TAXED, "customers": [*customers, {**customers[0], "id": "bolt"}]}


def egress(txid: str, customer: str, when: str, value: object) -> dict[str, object]:
    return {**use(txid, "egress", when, 0), "customer_id": customer, "properties": {"value": value}}


def test_lines_of_equal_values_written_differently_keep_their_own_digits(db_url: str) -> None:
    with open_world(db_url, two_customers(), now=SETUP_AT) as world:
        # Both lines hold 150.0 units, the days differ only in how they are written.
        world.ingest(
            [
                egress("a1", "acme", "2026-01-06T10:00:00Z", D("100.0")),
                egress("a2", "acme", "2026-01-07T10:00:00Z", 50),
                egress("b1", "bolt", "2026-01-06T10:00:00Z", 100),
                egress("b2", "bolt", "2026-01-07T10:00:00Z", D("50.0")),
            ],
            now=NOW,
        )
        as_of = datetime(2026, 1, 31, 12, tzinfo=UTC)
        written: dict[str, list[str]] = {}
        for customer in ("acme", "bolt"):
            with world.database.transaction(read_only=True) as session:
                (view,) = customer_invoices(session, customer, as_of=as_of)
                result = breakdown_of(session, view, size=WindowSize.DAY, as_of=as_of)
            written[customer] = [
                str(f.quantity)
                for e in result.windows
                for line, f in e.lines
                if line.name == "Egress" and f.amount
            ]
        assert written == {"acme": ["100.0", "50"], "bolt": ["100", "50.0"]}


def draft_lines(database: Database, customer: str, *, read_only: bool) -> dict[str, Any]:
    """The customer's draft lines by name (objects, to tell reused ones apart)."""
    as_of = datetime(2026, 1, 31, 12, tzinfo=UTC)
    with database.transaction(read_only=read_only) as session:
        (view,) = customer_invoices(session, customer, as_of=as_of)
    return {line.name: line for line in view.lines}


def test_a_new_event_rates_again_only_the_usage_it_changes(db_url: str) -> None:
    with open_world(db_url, TAXED, now=SETUP_AT) as world:
        world.ingest(
            [
                use("c1", "compute", "2026-01-05T10:00:00Z", 10),
                use("g1", "egress", "2026-01-06T10:00:00Z", 100),
            ],
            now=NOW,
        )
        before = draft_lines(world.database, "acme", read_only=True)
        world.ingest([use("g2", "egress", "2026-01-07T10:00:00Z", D("50.0"))], now=NOW)
        after = draft_lines(world.database, "acme", read_only=True)
        assert after["Compute"] is before["Compute"]  # its usage did not change
        assert (str(after["Egress"].quantity), after["Egress"].amount) == ("150.0", D("15.00"))
        assert (after["VAT 20%"].amount, before["VAT 20%"].amount) == (D("3.80"), D("2.80"))
        assert after == draft_lines(world.database, "acme", read_only=False)


def test_usage_lines_of_equal_values_written_differently_keep_their_own_digits(
    db_url: str,
) -> None:
    with open_world(db_url, two_customers(), now=SETUP_AT) as world:
        world.ingest(
            [
                egress("a1", "acme", "2026-01-06T10:00:00Z", 150),
                egress("b1", "bolt", "2026-01-06T10:00:00Z", D("150.0")),
            ],
            now=NOW,
        )
        acme = draft_lines(world.database, "acme", read_only=True)["Egress"]
        bolt = draft_lines(world.database, "bolt", read_only=True)["Egress"]
        assert (str(acme.quantity), str(bolt.quantity)) == ("150", "150.0")


def test_divisors_written_differently_divide_into_their_own_digits(db_url: str) -> None:
    # One meter priced by two products, divided by 10 and by 10.0: 500 units are 50 and
    # 5E+1 of them. Each product's figures keep their own digits, cached or not.
    divided: list[dict[str, object]] = [
        {
            "key": key,
            "name": name,
            "meter": "units",
            "quantity_divisor": divisor,
            "price": {"model": "per_unit", "unit_price": "0.01"},
        }
        for key, name, divisor in (("tens", "Tens", "10"), ("tenths", "Tenths", "10.0"))
    ]
    plans: list[dict[str, object]] = [
        {"key": "split", "name": "Split", "interval": "month", "products": ["tens", "tenths"]}
    ]
    subscribed = [{"plan": "split", "starts_at": "2026-01-01T00:00:00Z"}]
    document = setup(
        [{"id": "acme", "name": "Acme", "subscriptions": subscribed}], plans=plans, products=divided
    )
    with open_world(db_url, document, now=SETUP_AT) as world:
        world.ingest([call("e1", "2026-01-05T10:00:00Z", units=500)], now=NOW)
        as_of = datetime(2026, 1, 31, 12, tzinfo=UTC)
        for read_only in (True, True, False):
            with world.database.transaction(read_only=read_only) as session:
                (view,) = customer_invoices(session, "acme", as_of=as_of)
                result = breakdown_of(session, view, size=WindowSize.DAY, as_of=as_of)
            written = {
                line.name: str(figure.quantity)
                for entry in result.windows
                for line, figure in entry.lines
                if figure.quantity
            }
            assert written == {"Tens": "50", "Tenths": "5E+1"}


def max_document() -> dict[str, object]:
    doc = setup([{"id": "acme", "name": "Acme"}])
    meters = doc["meters"]
    assert isinstance(meters, list)
    meters.append(
        {
            "key": "peak",
            "name": "Peak",
            "event_type": "call",
            "aggregation": "max",
            "property": "units",
        }
    )
    return doc


def test_equal_maxima_keep_the_digits_of_the_earliest_whether_pending_or_folded(
    db_url: str,
) -> None:
    with open_world(db_url, max_document(), now=SETUP_AT) as world:
        world.ingest([call("e1", "2026-01-06T10:00:00Z", units=D("1.5"))], now=NOW)
        fold_all(world.database)
        world.ingest([call("e2", "2026-01-05T10:00:00Z", units=D("1.50"))], now=NOW)  # pending
        seen = []
        for read_only in (True, False):
            with world.database.transaction(read_only=read_only) as session:
                peak = meter_ref(load_catalog(session), "peak")
                found = period_usage(session, peak, customer_id="acme", span=JANUARY, divisor=None)
            seen.append(str(found[NO_GROUP]))
        fold_all(world.database)
        with world.database.transaction() as session:
            peak = meter_ref(load_catalog(session), "peak")
            found = period_usage(session, peak, customer_id="acme", span=JANUARY, divisor=None)
        seen.append(str(found[NO_GROUP]))
        assert seen == ["1.50"] * 3  # e2 is the earlier of the two equal values


def test_sums_are_exact_past_28_digits_in_any_order(db_url: str) -> None:
    big = D("1E+15")
    with open_world(db_url, document(), now=SETUP_AT) as world:
        world.ingest(
            [
                call("e1", "2026-01-05T10:00:00Z", units=big),
                call("e3", "2026-01-07T10:00:00Z", units=-big),
            ],
            now=NOW,
        )
        fold_all(world.database)
        world.ingest([call("e2", "2026-01-06T10:00:00Z", units=D("4E-13"))], now=NOW)
        # 1E+15 + 4E-13 needs 29 digits: a 28-digit sum in time order would lose the 4E-13.
        for read_only in (True, False):
            found = usage(world.database, "acme", read_only=read_only)
            assert str(cast(dict[Any, D], found["units"])[NO_GROUP]) == "4E-13"
        fold_all(world.database)
        found = usage(world.database, "acme", read_only=True)
        assert str(cast(dict[Any, D], found["units"])[NO_GROUP]) == "4E-13"


# --- property: any interleaving of writes, folds and reads --------------------------------

Step = tuple[str, int, int]  # (what, customer index, size)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("ingest"), st.integers(0, 1), st.integers(1, 4)),
        st.tuples(st.just("gauge"), st.integers(0, 1), st.integers(0, 9)),
        st.tuples(st.just("fold"), st.just(0), st.integers(1, 5)),
        st.tuples(st.just("read"), st.integers(0, 1), st.just(0)),
        st.tuples(st.just("rebuild"), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


def fresh_world(db_url: str, folder: Path) -> tuple[Database, World]:
    """A new database for one example (SQLite: a new file; PostgreSQL: the schema reset)."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{folder / f'example-{uuid.uuid4().hex}.db'}"
    else:
        reset_postgres_schema(db_url)
        url = db_url
    database = Database(url)
    with database.transaction() as session:
        apply_setup(session, document(), now=SETUP_AT, rebuild=rebuild_meter)
    return database, World(database)


@given(data=st.data())
@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_interleaving_reads_what_was_accepted(
    db_url: str, tmp_path: Path, data: st.DataObject
) -> None:
    database, world = fresh_world(db_url, tmp_path)
    try:
        customers = ("acme", "bolt")
        accepted: dict[str, list[int]] = {"acme": [], "bolt": []}
        serial = 0
        for what, who, size in data.draw(steps):
            customer = customers[who]
            if what == "ingest":
                batch = []
                for _ in range(size):
                    serial += 1
                    units = data.draw(st.integers(0, 1000))
                    day = data.draw(st.integers(1, 24))  # before NOW
                    minute = data.draw(st.integers(0, 59))
                    when = f"2026-01-{day:02d}T{day % 24:02d}:{minute:02d}:00Z"
                    batch.append(call(f"t{serial}", when, customer=customer, units=units))
                    accepted[customer].append(units)
                assert world.ingest(batch, now=NOW) == [Status.ACCEPTED] * size
            elif what == "gauge":
                serial += 1
                day = data.draw(st.integers(1, 24))  # before NOW
                when = f"2026-01-{day:02d}T{serial % 24:02d}:00:00Z"
                world.ingest([gauge(f"g{serial}", when, size, customer=customer)], now=NOW)
            elif what == "fold":
                with database.transaction() as session:
                    fold_pending(session, load_catalog(session), limit=size)
            elif what == "rebuild":
                with database.transaction() as session:
                    rebuild_meter(session, meter_ref(load_catalog(session), "units"))
            # After every step, each customer read twice through the cache (the second one a
            # hit) and once without: all three agree with what was accepted.
            for name in customers:
                expected = (D(len(accepted[name])), D(sum(accepted[name])))
                assert totals(database, name) == expected
                cached = usage(database, name, read_only=True)
                assert written(cached) == written(usage(database, name, read_only=False))
    finally:
        database.dispose()
