"""Product maximum, discounts, taxes and the seller end to end through the services (apply,
ingest, close, late usage, read, break down, JSON) on SQLite and PostgreSQL (spec 6).

Hand-computed figures:

- January: compute 2063.91 h × 0.40 = 825.564 → 825.56; egress 1096.9 GB × 0.10 = 109.69;
  support 150.00 (tax exempt); compute maximum 600.00 → −225.56; ``launch`` 10 % of egress
  109.69 = 10.969 → −10.97. Subtotal 848.72. VAT 20 % of 848.72 − 150 = 698.72 → 139.744 →
  139.74. The 25.00 credit pays the taxed amount: total 848.72 + 139.74 − 25 = 963.46.
- Late egress for January (87.5 GB, after #1 was issued): January re-rated is egress
  1184.4 → 118.44 (+8.75) and ``launch`` 11.844 → −11.84 (−0.87, quantity 0). No tax
  correction: the corrections are taxed on February.
- February: compute 100 h → 40.00, egress 500 GB → 50.00, support 150.00; ``launch``
  (second and last period) −5.00; ``goodwill`` −75.00; corrections +8.75 and −0.87.
  Subtotal 167.88; VAT 20 % of 40 + 50 − 5 − 75 + 8.75 − 0.87 = 17.88 → 3.576 → 3.58;
  total 171.46.
- March: no usage, no discount left; support only; VAT 0.00 (support is exempt).
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from meterbill.core.periods import WindowSize
from meterbill.db.database import Database
from meterbill.services.breakdowns import breakdown_of
from meterbill.services.catalog import apply_setup, current_setup, load_catalog
from meterbill.services.ingest import Status, ingest_batch, rebuild_meter
from meterbill.services.invoicing import InvoiceView, close_periods, customer_invoices
from meterbill.services.seller import Seller, seller_of
from meterbill.views.invoice import invoice_document

NOW = datetime(2026, 1, 1, tzinfo=UTC)
D = Decimal

SETUP: dict[str, Any] = {
    "settings": {
        "grace_period_hours": "24",
        "taxes": [{"key": "vat20", "name": "VAT 20%", "rate": "0.20"}],
        "seller": {
            "name": "Cloudworks Ltd",
            "address": "1 Example Street, London",
            "email": "billing@cloudworks.example",
            "tax_id": "GB123456789",
        },
    },
    "meters": [
        {"key": k, "name": k, "event_type": k, "aggregation": "sum", "property": "value"}
        for k in ("compute", "egress")
    ],
    "products": [
        {
            "key": "compute",
            "name": "Compute hours",
            "meter": "compute",
            "price": {"model": "per_unit", "unit_price": "0.40"},
            "maximum": "600.00",
        },
        {
            "key": "egress",
            "name": "Egress",
            "meter": "egress",
            "price": {"model": "per_unit", "unit_price": "0.10"},
        },
        {
            "key": "support",
            "name": "Support",
            "line_item_type": "support",
            "price": {"model": "flat", "amount": "150.00"},
            "tax_exempt": True,
        },
    ],
    "plans": [
        {
            "key": "growth",
            "name": "Growth",
            "interval": "month",
            "products": ["compute", "egress", "support"],
        }
    ],
    "customers": [
        {
            "id": "nimbus",
            "name": "Nimbus",
            "subscriptions": [{"plan": "growth", "starts_at": "2026-01-01T00:00:00Z"}],
            "credits": [
                {
                    "key": "free",
                    "kind": "free",
                    "amount": "25.00",
                    "starts_at": "2026-01-01T00:00:00Z",
                }
            ],
            "discounts": [
                {
                    "key": "launch",
                    "percent": "10",
                    "products": ["egress"],
                    "starts_at": "2026-01-01T00:00:00Z",
                    "periods": 2,
                },
                {
                    "key": "goodwill",
                    "amount": "75.00",
                    "starts_at": "2026-02-01T00:00:00Z",
                    "periods": 1,
                },
            ],
            "taxes": ["vat20"],
        }
    ],
}


def use(txn: str, kind: str, timestamp: str, value: str) -> dict[str, object]:
    return {
        "transaction_id": txn,
        "customer_id": "nimbus",
        "event_type": kind,
        "timestamp": timestamp,
        "properties": {"value": value},
    }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def lines(view: InvoiceView) -> list[tuple[str, str, str | None, Decimal, Decimal]]:
    return [(li.name, li.type, li.product, li.quantity, li.amount) for li in view.lines]


def figures(view: InvoiceView) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    t = view.totals
    return (t.subtotal, t.tax, t.credits_applied, t.total)


def test_adjustments_end_to_end(db_url: str) -> None:
    database = Database(db_url)
    try:
        with database.transaction() as session:
            apply_setup(session, SETUP, now=NOW, rebuild=rebuild_meter)
            january = [
                use("c1", "compute", "2026-01-10T00:00:00Z", "2063.91"),
                use("e1", "egress", "2026-01-11T00:00:00Z", "1096.9"),
            ]
            outcomes = ingest_batch(session, load_catalog(session), january, now=at("2026-01-12"))
            assert [o.status for o in outcomes] == [Status.ACCEPTED] * 2
        with database.transaction() as session:
            [issued] = close_periods(session, as_of=at("2026-02-02")).issued
        with database.transaction() as session:
            [first, _] = customer_invoices(session, "nimbus", as_of=at("2026-02-10"))
            days = breakdown_of(session, first, size=WindowSize.DAY, as_of=at("2026-02-10"))
            document = current_setup(session)
            seller = seller_of(session)
            late = [use("e2", "egress", "2026-01-20T00:00:00Z", "87.5")]
            february = [
                use("c2", "compute", "2026-02-10T00:00:00Z", "100"),
                use("e3", "egress", "2026-02-11T00:00:00Z", "500"),
            ]
            ingest_batch(session, load_catalog(session), late + february, now=at("2026-02-12"))
        with database.transaction() as session:
            views = customer_invoices(session, "nimbus", as_of=at("2026-03-10"))
            second_days = breakdown_of(
                session, views[1], size=WindowSize.DAY, as_of=at("2026-03-10")
            )
    finally:
        database.dispose()

    january_lines = [
        ("Compute hours", "usage", "compute", D("2063.91"), D("825.56")),
        ("Egress", "usage", "egress", D("1096.9"), D("109.69")),
        ("Support", "support", "support", D(1), D("150.00")),
        ("Compute hours - maximum", "maximum", "compute", D(1), D("-225.56")),
        ("Discount launch", "discount", None, D(1), D("-10.97")),
        ("VAT 20%", "tax", None, D(1), D("139.74")),
    ]
    assert lines(issued) == january_lines
    assert figures(issued) == (D("848.72"), D("139.74"), D("25.00"), D("963.46"))
    # The issued invoice keeps its lines and tax as stored.
    assert (first.status, first.number, lines(first)) == ("issued", 1, january_lines)
    assert figures(first) == (D("848.72"), D("139.74"), D("25.00"), D("963.46"))
    shown = invoice_document(first)
    assert (shown["subtotal"], shown["tax"], shown["total"]) == ("848.72", "139.74", "963.46")

    # The day windows add up to each line, and to subtotal + tax.
    for position, line in enumerate(first.lines):
        assert sum(entry.lines[position][1].amount for entry in days.windows) == line.amount
    window_sum = sum(figure.amount for entry in days.windows for _, figure in entry.lines)
    assert window_sum == D("988.46")
    # Product maximum lines hold no quantity in the windows.
    assert {entry.lines[3][1].quantity for entry in days.windows} == {D(0)}

    assert document["settings"] == SETUP["settings"]
    assert document["products"] == SETUP["products"]
    customers = document["customers"]
    assert isinstance(customers, list)
    assert customers[0]["discounts"] == SETUP["customers"][0]["discounts"]
    assert customers[0]["taxes"] == ["vat20"]
    assert seller == Seller(
        name="Cloudworks Ltd",
        address=("1 Example Street, London",),
        email="billing@cloudworks.example",
        tax_id="GB123456789",
    )

    _, second, third = views
    assert lines(second) == [
        ("Compute hours", "usage", "compute", D(100), D("40.00")),
        ("Egress", "usage", "egress", D(500), D("50.00")),
        ("Support", "support", "support", D(1), D("150.00")),
        ("Discount launch", "discount", None, D(1), D("-5.00")),
        ("Discount goodwill", "discount", None, D(1), D("-75.00")),
        ("Egress (late usage, 2026-01-01)", "usage", "egress", D("87.5"), D("8.75")),
        ("Discount launch (late usage, 2026-01-01)", "discount", None, D(0), D("-0.87")),
        ("VAT 20%", "tax", None, D(1), D("3.58")),
    ]
    assert figures(second) == (D("167.88"), D("3.58"), D(0), D("171.46"))
    # Without correction lines (broken down in their own period) the windows add up to the
    # draft's own lines: 40 + 50 + 150 − 5 − 75 + 3.58.
    own = sum(figure.amount for entry in second_days.windows for _, figure in entry.lines)
    assert own == D("163.58")

    assert lines(third) == [
        ("Support", "support", "support", D(1), D("150.00")),
        ("VAT 20%", "tax", None, D(1), D("0.00")),
    ]
    assert figures(third) == (D("150.00"), D("0.00"), D(0), D("150.00"))
