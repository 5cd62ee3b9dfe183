"""Anchored and quarterly periods and a recurring credit, end to end through the services
(apply, ingest, close, read, break down, credit balances) on SQLite and PostgreSQL.

Hand-computed figures (spec 5.4, 5.5, 5.7):

- acme is on ``anniversary`` (monthly, ``anchor: subscription``) from 31 Jan 10:30 to
  14 Mar 10:30: periods 31 Jan 10:30 -> 28 Feb 10:30 (clamped) and 28 Feb 10:30 ->
  14 Mar 10:30, a partial last period of the anchored 28 Feb 10:30 -> 31 Mar 10:30 (31 days).
- Usage at 1.00 a unit: 20 at 31 Jan 10:45, 40 on 15 Feb, 5 at 28 Feb 10:15 (still the first
  period: it starts at 10:30) = 65.00; 30 at 28 Feb 11:00 in the second period = 30.00.
- Platform 310.00, prorated: 310.00 in the first period, 310.00 x 14/31 = 140.00 in the second.
- ``monthly-free`` gives 100.00 every month from 31 Jan 10:30, each expiring when the next
  starts: ``monthly-free/2026-01-31`` pays 100.00 of the first invoice (375.00 -> 275.00),
  ``monthly-free/2026-02-28`` 100.00 of the second (170.00 -> 70.00).
- orbit is on ``quarterly`` from 15 Feb: a partial first quarter 15 Feb -> 1 Apr.
"""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from meterbill.core.periods import Span, WindowSize
from meterbill.db.database import Database
from meterbill.services.breakdowns import breakdown_of
from meterbill.services.catalog import apply_setup, current_setup, load_catalog
from meterbill.services.ingest import Status, ingest_batch, rebuild_meter
from meterbill.services.invoicing import InvoiceView, close_periods, customer_invoices
from meterbill.services.reports import credit_balances
from meterbill.views.dashboard import dashboard
from meterbill.views.reports import credit_balance_document

NOW = datetime(2026, 1, 1, tzinfo=UTC)

SETUP: dict[str, Any] = {
    "meters": [
        {
            "key": "units",
            "name": "Units",
            "event_type": "work",
            "aggregation": "sum",
            "property": "units",
        }
    ],
    "products": [
        {
            "key": "units",
            "name": "Units",
            "meter": "units",
            "price": {"model": "per_unit", "unit_price": "1.00"},
        },
        {
            "key": "platform",
            "name": "Platform",
            "price": {"model": "flat", "amount": "310.00", "prorate": True},
        },
    ],
    "plans": [
        {
            "key": "anniversary",
            "name": "Anniversary",
            "interval": "month",
            "anchor": "subscription",
            "products": ["units", "platform"],
        },
        {"key": "quarterly", "name": "Quarterly", "interval": "quarter", "products": ["units"]},
    ],
    "customers": [
        {
            "id": "acme",
            "name": "Acme",
            "subscriptions": [
                {
                    "plan": "anniversary",
                    "starts_at": "2026-01-31T10:30:00Z",
                    "ends_at": "2026-03-14T10:30:00Z",
                }
            ],
            "credits": [
                {
                    "key": "monthly-free",
                    "kind": "free",
                    "amount": "100.00",
                    "starts_at": "2026-01-31T10:30:00Z",
                    "recurrence": "month",
                    "until": "2026-12-31T00:00:00Z",
                }
            ],
        },
        {
            "id": "orbit",
            "name": "Orbit",
            "subscriptions": [{"plan": "quarterly", "starts_at": "2026-02-15T00:00:00Z"}],
        },
    ],
}


def work(txn: str, customer: str, timestamp: str, units: int) -> dict[str, object]:
    return {
        "transaction_id": txn,
        "customer_id": customer,
        "event_type": "work",
        "timestamp": timestamp,
        "properties": {"units": str(units)},
    }


EVENTS = [
    work("a1", "acme", "2026-01-31T10:45:00Z", 20),
    work("a2", "acme", "2026-02-15T12:00:00Z", 40),
    work("a3", "acme", "2026-02-28T10:15:00Z", 5),
    work("a4", "acme", "2026-02-28T11:00:00Z", 30),
    work("o1", "orbit", "2026-03-10T00:00:00Z", 7),
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def summary(view: InvoiceView) -> dict[str, object]:
    return {
        "period": (view.ref.period.start, view.ref.period.end),
        "status": view.status,
        "number": view.number,
        "lines": [(line.name, line.quantity, line.amount) for line in view.lines],
        "subtotal": view.totals.subtotal,
        "credits": [(use.grant, use.amount) for use in view.totals.credits],
        "total": view.totals.total,
        "credit_balance_after": view.totals.credit_balance_after,
    }


def test_anchored_periods_and_a_monthly_credit_end_to_end(db_url: str) -> None:
    database = Database(db_url)
    try:
        with database.transaction() as session:
            apply_setup(session, SETUP, now=NOW, rebuild=rebuild_meter)
        with database.transaction() as session:
            outcomes = ingest_batch(session, load_catalog(session), EVENTS, now=at("2026-03-11"))
        assert [o.status for o in outcomes] == [Status.ACCEPTED] * 5
        with database.transaction() as session:
            document = current_setup(session)
            issued = close_periods(session, as_of=at("2026-03-01T12:00"))
        with database.transaction() as session:
            acme = customer_invoices(session, "acme", as_of=at("2026-03-20"))
            orbit = customer_invoices(session, "orbit", as_of=at("2026-03-20"))
            breakdown = breakdown_of(session, acme[0], size=WindowSize.DAY, as_of=at("2026-03-20"))
            balances = [
                credit_balance_document(balance)
                for balance in credit_balances(session, "acme", as_of=at("2026-04-05"))
            ]
            board = dashboard(session, "acme", as_of=at("2026-03-05"))
        # A late event for the issued first period (after #1 was issued).
        late = [work("a5", "acme", "2026-02-20T00:00:00Z", 10)]
        with database.transaction() as session:
            ingest_batch(session, load_catalog(session), late, now=at("2026-03-11"))
        with database.transaction() as session:
            after = customer_invoices(session, "acme", as_of=at("2026-03-20"))
            rerated = breakdown_of(session, after[0], size=WindowSize.DAY, as_of=at("2026-03-20"))
    finally:
        database.dispose()

    # The setup reads back with its anchor, quarter and recurrence.
    assert document["plans"] == SETUP["plans"]
    customers = document["customers"]
    assert isinstance(customers, list)
    assert customers[0]["credits"] == SETUP["customers"][0]["credits"]

    d = Decimal
    assert [view.number for view in issued.issued] == [1]
    assert issued.failed == []
    assert [summary(view) for view in acme] == [
        {
            "period": (at("2026-01-31T10:30"), at("2026-02-28T10:30")),
            "status": "issued",
            "number": 1,
            "lines": [("Units", d(65), d("65.00")), ("Platform", d(1), d("310.00"))],
            "subtotal": d("375.00"),
            "credits": [("monthly-free/2026-01-31", d("100.00"))],
            "total": d("275.00"),
            "credit_balance_after": d(0),
        },
        {
            "period": (at("2026-02-28T10:30"), at("2026-03-14T10:30")),
            "status": "draft",
            "number": None,
            "lines": [("Units", d(30), d("30.00")), ("Platform", d(1), d("140.00"))],
            "subtotal": d("170.00"),
            "credits": [("monthly-free/2026-02-28", d("100.00"))],
            "total": d("70.00"),
            "credit_balance_after": d(0),
        },
    ]
    assert [(view.ref.period, view.totals.subtotal) for view in orbit] == [
        (Span(at("2026-02-15"), at("2026-04-01")), d("7.00"))
    ]

    # Day windows of the anchored period are cut at UTC midnights inside it: 31 Jan from
    # 10:30, 1-27 Feb, 28 Feb up to 10:30; the flat fee is spread evenly over the 29.
    days = [entry.window for entry in breakdown.windows]
    assert len(days) == 29
    assert days[0] == Span(at("2026-01-31T10:30"), at("2026-02-01"))
    assert days[-1] == Span(at("2026-02-28"), at("2026-02-28T10:30"))
    units = {
        entry.window.start: figure.quantity
        for entry in breakdown.windows
        for line, figure in entry.lines
        if line.product == "units" and figure.quantity
    }
    assert units == {at("2026-01-31T10:30"): d(20), at("2026-02-15"): d(40), at("2026-02-28"): d(5)}
    total = sum(
        (figure.amount for entry in breakdown.windows for _line, figure in entry.lines), d(0)
    )
    assert total == d("375.00")

    # The credits endpoint lists the occurrences as grants, up to those started by as_of.
    assert [
        (g["key"], g["starts_at"], g["expires_at"], g["used"], g["pending_draft"], g["expired"])
        for g in balances
    ] == [
        (
            "monthly-free/2026-01-31",
            "2026-01-31T10:30:00Z",
            "2026-02-28T10:30:00Z",
            "100.00",
            "0.00",
            True,
        ),
        (
            "monthly-free/2026-02-28",
            "2026-02-28T10:30:00Z",
            "2026-03-31T10:30:00Z",
            "0.00",
            "100.00",
            True,
        ),
        (
            "monthly-free/2026-03-31",
            "2026-03-31T10:30:00Z",
            "2026-04-30T10:30:00Z",
            "0.00",
            "0.00",
            False,
        ),
    ]

    # The dashboard at 5 March: the current period is the anchored one holding it, the
    # previous one ends where it starts; its daily chart runs 31 Jan to 14 Mar (43 UTC days)
    # and adds up to both subtotals; 28 Feb holds the end of one period and the start of the
    # other.
    assert (board.previous_span, board.current_span) == (
        Span(at("2026-01-31T10:30"), at("2026-02-28T10:30")),
        Span(at("2026-02-28T10:30"), at("2026-03-14T10:30")),
    )
    assert (board.days[0].day, board.days[-1].day, len(board.days)) == (
        date(2026, 1, 31),
        date(2026, 3, 14),
        43,
    )
    assert sum((day.total for day in board.days), d(0)) == d("545.00")
    (february_28,) = [day for day in board.days if day.day == date(2026, 2, 28)]
    assert february_28.period == "current"

    # Late usage: #1 stays as issued; the next draft carries only the units' difference (the
    # re-rated anchored period is not prorated, so Platform needs no correction), and the
    # re-rated breakdown of #1 shows all usage: 375.00 + 10.00.
    assert summary(after[0]) == summary(acme[0])
    assert [(line.name, line.quantity, line.amount) for line in after[1].lines] == [
        ("Units", d(30), d("30.00")),
        ("Platform", d(1), d("140.00")),
        ("Units (late usage, 2026-01-31)", d(10), d("10.00")),
    ]
    assert sum(
        (figure.amount for entry in rerated.windows for _line, figure in entry.lines), d(0)
    ) == d("385.00")
