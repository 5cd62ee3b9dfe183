"""Amounts in the native API carry exactly the currency's minor digits (USD 2, JPY 0,
KWD 3); quantities and unit prices stay exact. Hand-computed in ``tests/currencies.py``."""

from datetime import UTC, datetime
from decimal import Decimal

from meterbill.db.database import Database
from meterbill.services.invoicing import close_periods
from meterbill.services.keys import create_key
from tests.api.support import FIXED, TestClient, ingest, invoices_of, json_list, json_object
from tests.currencies import CUSTOMERS, EVENTS, JANUARY, SETUP_YAML, expected_fields, money_fields

JAN = "2026-01-01T00:00:00Z"


def _billed(database: Database, client: TestClient) -> dict[str, str]:
    with database.transaction() as session:
        _, secret = create_key(session, customer_id=None, now=FIXED, name="admin")
    admin = {"Authorization": f"Bearer {secret}"}
    applied = client.put(
        "/v1/setup", content=SETUP_YAML, headers={**admin, "Content-Type": "application/yaml"}
    )
    assert applied.status_code == 200, applied.text
    assert ingest(client, admin, EVENTS)["accepted"] == len(EVENTS)
    with database.transaction() as session:
        issued = close_periods(session, as_of=datetime(2026, 2, 2, tzinfo=UTC))
    assert len(issued.issued) == len(CUSTOMERS)
    return admin


def test_invoices_breakdowns_credits_payments_notes_and_alerts_in_three_currencies(
    database: Database, client: TestClient
) -> None:
    admin = _billed(database, client)
    for customer, currency in CUSTOMERS.items():
        want = JANUARY[currency]
        january = next(i for i in invoices_of(client, admin, customer) if i["period_start"] == JAN)
        assert january["currency"] == currency
        assert money_fields(january) == expected_fields(currency), currency

        # Breakdown windows are whole minor units (spec 4.8): written like the lines.
        response = client.get(
            f"/v1/customers/{customer}/breakdowns",
            params={
                "starting_on": JAN,
                "ending_before": "2026-02-01T00:00:00Z",
                "window_size": "day",
                "limit": "100",
            },
            headers=admin,
        )
        assert response.status_code == 200, response.text
        days = json_list(json_object(response)["data"])
        assert len(days) == 31
        calls_on_the_10th = next(
            line for line in json_list(days[9]["lines"]) if line["product"] == "calls"
        )
        # One call a day from the 10th to the 12th: 37.5 split by largest remainder.
        assert calls_on_the_10th["quantity"] == "1"
        assert (
            calls_on_the_10th["amount"] == {"USD": "12.50", "JPY": "13", "KWD": "12.500"}[currency]
        )
        assert days[0]["total"] == {"USD": "3.23", "JPY": "4", "KWD": "3.226"}[currency]
        assert sum(Decimal(str(day["total"])) for day in days) == Decimal(want["subtotal"])

        # Credit balances.
        credits = json_list(
            json_object(client.get(f"/v1/customers/{customer}/credits", headers=admin))["data"]
        )
        assert [(c["amount"], c["used"], c["balance"]) for c in credits] == [
            (want["credits_applied"], want["credits_applied"], want["zero"])
        ]

        # A payment of 1 and a credit note of 1.
        paid = client.post(
            f"/v1/invoices/{january['id']}/payments", json={"amount": "1"}, headers=admin
        )
        assert paid.status_code == 200, paid.text
        one = {"USD": "1.00", "JPY": "1", "KWD": "1.000"}[currency]
        assert json_object(paid)["data"]["payments"] == one
        noted = client.post(
            f"/v1/invoices/{january['id']}/credit_notes",
            json={"amount": "1", "reason": "test"},
            headers=admin,
        )
        assert noted.status_code == 201, noted.text
        note = json_object(noted)["data"]
        assert (note["amount"], note["off_due"], note["granted"]) == (one, one, want["zero"])
        due = {"USD": "130.54", "JPY": "131", "KWD": "130.538"}[currency]
        after = json_object(client.get(f"/v1/invoices/{january['id']}", headers=admin))["data"]
        assert (after["payments"], after["credit_notes"], after["amount_due"]) == (one, one, due)

        # An alert's threshold (March's draft is the base fee, 100).
        made = client.post(
            f"/v1/customers/{customer}/alerts",
            json={"key": "over-7", "kind": "draft_total_above", "threshold": "7"},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        assert (
            json_object(made)["data"]["threshold"]
            == {"USD": "7.00", "JPY": "7", "KWD": "7.000"}[currency]
        )
        listed = json_list(
            json_object(client.get(f"/v1/customers/{customer}/alerts", headers=admin))["data"]
        )
        assert listed[0]["value"] == {"USD": "100.00", "JPY": "100", "KWD": "100.000"}[currency]
