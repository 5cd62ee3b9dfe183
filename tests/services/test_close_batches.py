"""A close reads and writes customers in batches (``services.invoicing.close_periods``,
``docs/decisions.md`` 57): whatever the batch size, it issues exactly the drafts a read
showed just before (lines, digits and totals), numbered gap-free in customer order, for
customers with folded and pending usage, anchors off the day, the hour and the minute,
every aggregation, credits, a late event's corrections and a void's replacement."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from meterbill.core.invoicing import closable
from meterbill.core.periods import Span
from meterbill.db import Session
from meterbill.db import usage as usage_store
from meterbill.services import invoicing
from meterbill.services.catalog import load_catalog
from meterbill.services.ingest import Status
from meterbill.services.invoicing import InvoiceView, void_invoice
from meterbill.services.rollup import fold_pending
from tests.dbsupport import POSTGRES_SKIP_REASON, fresh_postgres_database, postgres_url_from_env
from tests.services.support import World, call, open_world, setup

JAN = "2026-01-01T00:00:00Z"
GRACE = 24


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def per_unit(key: str, meter: str, price: str) -> dict[str, object]:
    return {
        "key": key,
        "name": key.title(),
        "meter": meter,
        "price": {"model": "per_unit", "unit_price": price},
    }


def document() -> dict[str, object]:
    return {
        "meters": [
            {"key": "calls", "name": "Calls", "event_type": "call", "aggregation": "count"},
            {
                "key": "units",
                "name": "Units",
                "event_type": "call",
                "aggregation": "sum",
                "property": "units",
                "group_by": ["region"],
            },
            {
                "key": "peak",
                "name": "Peak",
                "event_type": "call",
                "aggregation": "max",
                "property": "units",
            },
            {
                "key": "users",
                "name": "Users",
                "event_type": "call",
                "aggregation": "unique_count",
                "property": "user",
            },
            {
                "key": "stored",
                "name": "Stored",
                "event_type": "gauge",
                "aggregation": "time_weighted",
                "property": "gib",
            },
        ],
        "products": [
            per_unit("calls", "calls", "1.00"),
            per_unit("units", "units", "0.013"),
            per_unit("peak", "peak", "0.5"),
            per_unit("users", "users", "2.00"),
            per_unit("stored", "stored", "0.07"),
            {
                "key": "platform",
                "name": "Platform",
                "line_item_type": "support",
                "price": {"model": "flat", "amount": "10.00"},
            },
        ],
        "plans": [
            {
                "key": "all",
                "name": "All",
                "interval": "month",
                "products": ["calls", "units", "peak", "users", "stored", "platform"],
            },
            {"key": "weekly", "name": "Weekly", "interval": "week", "products": ["calls"]},
        ],
        "settings": {"grace_period_hours": str(GRACE)},
        "customers": [
            {"id": "c0", "name": "C0", "subscriptions": [{"plan": "all", "starts_at": JAN}]},
            {
                "id": "c1",
                "name": "C1",
                "subscriptions": [{"plan": "all", "starts_at": "2026-01-01T12:30:00Z"}],
            },
            {
                "id": "c2",
                "name": "C2",
                "subscriptions": [{"plan": "weekly", "starts_at": "2026-01-03T00:00:00Z"}],
            },
            {"id": "c3", "name": "C3", "subscriptions": [{"plan": "all", "starts_at": JAN}]},
            {"id": "c4", "name": "C4", "subscriptions": [{"plan": "all", "starts_at": JAN}]},
            {
                "id": "c5",
                "name": "C5",
                "subscriptions": [{"plan": "all", "starts_at": JAN}],
                "credits": [
                    {
                        "key": "free",
                        "kind": "free",
                        "amount": "15.00",
                        "starts_at": JAN,
                    }
                ],
            },
            {
                "id": "c6",
                "name": "C6",
                "subscriptions": [{"plan": "all", "starts_at": "2026-01-15T06:00:00Z"}],
            },
        ],
    }


def events(customer: str, prefix: str, start: datetime, count: int) -> list[dict[str, object]]:
    """``count`` calls and gauges of ``customer`` from ``start``, 7 h 13 min apart, with
    values whose digits differ (``1.50``, ``2``, ``0.125``…)."""
    values = ["1.50", "2", "0.125", "3.0", "10", "0.001"]
    items: list[dict[str, object]] = []
    for n in range(count):
        moment = start + timedelta(hours=7 * n, minutes=13 * n)
        when = moment.isoformat().replace("+00:00", "Z")
        items.append(
            {
                "transaction_id": f"{prefix}-{customer}-{n}",
                "customer_id": customer,
                "event_type": "call",
                "timestamp": when,
                "properties": {
                    "units": values[n % len(values)],
                    "region": ["eu", "us"][n % 2],
                    "user": f"u{n % 4}",
                },
            }
        )
        if n % 3 == 0:
            items.append(
                {
                    "transaction_id": f"{prefix}-{customer}-g{n}",
                    "customer_id": customer,
                    "event_type": "gauge",
                    "timestamp": when,
                    "properties": {"gib": values[(n + 1) % len(values)]},
                }
            )
    return items


def fold_all(world: World) -> None:
    with world.database.transaction() as session:
        state = load_catalog(session)
        while fold_pending(session, state, limit=50):
            pass


def figures(view: InvoiceView) -> tuple[object, ...]:
    """Everything an issued invoice keeps from its draft, digits as written."""
    return (
        view.id,
        view.ref,
        tuple(
            (line.key, line.name, str(line.quantity), str(line.unit_price), str(line.amount))
            for line in view.lines
        ),
        str(view.totals.subtotal),
        str(view.totals.tax),
        tuple((use.grant, str(use.amount)) for use in view.totals.credits),
        str(view.totals.credits_applied),
        str(view.totals.total),
        str(view.totals.credit_balance_after),
        view.replaces,
    )


CUSTOMERS = ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]


def closing(world: World, as_of: datetime) -> list[tuple[object, ...]]:
    """The drafts a close at ``as_of`` issues, as a read shows them, in customer order."""
    due = []
    for customer in CUSTOMERS:
        for view in world.invoices(customer, as_of=as_of):
            if view.status == "draft" and closable(
                view.ref, as_of=as_of, grace_hours=Decimal(GRACE)
            ):
                due.append(figures(view))
    return due


def check_close(world: World, as_of: datetime, first_number: int) -> list[InvoiceView]:
    expected = closing(world, as_of)
    assert expected, "the close has something to issue"
    result = world.close(as_of)
    assert result.failed == []
    assert [figures(view) for view in result.issued] == expected
    numbers = [view.number for view in result.issued]
    assert numbers == list(range(first_number, first_number + len(expected)))
    # What was written reads back the same (money in minor units: ``0`` reads ``0.00``).
    stored = {
        view.id: kept(view)
        for customer in CUSTOMERS
        for view in world.invoices(customer, as_of=as_of)
        if view.number in numbers
    }
    assert [stored[view.id] for view in result.issued] == [kept(v) for v in result.issued]
    return result.issued


def kept(view: InvoiceView) -> tuple[object, ...]:
    """What an issued invoice stores, by value."""
    return (
        view.id,
        view.number,
        view.status,
        tuple((line.key, line.quantity, line.unit_price, line.amount) for line in view.lines),
        view.totals.subtotal,
        view.totals.credits_applied,
        view.totals.total,
        view.totals.credit_balance_after,
    )


@pytest.mark.parametrize("batch", [1, 3, 500])
def test_a_close_issues_what_a_read_showed_whatever_the_batch(
    db_url: str, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(invoicing, "CLOSE_BATCH", batch)
    with open_world(db_url, document(), now=at("2025-12-01T00:00:00")) as world:
        folded = [
            item
            for customer in ("c0", "c1", "c2", "c5", "c6")
            for item in events(customer, "a", at("2026-01-01T00:30:00"), 80)
        ]
        assert set(world.ingest(folded, now=at("2026-02-01T00:00:00"))) == {Status.ACCEPTED}
        fold_all(world)
        # Left pending: all of c3's, and more of c0's and c6's.
        pending = [
            item
            for customer, start in (
                ("c3", "2026-01-02T03:00:00"),
                ("c0", "2026-01-20T23:59:59"),
                ("c6", "2026-01-29T23:00:00"),
            )
            for item in events(customer, "b", at(start), 12)
        ]
        assert set(world.ingest(pending, now=at("2026-02-03T00:00:00"))) == {Status.ACCEPTED}

        issued = check_close(world, at("2026-02-03T00:00:00"), first_number=1)
        assert {view.customer.id for view in issued} == set(CUSTOMERS)
        assert any(view.totals.credits for view in issued if view.customer.id == "c5")

        # A late event for c0's issued January, and c3's January voided: the next close
        # carries c0's corrections and issues c3's replacement, as the drafts showed.
        late = events("c0", "late", at("2026-01-10T10:10:00"), 2)
        assert set(world.ingest(late, now=at("2026-02-10T00:00:00"))) == {Status.ACCEPTED}
        january = next(v for v in issued if v.customer.id == "c3" and v.ref.period.start.month == 1)
        with world.database.transaction() as session:
            void_invoice(session, january.id, now=at("2026-02-10T00:00:00"))
        more = [
            item
            for customer in CUSTOMERS
            for item in events(customer, "c", at("2026-02-01T01:00:00"), 30)
        ]
        assert set(world.ingest(more, now=at("2026-03-01T00:00:00"))) == {Status.ACCEPTED}
        again = check_close(world, at("2026-03-03T00:00:00"), first_number=len(issued) + 1)
        assert any(view.replaces == january.number for view in again)
        assert any(line.corrects is not None for view in again for line in view.lines)


# Collations where these ids sort differently from Python's code-point order.
EN_US = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
MIXED = ["Bolt", "acme", "cust-2", "cust_1", "cust3"]


def test_a_close_reads_every_customer_whatever_the_collation() -> None:
    """Batch reads name their customers by a range whose bounds PostgreSQL computes: under
    ICU en-US ``acme`` < ``Bolt`` and ``cust_1`` < ``cust-2``, the reverse of Python's order,
    and bounds computed in Python left customers out (a review found them issued at 0)."""
    server = postgres_url_from_env()
    if server is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    customers: list[dict[str, object]] = [
        {"id": name, "name": name, "subscriptions": [{"plan": "basic", "starts_at": JAN}]}
        for name in MIXED
    ]
    with (
        fresh_postgres_database(server, options=EN_US) as url,
        open_world(url, setup(customers), now=at("2025-12-01T00:00:00")) as world,
    ):
        calls = [
            call(f"{name}-{n}", f"2026-01-{10 + n:02d}T10:00:00Z", customer=name)
            for name in MIXED
            for n in range(3)
        ]
        assert set(world.ingest(calls, now=at("2026-01-20T00:00:00"))) == {Status.ACCEPTED}
        with world.database.transaction() as session:  # some folded, some pending
            fold_pending(session, load_catalog(session), limit=7)
        result = world.close(at("2026-02-03T00:00:00"))
        assert sorted((v.customer.id, v.totals.total) for v in result.issued) == [
            (name, Decimal("3.00")) for name in sorted(MIXED)
        ]


def test_a_customer_with_years_unclosed_reads_its_buckets_alone(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Customers due for the same periods read their buckets together; one due for two
    years reads alone, so it never makes the others read two years (a review found one
    span for the whole batch: 24 times the buckets needed)."""
    reads: list[tuple[tuple[str, ...], Span]] = []
    real = usage_store.load_customers_buckets

    def spy(session: Session, **given: Any) -> Any:
        reads.append((tuple(given["customer_ids"]), given["span"]))
        return real(session, **given)

    monkeypatch.setattr(usage_store, "load_customers_buckets", spy)
    customers: list[dict[str, object]] = [
        {"id": name, "name": name, "subscriptions": [{"plan": "basic", "starts_at": start}]}
        for name, start in (("a", JAN), ("b", JAN), ("old", "2024-01-01T00:00:00Z"))
    ]
    with open_world(db_url, setup(customers), now=at("2023-12-01T00:00:00")) as world:
        calls = [call(f"{n}-1", "2026-01-10T10:00:00Z", customer=n) for n in ("a", "b", "old")]
        assert set(world.ingest(calls, now=at("2026-01-20T00:00:00"))) == {Status.ACCEPTED}
        fold_all(world)
        result = world.close(at("2026-02-03T00:00:00"))
        assert len(result.issued) == 2 + 25
        assert sorted(reads) == [
            (("a", "b"), Span(at("2026-01-01T00:00:00"), at("2026-02-01T00:00:00"))),
            (("old",), Span(at("2024-01-01T00:00:00"), at("2026-02-01T00:00:00"))),
        ]
