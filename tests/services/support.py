"""A database with a setup applied, and the few service calls the service tests make."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal

from meterbill.core.rating import Line
from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup, load_catalog
from meterbill.services.ingest import Status, ingest_batch, rebuild_meter
from meterbill.services.invoicing import CloseResult, InvoiceView, close_periods, customer_invoices

__all__ = ["World", "call", "open_world", "own", "setup"]


def call(txid: str, when: str, customer: str = "acme", units: object = 1) -> dict[str, object]:
    """A ``call`` event (counted by the ``calls`` meter, summed by ``units``)."""
    return {
        "transaction_id": txid,
        "customer_id": customer,
        "event_type": "call",
        "timestamp": when,
        "properties": {"units": units},
    }


def setup(
    customers: list[dict[str, object]],
    *,
    plans: list[dict[str, object]] | None = None,
    products: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    """A setup: meters ``calls`` (count) and ``units`` (sum of ``units``), per-unit products
    ``calls`` at 1.00 and ``premium`` at 10.00 a call, and ``units`` at 0.01 a unit."""
    return {
        "meters": [
            {"key": "calls", "name": "Calls", "event_type": "call", "aggregation": "count"},
            {
                "key": "units",
                "name": "Units",
                "event_type": "call",
                "aggregation": "sum",
                "property": "units",
            },
        ],
        "products": products
        or [
            {
                "key": "calls",
                "name": "Calls",
                "meter": "calls",
                "price": {"model": "per_unit", "unit_price": "1.00"},
            },
            {
                "key": "premium",
                "name": "Premium calls",
                "meter": "calls",
                "price": {"model": "per_unit", "unit_price": "10.00"},
            },
            {
                "key": "units",
                "name": "Units",
                "meter": "units",
                "price": {"model": "per_unit", "unit_price": "0.01"},
            },
        ],
        "plans": plans
        or [
            {"key": "basic", "name": "Basic", "interval": "month", "products": ["calls"]},
            {"key": "extra", "name": "Extra", "interval": "month", "products": ["premium"]},
            {"key": "weekly", "name": "Weekly", "interval": "week", "products": ["premium"]},
            {"key": "metered", "name": "Metered", "interval": "month", "products": ["units"]},
        ],
        "customers": customers,
    }


class World:
    def __init__(self, database: Database) -> None:
        self.database = database

    def ingest(self, items: list[dict[str, object]], *, now: datetime) -> list[Status]:
        with self.database.transaction() as session:
            outcomes = ingest_batch(session, load_catalog(session), items, now=now)
        return [outcome.status for outcome in outcomes]

    def close(self, as_of: datetime) -> CloseResult:
        with self.database.transaction() as session:
            return close_periods(session, as_of=as_of)

    def invoices(self, customer: str, *, as_of: datetime) -> list[InvoiceView]:
        with self.database.transaction() as session:
            return customer_invoices(session, customer, as_of=as_of)


@contextmanager
def open_world(db_url: str, document: dict[str, object], *, now: datetime) -> Iterator[World]:
    database = Database(db_url)
    try:
        with database.transaction() as session:
            apply_setup(session, document, now=now, rebuild=rebuild_meter)
        yield World(database)
    finally:
        database.dispose()


def own(view: InvoiceView) -> list[Line]:
    return [line for line in view.lines if line.corrects is None]


def amounts(view: InvoiceView) -> list[tuple[str, Decimal]]:
    return [(line.name, line.amount) for line in view.lines]
