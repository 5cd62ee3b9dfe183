"""Spec 5.6 as a property: voids, reissues, write-offs, credit notes, payments and late
events in any order. Afterwards, for every period that was not written off, the invoices
that are not void together bill exactly what a database that saw every event before any
close rates for it; an issued invoice's lines and figures never change; no grant pays more
than it holds; credit notes are numbered 1, 2, 3... and invoices gap-free."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterbill.core.errors import BillingError
from meterbill.db.database import Database
from meterbill.services.catalog import load_catalog
from meterbill.services.ingest import ingest_batch
from meterbill.services.invoicing import (
    InvoiceView,
    close_periods,
    customer_invoices,
    issue_credit_note,
    record_payment,
    void_invoice,
)
from meterbill.views.invoice import invoice_document
from tests.property.test_billing_properties import Databases, billed_by_origin
from tests.services.support import call, setup

JAN = datetime(2026, 1, 1, tzinfo=UTC)
MONTHS = [datetime(2026, month, 1, tzinfo=UTC) for month in range(1, 6)]  # Jan..May
END = datetime(2026, 5, 3, tzinfo=UTC)
_ZERO = Decimal(0)
FREE = Decimal("5.00")

DOCUMENT = setup(
    [
        {
            "id": "acme",
            "name": "Acme",
            "subscriptions": [
                {"plan": "basic", "starts_at": "2026-01-01T00:00:00Z"},
                {"plan": "metered", "starts_at": "2026-01-01T00:00:00Z"},
            ],
            "credits": [
                {
                    "key": "free",
                    "kind": "free",
                    "amount": str(FREE),
                    "starts_at": "2026-01-01T00:00:00Z",
                }
            ],
        }
    ]
)
# What each invoice keeps once issued (status, payments and the like may change).
FROZEN = (
    "id",
    "number",
    "plan",
    "period_start",
    "period_end",
    "issued_at",
    "lines",
    "subtotal",
    "credits_applied",
    "credits",
    "total",
    "credit_balance_after",
    "replaces",
)

Batch = list[tuple[int, int, int]]
event_batches = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 27), st.integers(1, 500)), min_size=1, max_size=4
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("events"), event_batches),
        st.tuples(st.just("close"), st.integers(0, 3)),
        st.tuples(st.just("void"), st.integers(0, 20), st.booleans()),
        st.tuples(st.just("credit"), st.integers(0, 20), st.integers(1, 100)),
        st.tuples(st.just("pay"), st.integers(0, 20), st.integers(1, 100)),
    ),
    min_size=4,
    max_size=10,
)


def ingest(database: Database, items: list[dict[str, object]], now: datetime) -> None:
    """``now`` is after every event: none is refused as in the future."""
    with database.transaction() as session:
        ingest_batch(session, load_catalog(session), items, now=now)


def views(database: Database, as_of: datetime) -> list[InvoiceView]:
    with database.transaction() as session:
        return customer_invoices(session, "acme", as_of=as_of)


def frozen(view: InvoiceView) -> dict[str, object]:
    document = invoice_document(view)
    return {key: document[key] for key in FROZEN}


@settings(
    max_examples=5,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps)
def test_voids_credit_notes_and_late_events_bill_every_period_once(
    databases: Databases, plan: list[tuple[object, ...]]
) -> None:
    every: list[dict[str, object]] = []
    issued: dict[str, dict[str, object]] = {}
    written_off: set[tuple[str, datetime]] = set()
    notes = 0
    with databases.fresh(document=DOCUMENT) as database:
        clock = JAN + timedelta(days=1)
        current: list[InvoiceView] = []
        for index, step in enumerate(plan):
            clock += timedelta(hours=1)
            numbered = [view for view in current if view.number is not None]
            if step[0] == "events":
                batch = [
                    call(
                        f"e{index}-{n}",
                        (MONTHS[month] + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        units=units,
                    )
                    for n, (month, day, units) in enumerate(cast(Batch, step[1]))
                ]
                every.extend(batch)
                ingest(database, batch, END)
            elif step[0] == "close":
                clock = max(clock, MONTHS[cast(int, step[1]) + 1] + timedelta(days=2))
                with database.transaction() as session:
                    close_periods(session, as_of=clock)
            elif numbered:
                target = numbered[cast(int, step[1]) % len(numbered)]
                amount = Decimal(cast(int, step[2])) / 10
                try:
                    with database.transaction() as session:
                        if step[0] == "void":
                            void_invoice(session, target.id, now=clock, write_off=bool(step[2]))
                            if step[2]:
                                written_off.add((target.ref.plan, target.ref.period.start))
                        elif step[0] == "credit":
                            note = issue_credit_note(
                                session, target.id, amount=amount, reason="p", at=clock, now=clock
                            )
                            notes += 1
                            assert note.number == notes
                        else:
                            record_payment(session, target.id, amount=amount, now=clock)
                except BillingError:
                    pass  # refused: nothing changed
            current = views(database, clock)
            for view in current:
                if view.number is None:
                    continue
                issued.setdefault(view.id, frozen(view))
                assert frozen(view) == issued[view.id]
                assert view.amount_due == (
                    _ZERO
                    if view.status in ("void", "paid")
                    else max(view.totals.total - view.payments - view.credit_notes_off_due, _ZERO)
                )
        with database.transaction() as session:
            close_periods(session, as_of=END)
        final = views(database, END)
    with databases.fresh(document=DOCUMENT) as reference:
        ingest(reference, every, END)
        expected = views(reference, END)
    live = [view for view in final if view.status != "void"]
    assert all(view.status != "draft" for view in live if view.ref.period.start < MONTHS[4])

    def kept(
        billed: dict[tuple[str, datetime, str], tuple[Decimal, Decimal]],
    ) -> dict[tuple[str, datetime, str], tuple[Decimal, Decimal]]:
        return {o: v for o, v in billed.items() if (o[0], o[1]) not in written_off}

    assert kept(billed_by_origin(live)) == kept(billed_by_origin(expected))
    numbers = sorted(view.number for view in final if view.number is not None)
    assert numbers == list(range(1, len(numbers) + 1))
    drawn = sum(
        (use.amount for view in live for use in view.totals.credits if use.grant == "free"), _ZERO
    )
    assert drawn <= FREE
