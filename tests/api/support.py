"""What the HTTP API tests share: the small setup, its events, and request helpers.

The setup is small enough to compute every figure by hand. Two customers on one monthly
plan:

* ``cust-alpha`` ("Alpha Industries", alias ``alpha_ingest``): a free grant ``welcome`` of
  30.00 from 2026-01-01 and a prepaid grant ``prepay`` of 100.00 bought for 80.00 on
  2026-02-01;
* ``cust-beta`` ("Beta Systems", alias ``beta_ingest``): a free grant ``promo`` of 10.00.

Plan ``pro`` (month) bills four products:

* ``gib_written`` "Data written": meter ``bytes_written`` (sum of ``bytes``, by
  ``cluster_id``), graduated: up to 100 at 0.10, then 0.05;
* ``api_calls`` "API calls": meter ``api_calls`` (count), per unit 0.25;
* ``storage`` "Storage": meter ``storage_gb`` (sum of ``gb``), per unit 2;
* ``support`` "Support": flat 50.00.

The comment above ``STANDARD_EVENTS`` works out the invoices those events make at the fixed
clock 2026-03-05T00:00:00Z, once January and February are closed (grace period 24 hours).
"""

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from httpx import Response

# Starlette warns on import that it would rather drive httpx2 than httpx; pytest turns
# warnings into errors, and which HTTP library the test client uses is not under test.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

__all__ = [
    "ALPHA",
    "ALPHA_ALIAS",
    "ALPHA_NAME",
    "BETA",
    "BETA_ALIAS",
    "BETA_NAME",
    "FIXED",
    "FIXED_TEXT",
    "SETUP_YAML",
    "STANDARD_EVENTS",
    "Billed",
    "Keys",
    "TestClient",
    "body_of",
    "error_of",
    "event",
    "ingest",
    "invoice_for",
    "invoices_of",
    "json_list",
    "json_object",
    "line_figures",
    "money",
    "walk_pages",
]

FIXED = datetime(2026, 3, 5, tzinfo=UTC)
FIXED_TEXT = "2026-03-05T00:00:00Z"

ALPHA = "cust-alpha"
ALPHA_NAME = "Alpha Industries"
ALPHA_ALIAS = "alpha_ingest"
BETA = "cust-beta"
BETA_NAME = "Beta Systems"
BETA_ALIAS = "beta_ingest"

SETUP_YAML = """\
settings:
  grace_period_hours: 24
meters:
  - key: bytes_written
    name: Bytes written
    event_type: produce
    aggregation: sum
    property: bytes
    group_by: [cluster_id]
  - {key: api_calls, name: API calls, event_type: api_call, aggregation: count}
  - {key: storage_gb, name: Storage GB, event_type: storage, aggregation: sum, property: gb}
products:
  - key: gib_written
    name: Data written
    meter: bytes_written
    price:
      model: graduated
      tiers:
        - {up_to: "100", unit_price: "0.10"}
        - {unit_price: "0.05"}
  - key: api_calls
    name: API calls
    meter: api_calls
    price: {model: per_unit, unit_price: "0.25"}
  - key: storage
    name: Storage
    meter: storage_gb
    price: {model: per_unit, unit_price: "2"}
  - key: support
    name: Support
    line_item_type: support
    price: {model: flat, amount: "50.00"}
plans:
  - key: pro
    name: Pro
    interval: month
    products: [gib_written, api_calls, storage, support]
customers:
  - id: cust-alpha
    name: Alpha Industries
    aliases: [alpha_ingest]
    subscriptions:
      - {plan: pro, starts_at: "2026-01-01T00:00:00Z"}
    credits:
      - {key: welcome, kind: free, amount: "30.00", starts_at: "2026-01-01T00:00:00Z"}
      - {key: prepay, kind: prepaid, amount: "100.00", price: "80.00",
         starts_at: "2026-02-01T00:00:00Z"}
  - id: cust-beta
    name: Beta Systems
    aliases: [beta_ingest]
    subscriptions:
      - {plan: pro, starts_at: "2026-01-01T00:00:00Z"}
    credits:
      - {key: promo, kind: free, amount: "10.00", starts_at: "2026-01-01T00:00:00Z"}
"""


def event(
    txn: str,
    customer: str,
    event_type: str,
    timestamp: str,
    **properties: object,
) -> dict[str, object]:
    return {
        "transaction_id": txn,
        "customer_id": customer,
        "event_type": event_type,
        "timestamp": timestamp,
        "properties": properties,
    }


# Alpha, January: bytes 60 + 70 on c1 (130: tier 1 100 x 0.10 = 10.00, tier 2 30 x 0.05 =
# 1.50), four API calls (1.00), support 50.00 -> subtotal 62.50, welcome pays 30.00 -> 32.50.
# Alpha, February: bytes 40 on c1 (4.00), storage 1.5 GB (3.00), support 50.00, prepaid
# purchase 80.00 -> subtotal 137.00; prepay pays 57.00 (never the purchase) -> 80.00.
# Alpha, March (draft at the clock): bytes 10 on c1 (1.00) and 5 on c2 (0.50), support
# 50.00 -> 51.50; prepay's last 43.00 -> 8.50.
# Beta, January: two API calls (0.50), support 50.00 -> 50.50, promo 10.00 -> 40.50.
# Beta, February: support 50.00 -> 50.00. Beta, March: support 50.00 -> 50.00.
STANDARD_EVENTS: tuple[dict[str, object], ...] = (
    event("a-jan-1", ALPHA, "produce", "2026-01-10T01:30:00Z", cluster_id="c1", bytes=60),
    event("a-jan-2", ALPHA, "produce", "2026-01-20T05:00:00Z", cluster_id="c1", bytes="70"),
    event("a-jan-3", ALPHA, "api_call", "2026-01-02T00:00:00Z"),
    event("a-jan-4", ALPHA, "api_call", "2026-01-02T23:59:59Z"),
    event("a-jan-5", ALPHA_ALIAS, "api_call", "2026-01-03T12:00:00Z"),
    event("a-jan-6", ALPHA, "api_call", "2026-01-31T23:59:59.999999Z"),
    event("a-feb-1", ALPHA, "produce", "2026-02-03T00:00:00Z", cluster_id="c1", bytes=40),
    event("a-feb-2", ALPHA, "storage", "2026-02-05T10:00:00Z", gb="1.5"),
    event("a-mar-1", ALPHA, "produce", "2026-03-01T00:00:00Z", cluster_id="c1", bytes=10),
    event("a-mar-2", ALPHA, "produce", "2026-03-02T08:00:00Z", cluster_id="c2", bytes=5),
    event("b-jan-1", BETA, "api_call", "2026-01-05T00:00:00Z"),
    event("b-jan-2", BETA_ALIAS, "api_call", "2026-01-06T00:00:00Z"),
)


@dataclass(frozen=True, slots=True)
class Billed:
    """The invoice ids of the standard story, once January and February are issued."""

    alpha_jan: str
    alpha_feb: str
    alpha_mar: str
    beta_jan: str
    beta_feb: str
    beta_mar: str


@dataclass(frozen=True, slots=True)
class Keys:
    """Authorization headers for each kind of caller."""

    admin: dict[str, str]
    alpha: dict[str, str]
    beta: dict[str, str]
    revoked: dict[str, str]


def body_of(response: Response) -> Any:
    """The decoded JSON body, with floats refused (the API must send decimal strings)."""
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("application/json"), content_type

    def no_float(text: str) -> object:
        raise AssertionError(f"the API sent a JSON float {text} in {response.text[:200]}")

    return json.loads(response.text, parse_float=no_float)


def json_object(response: Response) -> dict[str, Any]:
    body = body_of(response)
    assert isinstance(body, dict), response.text
    return body


def json_list(value: object) -> list[dict[str, Any]]:
    assert isinstance(value, list), value
    assert all(isinstance(item, dict) for item in value), value
    return value


def error_of(response: Response, status: int) -> dict[str, Any]:
    """The ``error`` member of an error response with ``status`` and a non-empty message."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = json_object(response)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert isinstance(error.get("code"), str), body
    assert error["code"], body
    assert isinstance(error.get("message"), str), body
    assert error["message"].strip(), body
    assert "Traceback" not in response.text
    return error


def ingest(
    client: TestClient, headers: Mapping[str, str], events: Sequence[object]
) -> dict[str, Any]:
    response = client.post("/v1/events", json=list(events), headers=dict(headers))
    assert response.status_code == 200, response.text
    return json_object(response)


def walk_pages(
    client: TestClient, url: str, headers: Mapping[str, str], params: Mapping[str, object]
) -> tuple[list[dict[str, Any]], int]:
    """Every item of a listing, following ``next_cursor``; also how many pages it took."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = dict(params)
        if cursor is not None:
            query["cursor"] = cursor
        response = client.get(url, params=query, headers=dict(headers))
        assert response.status_code == 200, response.text
        body = json_object(response)
        pages += 1
        items.extend(json_list(body["data"]))
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert isinstance(cursor, str)
        assert cursor
        assert pages < 10_000, "pagination does not end"


def invoices_of(
    client: TestClient, headers: Mapping[str, str], customer: str, **params: str
) -> list[dict[str, Any]]:
    response = client.get(f"/v1/customers/{customer}/invoices", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = json_object(response)
    assert body["next_cursor"] is None
    return json_list(body["data"])


def invoice_for(
    client: TestClient, headers: Mapping[str, str], customer: str, period_start: str
) -> dict[str, Any]:
    """The customer's invoice of the period starting at ``period_start``."""
    found = [
        invoice
        for invoice in invoices_of(client, headers, customer)
        if invoice["period_start"] == period_start
    ]
    assert len(found) == 1, found
    return found[0]


def line_figures(invoice: Mapping[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """Each line as (name, group as "k=v,...") -> (quantity, amount), the texts as sent."""
    figures: dict[tuple[str, str], tuple[str, str]] = {}
    for line in json_list(invoice["lines"]):
        group = ",".join(f"{k}={v}" for k, v in sorted(line["group"].items()))
        key = (str(line["name"]), group)
        assert key not in figures, f"two lines {key}"
        figures[key] = (str(line["quantity"]), str(line["amount"]))
    return figures


def money(text: object) -> Decimal:
    """A decimal string of the API as a Decimal (refusing anything else)."""
    assert isinstance(text, str), text
    return Decimal(text)
