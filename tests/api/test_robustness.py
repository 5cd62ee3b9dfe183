"""Never a 500: junk requests get a 4xx with a message in the error shape.

A known server error is kept below as a strict expected failure, with the request that
triggers it.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from meterbill.db.database import Database
from tests.api.support import (
    ALPHA,
    Billed,
    Keys,
    TestClient,
    error_of,
    event,
    invoice_for,
    json_list,
    json_object,
    line_figures,
)

RANGE = {"starting_on": "2026-01-01T00:00:00Z", "ending_before": "2026-01-02T00:00:00Z"}
INVOICES = f"/v1/customers/{ALPHA}/invoices"
BREAKDOWNS = f"/v1/customers/{ALPHA}/breakdowns"
USAGE = f"/v1/customers/{ALPHA}/usage"
CREDITS = f"/v1/customers/{ALPHA}/credits"
# Times meterbill does not compute with (it supports 2000 up to 2100): near datetime's edges.
END_OF_TIME = {
    "window_size": "hour",
    "starting_on": "9999-12-31T22:00:00Z",
    "ending_before": "9999-12-31T23:59:59Z",
}
YEAR_ONE = {"starting_on": "0001-01-01T00:00:00Z", "ending_before": "0001-01-02T00:00:00Z"}


@dataclass(frozen=True, slots=True)
class Junk:
    label: str
    method: str
    url: str
    status: int
    params: Mapping[str, str | list[str]] = field(default_factory=dict)
    content: bytes | None = None
    content_type: str = "application/json"


JUNK: list[Junk] = [
    Junk("limit not a number", "GET", INVOICES, 400, {"limit": "abc"}),
    Junk("limit a float", "GET", INVOICES, 400, {"limit": "1.5"}),
    Junk("huge limit", "GET", INVOICES, 400, {"limit": "1" + "0" * 30}),
    Junk("limit over 1000", "GET", "/v1/customers", 400, {"limit": "1001"}),
    Junk("negative limit", "GET", INVOICES, 400, {"limit": "-1"}),
    Junk("unknown status", "GET", INVOICES, 400, {"status": "open"}),
    Junk("status list with junk", "GET", INVOICES, 400, {"status": ["draft", "7"]}),
    Junk("period filter not a time", "GET", INVOICES, 400, {"period_start_from": "2026"}),
    Junk("as_of not a time", "GET", INVOICES, 400, {"as_of": "now"}),
    Junk("as_of 30 February", "GET", INVOICES, 400, {"as_of": "2026-02-30T00:00:00Z"}),
    Junk("as_of leap second", "GET", INVOICES, 400, {"as_of": "2026-06-30T23:59:60Z"}),
    Junk("as_of offset out of range", "GET", INVOICES, 400, {"as_of": "2026-01-01T00:00:00+24:00"}),
    Junk("cursor not base64", "GET", INVOICES, 400, {"cursor": "!!!"}),
    Junk("cursor of junk", "GET", INVOICES, 400, {"cursor": "aGVsbG8"}),
    Junk("cursor with a negative offset", "GET", INVOICES, 400, {"cursor": "bzotMQ"}),
    Junk("cursor with a huge offset", "GET", INVOICES, 400, {"cursor": "bzo" + "5" * 6000}),
    Junk("cursor not ASCII", "GET", "/v1/customers", 400, {"cursor": "é"}),
    Junk("unknown window size", "GET", BREAKDOWNS, 400, {**RANGE, "window_size": "month"}),
    Junk(
        "window size in capitals", "GET", USAGE, 400, {**RANGE, "meter": "x", "window_size": "DAY"}
    ),
    Junk(
        "skip flag not a boolean",
        "GET",
        BREAKDOWNS,
        400,
        {**RANGE, "skip_zero_qty_line_items": "2"},
    ),
    Junk("usage without a meter", "GET", USAGE, 400, RANGE),
    Junk("as_of before 2000", "GET", INVOICES, 400, {"as_of": "1999-12-31T23:59:59Z"}),
    Junk("as_of in 2100", "GET", INVOICES, 400, {"as_of": "2100-01-01T00:00:00Z"}),
    Junk("as_of at the end of time", "GET", CREDITS, 400, {"as_of": "9999-12-31T23:59:59Z"}),
    Junk("as_of of one invoice", "GET", "/v1/invoices/x", 400, {"as_of": "9999-12-31T23:59:59Z"}),
    Junk("breakdowns at the end of time", "GET", BREAKDOWNS, 400, END_OF_TIME),
    Junk("usage at the end of time", "GET", USAGE, 400, {**END_OF_TIME, "meter": "api_calls"}),
    Junk("usage in year 1", "GET", USAGE, 400, {**YEAR_ONE, "meter": "api_calls"}),
    Junk("unknown customer", "GET", "/v1/customers/nobody/credits", 404),
    Junk("unknown invoice", "GET", "/v1/invoices/nothing", 404),
    Junk("unknown route", "GET", "/v1/nothing", 404),
    Junk("wrong method", "DELETE", "/v1/setup", 405),
    Junk("events: empty body", "POST", "/v1/events", 400, content=b""),
    Junk("events: a number", "POST", "/v1/events", 400, content=b"42"),
    Junk("events: null", "POST", "/v1/events", 400, content=b"null"),
    Junk("events: deep nesting", "POST", "/v1/events", 400, content=b"[" * 5000),
    Junk("events: huge integer", "POST", "/v1/events", 400, content=b"[" + b"9" * 5000 + b"]"),
    Junk(
        "setup: empty body", "PUT", "/v1/setup", 400, content=b"", content_type="application/yaml"
    ),
    Junk("setup: an array of numbers", "PUT", "/v1/setup", 400, content=b"[1, 2, 3]"),
    Junk(
        "setup: not UTF-8", "PUT", "/v1/setup", 400, content=b"\xff\xfe", content_type="text/plain"
    ),
    Junk("setup: a number", "PUT", "/v1/setup", 400, content=b"7", content_type="application/yaml"),
]


def _payments(billed: Billed) -> list[Junk]:
    url = f"/v1/invoices/{billed.alpha_jan}/payments"
    return [
        Junk("payment: empty body", "POST", url, 400, content=b""),
        Junk("payment: an array of numbers", "POST", url, 400, content=b"[1, 2, 3]"),
        Junk("payment: not JSON", "POST", url, 400, content=b"amount=5"),
        Junk("payment: amount a list", "POST", url, 400, content=b'{"amount": ["1"]}'),
        Junk("payment: method null", "POST", url, 400, content=b'{"amount": "1", "method": null}'),
        Junk("payment: sNaN", "POST", url, 400, content=b'{"amount": "sNaN"}'),
        Junk("payment: tiny exponent", "POST", url, 400, content=b'{"amount": "1e-999999"}'),
        Junk("payment: huge exponent", "POST", url, 400, content=b'{"amount": "1e999999999"}'),
        Junk("payment: 32 digits", "POST", url, 400, content=b'{"amount": "' + b"9" * 32 + b'"}'),
    ]


def test_junk_requests_get_a_4xx_with_a_message(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    problems: list[str] = []
    for junk in [*JUNK, *_payments(billed)]:
        response = client.request(
            junk.method,
            junk.url,
            params=junk.params,
            content=junk.content,
            headers={**keys.admin, "Content-Type": junk.content_type},
        )
        if response.status_code != junk.status:
            problems.append(f"{junk.label}: {response.status_code} {response.text[:200]}")
            continue
        error_of(response, junk.status)
    assert problems == []
    # None of it changed anything.
    january = json_object(client.get(f"/v1/invoices/{billed.alpha_jan}", headers=keys.admin))
    assert (january["data"]["status"], january["data"]["payments"]) == ("issued", "0.00")


def test_an_array_of_numbers_is_rejected_event_by_event(client: TestClient, keys: Keys) -> None:
    # A batch whose items are not events: each item gets its verdict (spec 3), not a 400.
    response = client.post("/v1/events", json=[1, 2.5, None, "x"], headers=keys.admin)
    assert response.status_code == 200, response.text
    assert [r["reason"] for r in json_list(json_object(response)["results"])] == [
        "event must be a JSON object, got number",
        "event must be a JSON object, got number",
        "event must be a JSON object, got null",
        "event must be a JSON object, got string",
    ]


def test_nul_in_a_path_key_setup_or_payment_is_not_a_500(
    request: pytest.FixtureRequest,
    database: Database,
    client: TestClient,
    keys: Keys,
    billed: Billed,
) -> None:
    statuses = [
        client.get("/v1/customers/a%00b", headers=keys.admin).status_code,
        client.get("/v1/invoices/a%00b", headers=keys.admin).status_code,
        client.get("/v1/setup", headers={"Authorization": "Bearer mb_a\x00b_c"}).status_code,
    ]
    # A NUL in the path or a header is refused at the door, before auth or lookup.
    assert statuses == [400, 400, 400]
    # Stored or refused, either is fine; a server error is not.
    setup = client.put(
        "/v1/setup",
        json={"customers": [{"id": "cust-nul", "name": "a\x00b"}]},
        headers=keys.admin,
    )
    payment = client.post(
        f"/v1/invoices/{billed.alpha_jan}/payments",
        json={"amount": "1.00", "reference": "a\x00b"},
        headers=keys.admin,
    )
    assert [setup.status_code < 500, payment.status_code < 500] == [True, True]


def test_nul_in_one_event_rejects_or_keeps_only_that_event(
    request: pytest.FixtureRequest, database: Database, client: TestClient, keys: Keys
) -> None:
    found = []
    for position, field_name in enumerate(("transaction_id", "customer_id", "event_type")):
        odd = event(f"nul-{position}", ALPHA, "api_call", "2026-03-02T00:00:00Z")
        odd[field_name] = f"{odd[field_name]}\x00"
        batch = [event(f"fine-{position}", ALPHA, "api_call", "2026-03-02T00:00:00Z"), odd]
        response = client.post("/v1/events", json=batch, headers=keys.admin)
        found.append(response.status_code)
        if response.status_code == 200:
            assert json_list(json_object(response)["results"])[0]["status"] == "accepted"
    assert found == [200, 200, 200]
    # The three valid events count, whatever became of the odd ones.
    march = invoice_for(client, keys.admin, ALPHA, "2026-03-01T00:00:00Z")
    assert int(line_figures(march)[("API calls", "")][0]) >= 3
