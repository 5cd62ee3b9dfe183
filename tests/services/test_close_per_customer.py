"""A customer whose invoice cannot be computed stops only itself (spec 7): every other
customer is still closed with gap-free numbers, and its reads answer a 422 naming the
customer, product and period instead of a 500."""

import logging
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from meterbill.api.app import create_app
from meterbill.cli.serve import start_closer
from meterbill.core.errors import Unrepresentable
from meterbill.db.invoices import invoice_rows
from meterbill.services.ingest import Status
from meterbill.services.keys import create_key
from tests.api.support import TestClient
from tests.services.support import call, open_world, setup

JAN = "2026-01-01T00:00:00Z"
# Each value is within the setup limits (below 10^15) and each event is small; the amount,
# 10000 units at 999,999,999,999,999 a unit, has more cents than a 64-bit integer holds.
HUGE_PRICE = "999999999999999"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def document() -> dict[str, object]:
    products: list[dict[str, object]] = [
        {
            "key": "calls",
            "name": "Calls",
            "meter": "calls",
            "price": {"model": "per_unit", "unit_price": "1.00"},
        },
        {
            "key": "units",
            "name": "Units",
            "meter": "units",
            "price": {"model": "per_unit", "unit_price": HUGE_PRICE},
        },
    ]
    plans: list[dict[str, object]] = [
        {"key": "basic", "name": "Basic", "interval": "month", "products": ["calls"]},
        {"key": "metered", "name": "Metered", "interval": "month", "products": ["units"]},
    ]
    customers: list[dict[str, object]] = [
        {"id": "acme", "name": "Acme", "subscriptions": [{"plan": "basic", "starts_at": JAN}]},
        {"id": "big", "name": "Big", "subscriptions": [{"plan": "metered", "starts_at": JAN}]},
        {"id": "zeta", "name": "Zeta", "subscriptions": [{"plan": "basic", "starts_at": JAN}]},
    ]
    return setup(customers, plans=plans, products=products)


EVENTS = [
    call("a1", "2026-01-05T00:00:00Z", customer="acme"),
    call("b1", "2026-01-05T00:00:00Z", customer="big", units=5000),
    call("b2", "2026-01-06T00:00:00Z", customer="big", units=5000),
    call("z1", "2026-01-05T00:00:00Z", customer="zeta"),
    call("z2", "2026-01-06T00:00:00Z", customer="zeta"),
]
WHERE = "customer 'big', product 'units', period 2026-01-01T00:00:00Z → 2026-02-01T00:00:00Z"


def test_a_customer_that_cannot_be_invoiced_does_not_stop_the_others(db_url: str) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        statuses = world.ingest(EVENTS, now=at("2026-01-10T00:00:00"))
        assert statuses == [Status.ACCEPTED] * len(EVENTS)
        result = world.close(at("2026-02-02T00:00:00"))
        assert [(v.customer.id, v.number, v.totals.total) for v in result.issued] == [
            ("acme", 1, D("1.00")),
            ("zeta", 2, D("2.00")),
        ]
        [failure] = result.failed
        assert failure.customer_id == "big"
        assert isinstance(failure.error, Unrepresentable)
        assert failure.message.startswith(WHERE + ": amount ")
        # The failed customer kept no invoice and took no number: the next close goes on
        # with 3 and 4, and big is reported again until its data is fixed.
        again = world.close(at("2026-03-02T00:00:00"))
        assert [(v.customer.id, v.number) for v in again.issued] == [("acme", 3), ("zeta", 4)]
        assert [f.customer_id for f in again.failed] == ["big"]
        assert [v.number for v in world.invoices("acme", as_of=at("2026-03-02T00:00:00"))] == [
            1,
            3,
            None,
        ]
        with pytest.raises(Unrepresentable, match=WHERE):
            world.invoices("big", as_of=at("2026-03-02T00:00:00"))


def test_reads_of_that_customer_answer_422_naming_customer_product_and_period(
    db_url: str,
) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(EVENTS, now=at("2026-01-10T00:00:00"))
        world.close(at("2026-02-02T00:00:00"))
        with world.database.transaction() as session:
            _, secret = create_key(session, customer_id=None, now=at("2026-01-01T00:00:00"))
        admin = {"Authorization": f"Bearer {secret}"}
        app = create_app(world.database, clock=lambda: at("2026-02-10T00:00:00"))
        with TestClient(app, raise_server_exceptions=False) as client:
            for path in (
                "/v1/customers/big/invoices",
                "/v1/customers/big/breakdowns?starting_on=2026-01-01T00:00:00Z"
                "&ending_before=2026-02-01T00:00:00Z",
                "/metronome/v1/customers/big/invoices",
            ):
                response = client.get(path, headers=admin)
                assert response.status_code == 422, (path, response.text)
                assert WHERE in response.text, path
            # Everyone else reads as usual.
            fine = client.get("/v1/customers/acme/invoices", headers=admin)
            assert fine.status_code == 200, fine.text


def test_the_background_closer_closes_the_others_and_logs_the_failure(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The closer of ``meterbill serve`` runs with the real time: every month since January
    # has ended, so acme and zeta get invoices and big is logged, on every pass.
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(EVENTS, now=at("2026-01-10T00:00:00"))
        stop = threading.Event()
        with caplog.at_level(logging.ERROR, logger="meterbill.closer"):
            thread = start_closer(world.database, every=0.05, stop=stop)
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not any(
                    "customer big not closed" in r.getMessage() for r in caplog.records
                ):
                    time.sleep(0.05)
            finally:
                stop.set()
                thread.join(timeout=30)
        assert not thread.is_alive()
        failure = next(r for r in caplog.records if "customer big not closed" in r.getMessage())
        assert WHERE in failure.getMessage()
        with world.database.transaction() as session:
            numbers = [row.number for row in invoice_rows(session, customer_id="acme")]
            assert invoice_rows(session, customer_id="big") == []
        assert numbers[0] == 1
        assert numbers == sorted(numbers)


def test_a_current_period_that_cannot_be_invoiced_does_not_hold_back_an_ended_one(
    db_url: str,
) -> None:
    """A close rates only the periods it issues (``docs/decisions.md`` 57): big's January
    (one unit) is issued although its February, still open, already cannot be represented;
    the close that reaches February reports big as before."""
    events = [
        call("a1", "2026-01-05T00:00:00Z", customer="acme"),
        call("b0", "2026-01-05T00:00:00Z", customer="big", units=1),
        call("b1", "2026-02-01T00:00:00Z", customer="big", units=5000),
        call("b2", "2026-02-02T00:00:00Z", customer="big", units=5000),
    ]
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        assert world.ingest(events, now=at("2026-02-02T12:00:00")) == [Status.ACCEPTED] * 4
        result = world.close(at("2026-02-03T00:00:00"))
        assert result.failed == []
        assert [(v.customer.id, v.number, v.totals.total) for v in result.issued] == [
            ("acme", 1, D("1.00")),
            ("big", 2, D(HUGE_PRICE)),
            ("zeta", 3, D("0")),
        ]
        later = world.close(at("2026-03-02T00:00:00"))
        assert [(v.customer.id, v.number) for v in later.issued] == [("acme", 4), ("zeta", 5)]
        [failure] = later.failed
        assert failure.customer_id == "big"
        assert failure.message.startswith(
            "customer 'big', product 'units', period 2026-02-01T00:00:00Z → "
            "2026-03-01T00:00:00Z: amount "
        )
