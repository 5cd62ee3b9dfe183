"""What the reliability tests share: a setup, events, clients that retry, invoice figures.

The ``meterbill serve`` processes themselves are started, killed and stopped by
:class:`bench.server.ServeProcess`, the one helper for that (the benchmark, the compat and
browser tests use it too). Every wait here has a deadline; nothing waits forever.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup
from meterbill.services.ingest import rebuild_meter
from meterbill.services.invoicing import customer_invoices
from meterbill.services.keys import create_key

__all__ = [
    "NOW",
    "Figures",
    "Retrying",
    "bearer",
    "event",
    "figures",
    "prepare",
    "setup_document",
]

NOW = datetime(2026, 4, 10, tzinfo=UTC)
"""The clock of everything the tests do in process (setup, keys, reference ingest)."""


def setup_document(
    customers: int, *, starts_at: str = "2026-01-01T00:00:00Z", ends_at: str | None = None
) -> dict[str, object]:
    """One meter (sum of ``n`` by ``region``) priced 0.01 a unit on a monthly plan, and
    ``customers`` customers ``c0``, ``c1``, … subscribed to it."""
    subscription: dict[str, object] = {"plan": "basic", "starts_at": starts_at}
    if ends_at is not None:
        subscription["ends_at"] = ends_at
    return {
        "meters": [
            {
                "key": "calls",
                "name": "Calls",
                "event_type": "call",
                "aggregation": "sum",
                "property": "n",
                "group_by": ["region"],
            }
        ],
        "products": [
            {
                "key": "calls",
                "name": "Calls",
                "meter": "calls",
                "price": {"model": "per_unit", "unit_price": "0.01"},
            }
        ],
        "plans": [{"key": "basic", "name": "Basic", "interval": "month", "products": ["calls"]}],
        "customers": [
            {"id": f"c{n}", "name": f"Customer {n}", "subscriptions": [subscription]}
            for n in range(customers)
        ],
    }


def prepare(url: str, setup: dict[str, object]) -> str:
    """Apply ``setup`` to the database at ``url`` (migrating it); an admin key's secret."""
    database = Database(url)
    try:
        with database.transaction() as session:
            apply_setup(session, setup, now=NOW, rebuild=rebuild_meter)
            _, secret = create_key(session, customer_id=None, now=NOW, name="reliability")
    finally:
        database.dispose()
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def event(txid: str, customer: str, minute: int, n: int) -> dict[str, object]:
    """A ``call`` event ``minute`` minutes after 2026-01-01 (so in January to March)."""
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
    return {
        "transaction_id": txid,
        "customer_id": customer,
        "event_type": "call",
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "properties": {"n": n, "region": ("eu", "us")[minute % 2]},
    }


class Retrying:
    """Posts event batches until the server takes them, whatever happens to the server.

    A transport error (the server was killed, is restarting) or a 5xx is retried with the
    very same body, so the same transaction ids, until ``deadline`` (monotonic seconds).
    Any other answer than 200, or a rejected event, fails at once.
    """

    def __init__(self, base_url: str, secret: str, *, deadline: float) -> None:
        self._client = httpx.Client(base_url=base_url, headers=bearer(secret), timeout=30)
        self._deadline = deadline
        self.failures = 0

    def post(self, batch: Sequence[dict[str, object]]) -> dict[str, Any]:
        pause = 0.05
        while True:
            if time.monotonic() > self._deadline:
                raise TimeoutError(
                    f"batch not accepted before the deadline ({self.failures} tries)"
                )
            try:
                response = self._client.post("/v1/events", json=list(batch))
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code < 500:
                break
            self.failures += 1
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        statuses = {result["status"] for result in body["results"]}
        assert statuses <= {"accepted", "duplicate"}, body
        return body

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True, slots=True)
class Figures:
    """An invoice as numbers: period start, lines (name, group, quantity, amount), totals."""

    period_start: datetime
    number: int | None
    lines: tuple[tuple[str, tuple[tuple[str, str], ...], Decimal, Decimal], ...]
    subtotal: Decimal
    total: Decimal


def figures(url: str, customer: str, *, as_of: datetime) -> list[Figures]:
    """The customer's invoices (issued and drafts) at ``as_of``, read through the services."""
    database = Database(url)
    try:
        with database.transaction() as session:
            views = customer_invoices(session, customer, as_of=as_of)
    finally:
        database.dispose()
    return [
        Figures(
            view.ref.period.start,
            view.number,
            tuple((line.name, line.group, line.quantity, line.amount) for line in view.lines),
            view.totals.subtotal,
            view.totals.total,
        )
        for view in views
    ]
