"""Every golden scenario through the HTTP API, on SQLite and PostgreSQL.

PUT the setup, POST the events in batches of 1,000 (each JSON Lines line sent as written, so
no number passes through a float), close at the scenario's ``as_of`` with the invoicing
service, then the invoices and daily breakdowns read back over HTTP must match
``expected.json``: amounts exactly, quantities to 12 decimal places.
"""

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from meterbill.api.app import create_app
from meterbill.core.events import parse_timestamp
from meterbill.db.database import Database
from meterbill.services.invoicing import close_periods
from meterbill.services.keys import create_key
from tests.api.support import TestClient, json_list, json_object, walk_pages
from tests.golden import SCENARIOS, Scenario, compare_invoices

pytestmark = [
    pytest.mark.skipif(not SCENARIOS, reason="../shared/scenarios not found"),
]

BATCH = 1_000


def batches(scenario: Scenario) -> Iterator[list[str]]:
    """The event lines of the scenario, BATCH at a time, blank lines left out."""
    lines = [line.strip() for line in scenario.events.read_text().splitlines()]
    events = [line for line in lines if line]
    for start in range(0, len(events), BATCH):
        yield events[start : start + BATCH]


def load(client: TestClient, headers: dict[str, str], scenario: Scenario) -> int:
    """Setup and events through the API; returns how many events were accepted."""
    setup = client.put(
        "/v1/setup",
        content=(scenario.path / "setup.yaml").read_text(),
        headers={**headers, "Content-Type": "application/yaml"},
    )
    assert setup.status_code == 200, setup.text
    accepted = 0
    for lines in batches(scenario):
        for line in lines:
            assert isinstance(json.loads(line), dict), line
        response = client.post(
            "/v1/events",
            content="[" + ",".join(lines) + "]",
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        summary = json_object(response)
        assert summary["accepted"] + summary["duplicate"] + summary["rejected"] == len(lines)
        accepted += summary["accepted"]
    return accepted


def breakdown_problems(
    client: TestClient,
    headers: dict[str, str],
    invoices: dict[str, list[dict[str, Any]]],
    wanted: dict[str, Any],
    as_of: str,
) -> list[str]:
    customer, product = str(wanted["customer"]), str(wanted["product"])
    where = f"breakdown {customer} {product} {wanted['period_start']}"
    period = [i for i in invoices[customer] if i["period_start"] == wanted["period_start"]]
    if len(period) != 1:
        return [f"{where}: {len(period)} invoices for the period"]
    windows, _ = walk_pages(
        client,
        f"/v1/customers/{customer}/breakdowns",
        headers,
        {
            "starting_on": period[0]["period_start"],
            "ending_before": period[0]["period_end"],
            "window_size": wanted["window"],
            "skip_zero_qty_line_items": "true",
            "as_of": as_of,
            "limit": 1000,
        },
    )
    got: dict[tuple[str, str, str], tuple[Decimal, Decimal]] = {}
    for window in windows:
        assert window["invoice_id"] == period[0]["id"], window["invoice_id"]
        for line in json_list(window["lines"]):
            if line["product"] != product:
                continue
            key = (window["start"][:10], line["name"], json.dumps(line["group"], sort_keys=True))
            assert key not in got, f"{where}: two rows {key}"
            got[key] = (Decimal(line["quantity"]), Decimal(line["amount"]))
    problems: list[str] = []
    for row in json_list(wanted["rows"]):
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


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_through_the_api(database: Database, scenario: Scenario) -> None:
    expected = scenario.expected
    as_of = str(expected["as_of"])
    moment = parse_timestamp(as_of)
    app: FastAPI = create_app(database, clock=lambda: moment)
    with database.transaction() as session:
        _, secret = create_key(session, customer_id=None, now=moment)
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        assert load(client, headers, scenario) > 0
        with database.transaction() as session:
            close_periods(session, as_of=moment)
        wanted_invoices = expected["invoices"]
        assert isinstance(wanted_invoices, dict)
        problems: list[str] = []
        invoices: dict[str, list[dict[str, Any]]] = {}
        for customer, wanted in wanted_invoices.items():
            invoices[customer], _ = walk_pages(
                client, f"/v1/customers/{customer}/invoices", headers, {"as_of": as_of}
            )
            problems.extend(compare_invoices(wanted, invoices[customer]))
        wanted_breakdowns = expected["breakdowns"]
        assert isinstance(wanted_breakdowns, list)
        assert wanted_breakdowns, "a scenario without breakdowns checks less than it should"
        for wanted_breakdown in wanted_breakdowns:
            assert isinstance(wanted_breakdown, dict)
            problems.extend(breakdown_problems(client, headers, invoices, wanted_breakdown, as_of))
    assert problems == [], "\n".join(problems)
