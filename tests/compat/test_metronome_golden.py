"""Every golden scenario rendered through the Metronome API, to the cent.

The scenario is loaded with the services (setup, events) and closed at ``as_of``; then the
invoices and the daily breakdowns are read through ``/metronome/v1`` only and turned back
into the scenario's terms (cents → decimal amounts, ``applied_commit_or_credit`` lines →
credits) to be compared with ``expected.json``: amounts exactly, quantities to 12 places.
"""

import json
from decimal import Decimal
from typing import Any

import pytest

from meterbill.core.events import parse_timestamp
from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup
from meterbill.services.ingest import rebuild_meter
from meterbill.services.jsonio import loads_exact
from tests.compat.metronome_support import BASE, close, exact, ingest_events, metronome_env
from tests.golden import SCENARIOS, Scenario, compare_invoices

pytestmark = pytest.mark.skipif(not SCENARIOS, reason="../shared/scenarios not found")

_STATUS = {"draft": "DRAFT", "issued": "FINALIZED", "paid": "FINALIZED", "void": "VOID"}
CENT = Decimal("0.01")


def _amount(cents: Decimal) -> str:
    return str(cents * CENT)


def as_scenario_invoice(invoice: dict[str, Any]) -> dict[str, Any]:
    """A Metronome invoice in the shape ``tests.golden.compare_invoices`` reads."""
    fields = invoice["custom_fields"]
    assert _STATUS[fields["meterbill_status"]] == invoice["status"]
    assert invoice["credit_type"]["name"] == "USD (cents)"
    lines: list[dict[str, Any]] = []
    credits: list[dict[str, Any]] = []
    for line in invoice["line_items"]:
        if line["type"] == "applied_commit_or_credit":
            assert line["total"] < 0
            credits.append(
                {
                    "credit": line["custom_fields"]["meterbill_credit"],
                    "amount": _amount(-line["total"]),
                }
            )
            continue
        lines.append(
            {
                "name": line["name"],
                "product": line["custom_fields"].get("meterbill_product"),
                "type": line["custom_fields"]["meterbill_line_type"],
                "group": line.get("presentation_group_values", {}),
                "quantity": str(line["quantity"]),
                "amount": _amount(line["total"]),
                "unit_price": None
                if line.get("unit_price") is None
                else str(line["unit_price"] * CENT),
            }
        )
    # Metronome's invariant: the invoice total is the sum of its line items.
    assert sum(line["total"] for line in invoice["line_items"]) == invoice["total"]
    applied = sum((Decimal(c["amount"]) for c in credits), Decimal(0))
    assert applied == Decimal(fields["meterbill_credits_applied"]) * CENT
    return {
        "period_start": invoice["start_timestamp"],
        "period_end": invoice["end_timestamp"],
        "status": fields["meterbill_status"],
        "subtotal": _amount(invoice["subtotal"]),
        "credits_applied": str(applied),
        "credits": credits,
        "total": _amount(invoice["total"]),
        "credit_balance_after": _amount(Decimal(fields["meterbill_credit_balance_after"])),
        "lines": lines,
    }


def _load(db_url: str, scenario: Scenario) -> None:
    as_of = parse_timestamp(scenario.expected["as_of"])
    database = Database(db_url)
    try:
        with database.transaction() as session:
            apply_setup(session, scenario.setup, now=as_of, rebuild=rebuild_meter)
        events: list[dict[str, Any]] = []
        with scenario.events.open("rb") as lines:
            for raw in lines:
                if raw.strip():
                    item = loads_exact(raw)
                    assert isinstance(item, dict)
                    events.append(item)
        for start in range(0, len(events), 2000):
            ingest_events(database, events[start : start + 2000], now=as_of)
        close(database, as_of)
    finally:
        database.dispose()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_golden_scenario_through_metronome(db_url: str, scenario: Scenario) -> None:
    _load(db_url, scenario)
    expected = scenario.expected
    as_of = parse_timestamp(scenario.expected["as_of"])
    with metronome_env(db_url, setup=None, clock=as_of) as env:
        client, admin = env.client, env.admin
        problems: list[str] = []
        invoices = expected["invoices"]
        assert isinstance(invoices, dict)
        ids: dict[str, str] = {}
        for customer, wanted in invoices.items():
            found = client.get(f"{BASE}/customers/{customer}", headers=admin)
            assert found.status_code == 200, found.text
            ids[customer] = exact(found)["data"]["id"]
            response = client.get(
                f"{BASE}/customers/{ids[customer]}/invoices", headers=admin, params={"limit": 100}
            )
            assert response.status_code == 200, response.text
            body = exact(response)
            assert body["next_page"] is None
            got = [as_scenario_invoice(item) for item in body["data"]]
            problems.extend(f"{customer}: {p}" for p in compare_invoices(wanted, got))
        for breakdown in expected["breakdowns"]:  # type: ignore[attr-defined]
            problems.extend(
                _compare_breakdown(client, admin, ids[breakdown["customer"]], breakdown)
            )
        assert problems == [], "\n".join(problems)


def _compare_breakdown(
    client: Any, admin: dict[str, str], customer: str, wanted: dict[str, Any]
) -> list[str]:
    period_start = wanted["period_start"]
    invoices = exact(client.get(f"{BASE}/customers/{customer}/invoices", headers=admin))["data"]
    invoice = next(i for i in invoices if i["start_timestamp"] == period_start)
    got: dict[tuple[str, str, str], tuple[Decimal, Decimal]] = {}
    cursor: str | None = None
    while True:
        params = {
            "starting_on": invoice["start_timestamp"],
            "ending_before": invoice["end_timestamp"],
            "window_size": str(wanted["window"]).upper(),
            "skip_zero_qty_line_items": "true",
            **({"next_page": cursor} if cursor else {}),
        }
        response = client.get(
            f"{BASE}/customers/{customer}/invoices/breakdowns", headers=admin, params=params
        )
        assert response.status_code == 200, response.text
        body = exact(response)
        for item in body["data"]:
            if item["id"] != invoice["id"]:
                continue
            day = item["breakdown_start_timestamp"][:10]
            for line in item["line_items"]:
                if line["custom_fields"].get("meterbill_product") != wanted["product"]:
                    continue
                group = json.dumps(line.get("presentation_group_values", {}), sort_keys=True)
                got[(day, line["name"], group)] = (line["quantity"], line["total"] * CENT)
        cursor = body["next_page"]
        if cursor is None:
            break
    problems: list[str] = []
    where = f"breakdown {wanted['customer']} {wanted['product']}"
    for row in wanted["rows"]:
        key = (row["date"], row["line"], json.dumps(row["group"], sort_keys=True))
        figure = got.pop(key, None)
        if figure is None:
            problems.append(f"{where}: missing row {key}")
            continue
        quantity, amount = figure
        if round(quantity, 12) != round(Decimal(row["quantity"]), 12):
            problems.append(f"{where} {key}: quantity {quantity} != {row['quantity']}")
        if amount != Decimal(row["amount"]):
            problems.append(f"{where} {key}: amount {amount} != {row['amount']}")
    problems.extend(f"{where}: unexpected row {key}" for key in got)
    return problems
