"""PUT and GET /v1/setup: idempotent apply, a read-back that re-applies to nothing, and
errors that name the path of the problem without applying any part of the document."""

import json
from typing import Any

import yaml

from meterbill.db.database import Database
from meterbill.services.keys import create_key
from tests.api.support import (
    FIXED,
    SETUP_YAML,
    Keys,
    TestClient,
    error_of,
    json_list,
    json_object,
)

YAML = {"Content-Type": "application/yaml"}


def put_setup(client: TestClient, keys: Keys, document: str) -> Any:
    return client.put("/v1/setup", content=document, headers={**keys.admin, **YAML})


def current(client: TestClient, keys: Keys) -> dict[str, Any]:
    response = client.get("/v1/setup", headers=keys.admin)
    assert response.status_code == 200, response.text
    return json_object(response)


def test_the_first_apply_reports_what_it_created(database: Database, client: TestClient) -> None:
    with database.transaction() as session:
        _, secret = create_key(session, customer_id=None, now=FIXED)
    response = client.put(
        "/v1/setup", content=SETUP_YAML, headers={"Authorization": f"Bearer {secret}", **YAML}
    )
    assert response.status_code == 200, response.text
    assert json_object(response) == {
        "created": [
            "meter bytes_written",
            "meter api_calls",
            "meter storage_gb",
            "product gib_written",
            "product api_calls",
            "product storage",
            "product support",
            "plan pro",
            "customer cust-alpha",
            "customer cust-beta",
        ],
        # grace_period_hours: 24 is the default, written out: the stored settings change.
        "updated": ["settings"],
        "unchanged": 0,
        "rebuilt": ["bytes_written", "api_calls", "storage_gb"],
    }


def test_applying_the_same_document_twice_changes_nothing(client: TestClient, keys: Keys) -> None:
    before = current(client, keys)
    response = put_setup(client, keys, SETUP_YAML)
    assert response.status_code == 200, response.text
    assert json_object(response) == {"created": [], "updated": [], "unchanged": 10, "rebuilt": []}
    assert current(client, keys) == before


def test_the_document_read_back_re_applies_to_nothing(client: TestClient, keys: Keys) -> None:
    document = current(client, keys)
    assert [m["key"] for m in json_list(document["meters"])] == [
        "bytes_written",
        "api_calls",
        "storage_gb",
    ]
    products = {p["key"]: p for p in json_list(document["products"])}
    # Prices come back as the decimal strings that were written, trailing zeros included.
    assert products["gib_written"]["price"] == {
        "model": "graduated",
        "tiers": [{"up_to": "100", "unit_price": "0.10"}, {"unit_price": "0.05"}],
    }
    assert products["support"]["price"] == {"model": "flat", "amount": "50.00"}
    customers = {c["id"]: c for c in json_list(document["customers"])}
    assert customers["cust-alpha"]["credits"][1] == {
        "key": "prepay",
        "kind": "prepaid",
        "amount": "100.00",
        "starts_at": "2026-02-01T00:00:00Z",
        "price": "80.00",
    }
    # JSON is YAML: the read-back goes straight back in.
    response = put_setup(client, keys, yaml.safe_dump(document))
    assert response.status_code == 200, response.text
    assert json_object(response) == {"created": [], "updated": [], "unchanged": 10, "rebuilt": []}


def test_the_read_back_is_accepted_as_application_json(client: TestClient, keys: Keys) -> None:
    document = current(client, keys)
    response = client.put("/v1/setup", json=document, headers=keys.admin)
    assert response.status_code == 200, response.text
    assert json_object(response) == {"created": [], "updated": [], "unchanged": 10, "rebuilt": []}


def test_an_update_is_reported_and_read_back(client: TestClient, keys: Keys) -> None:
    changed = SETUP_YAML.replace('amount: "50.00"', 'amount: "55.00"')
    response = put_setup(client, keys, changed)
    assert json_object(response) == {
        "created": [],
        "updated": ["product support"],
        "unchanged": 9,
        "rebuilt": [],
    }
    products = {p["key"]: p for p in json_list(current(client, keys)["products"])}
    assert products["support"]["price"]["amount"] == "55.00"


# (label, document, path, words of the problem)
BAD_DOCUMENTS: list[tuple[str, str, str, str]] = [
    (
        "unknown field",
        "meters:\n  - {key: m1, name: M, event_type: e, aggregation: count, colour: red}\n",
        "meters[0].colour",
        "unknown field 'colour'",
    ),
    (
        "unknown top-level field",
        "meterz: []\n",
        "meterz",
        "unknown field 'meterz'",
    ),
    (
        "float price",
        "products:\n  - {key: p1, name: P, meter: api_calls,"
        " price: {model: per_unit, unit_price: 0.25}}\n",
        "products[0].price.unit_price",
        "float",
    ),
    (
        "tiers out of order",
        "products:\n  - key: p1\n    name: P\n    meter: api_calls\n    price:\n"
        "      model: graduated\n      tiers:\n"
        '        - {up_to: "100", unit_price: "1"}\n'
        '        - {up_to: "50", unit_price: "2"}\n'
        '        - {unit_price: "3"}\n',
        "products[0].price.tiers[1].up_to",
        "increasing",
    ),
    (
        "unknown meter",
        "products:\n  - {key: p1, name: P, meter: nope,"
        ' price: {model: per_unit, unit_price: "1"}}\n',
        "products[0].meter",
        "unknown meter 'nope'",
    ),
    (
        "resource cycle",
        "customers:\n  - id: c1\n    name: C\n    resources:\n"
        "      - {id: r1, kind: tenant, parent: r2}\n"
        "      - {id: r2, kind: workspace, parent: r1}\n",
        "customers[0].resources[0].parent",
        "cycle r1 -> r2 -> r1",
    ),
    (
        "unknown plan",
        "customers:\n  - id: c1\n    name: C\n    subscriptions:\n"
        '      - {plan: gold, starts_at: "2026-01-01T00:00:00Z"}\n',
        "customers[0].subscriptions[0].plan",
        "unknown plan 'gold'",
    ),
    (
        "alias of another customer",
        "customers:\n  - {id: c1, name: C, aliases: [alpha_ingest]}\n",
        "customers[0].aliases[0]",
        "cust-alpha",
    ),
    (
        # Valid objects before the bad one: none of them may be stored.
        "valid meter then a bad product",
        "meters:\n  - {key: fresh, name: Fresh, event_type: fresh, aggregation: count}\n"
        "products:\n  - {key: p1, name: P, meter: fresh,"
        ' price: {model: per_unit, unit_price: "x"}}\n',
        "products[0].price.unit_price",
        "decimal string",
    ),
]


def test_bad_documents_are_refused_with_their_path(client: TestClient, keys: Keys) -> None:
    before = current(client, keys)
    problems: list[str] = []
    for label, document, path, words in BAD_DOCUMENTS:
        response = put_setup(client, keys, document)
        if response.status_code != 400:
            problems.append(f"{label}: {response.status_code} {response.text}")
            continue
        error = error_of(response, 400)
        if (error.get("code"), error.get("path")) != ("invalid_setup", path):
            problems.append(f"{label}: {error}, expected path {path}")
        elif words not in error["message"] or path not in error["message"]:
            problems.append(f"{label}: message {error['message']!r} lacks {words!r}")
    assert problems == []
    assert current(client, keys) == before


NOT_A_SETUP: dict[str, tuple[str, str]] = {
    "broken YAML": ("meters: [", "invalid_request"),
    "a list": ("- just\n- a list\n", "invalid_setup"),
    "empty": ("", "invalid_request"),
    "a Python tag": ("a: !!python/object/apply:os.system [echo]\n", "invalid_request"),
}


def test_a_body_that_is_no_setup_document_is_a_400(client: TestClient, keys: Keys) -> None:
    found = {
        label: error_of(put_setup(client, keys, body), 400)["code"]
        for label, (body, _) in NOT_A_SETUP.items()
    }
    assert found == {label: code for label, (_, code) in NOT_A_SETUP.items()}


def test_a_json_setup_with_escaped_non_bmp_characters(client: TestClient, keys: Keys) -> None:
    document = {"customers": [{"id": "cust-smile", "name": "Smile \U0001f600 Inc"}]}
    body = json.dumps(document)  # ensure_ascii: the emoji travels as "\ud83d\ude00"
    assert "\\ud83d\\ude00" in body
    headers = {**keys.admin, "Content-Type": "application/json"}
    response = client.put("/v1/setup", content=body, headers=headers)
    assert response.status_code == 200, response.text
    customer = client.get("/v1/customers/cust-smile", headers=keys.admin)
    assert json_object(customer)["data"]["name"] == "Smile \U0001f600 Inc"
    lone = client.put("/v1/setup", content=body.replace("\\ude00", ""), headers=headers)
    assert error_of(lone, 400)["code"] in ("invalid_request", "invalid_setup")


def test_a_change_to_what_an_issued_invoice_was_rated_from_is_a_409(
    billed: object, client: TestClient, keys: Keys
) -> None:
    # January and February are issued: api_calls' price may not change under them (5.2).
    changed = SETUP_YAML.replace('unit_price: "0.25"', 'unit_price: "0.30"')
    error = error_of(put_setup(client, keys, changed), 409)
    assert error["code"] == "refused_change"
    assert error["message"].startswith("products[1].price.unit_price: cannot change: issued")
    assert "period 2026-02-01T00:00:00Z to 2026-03-01T00:00:00Z" in error["message"]
    products = {p["key"]: p for p in json_list(current(client, keys)["products"])}
    assert products["api_calls"]["price"]["unit_price"] == "0.25"
    # A new price from March on, after the latest issued period, is accepted and read back.
    versioned = SETUP_YAML.replace(
        '    price: {model: per_unit, unit_price: "0.25"}\n',
        '    price: {model: per_unit, unit_price: "0.25"}\n'
        "    price_changes:\n"
        '      - {effective_from: "2026-03-01T00:00:00Z",'
        ' price: {model: per_unit, unit_price: "0.30"}}\n',
    )
    assert put_setup(client, keys, versioned).status_code == 200
    products = {p["key"]: p for p in json_list(current(client, keys)["products"])}
    assert products["api_calls"]["price_changes"] == [
        {
            "effective_from": "2026-03-01T00:00:00Z",
            "price": {"model": "per_unit", "unit_price": "0.30"},
        }
    ]
