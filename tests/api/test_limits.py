"""Spec 7 limits over HTTP, on SQLite and PostgreSQL: what is beyond them is rejected where
it enters (the one event, or the setup document) with a reason; never a 500, and never
one event taking its batch (or the database) down with it."""

import json
import random
import string
from typing import Any

import pytest

from meterbill.core.limits import MAX_EVENT_DEPTH
from meterbill.core.setup import parse_customer
from meterbill.db.database import Database
from meterbill.services.catalog import save_customer
from tests.api.support import (
    ALPHA,
    BETA,
    FIXED,
    SETUP_YAML,
    Keys,
    TestClient,
    error_of,
    event,
    ingest,
    json_object,
)

MARCH = "2026-03-01T00:00:00Z"


def noise(length: int, seed: int) -> str:
    """Text that does not compress: PostgreSQL compresses index entries before the limit."""
    chooser = random.Random(seed)
    return "".join(chooser.choice(string.ascii_letters + string.digits) for _ in range(length))


def deep(levels: int) -> dict[str, Any]:
    """A property value that makes the event nest ``levels`` levels in all."""
    inner: dict[str, Any] = {"n": 1}
    for _ in range(levels - 3):  # the event, its properties and this object's own level
        inner = {"a": inner}
    return inner


def statuses(summary: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["transaction_id"], r["status"]) for r in summary["results"]]


def reason_of(summary: dict[str, Any], transaction_id: str) -> str:
    [reason] = [r["reason"] for r in summary["results"] if r["transaction_id"] == transaction_id]
    assert isinstance(reason, str)
    return reason


# --- events ---------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_EVENT_DEPTH + 1, 40, 300])
def test_an_event_nesting_too_deep_is_rejected_alone(
    client: TestClient, keys: Keys, levels: int
) -> None:
    summary = ingest(
        client,
        keys.admin,
        [
            event("ok-1", ALPHA, "produce", MARCH, cluster_id="c1", bytes=1),
            event("deep", ALPHA, "produce", MARCH, cluster_id="c1", bytes=1, x=deep(levels)),
            event("ok-2", BETA, "api_call", MARCH),
        ],
    )
    assert statuses(summary) == [("ok-1", "accepted"), ("deep", "rejected"), ("ok-2", "accepted")]
    assert "nests deeper than 32 levels" in reason_of(summary, "deep")


def test_an_event_nesting_exactly_32_levels_is_accepted(client: TestClient, keys: Keys) -> None:
    summary = ingest(
        client, keys.admin, [event("edge", ALPHA, "api_call", MARCH, x=deep(MAX_EVENT_DEPTH))]
    )
    assert statuses(summary) == [("edge", "accepted")]


def test_a_batch_nested_beyond_the_json_parser_is_a_clear_400(
    client: TestClient, keys: Keys
) -> None:
    body = b'[{"properties": ' + b"[" * 5000 + b"]" * 5000 + b"}]"
    response = client.post(
        "/v1/events", content=body, headers={**keys.admin, "Content-Type": "application/json"}
    )
    assert "nested too deeply" in error_of(response, 400)["message"]


def test_metronome_ingest_refuses_the_deep_event_by_its_index(
    client: TestClient, keys: Keys
) -> None:
    good = event("m-ok", ALPHA, "api_call", MARCH)
    bad = event("m-deep", ALPHA, "api_call", MARCH, x=deep(40))
    response = client.post("/metronome/v1/ingest", json=[good, bad], headers=keys.admin)
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert "usage[1] (m-deep)" in message
    assert "nests deeper than 32 levels" in message
    # All or nothing, as Metronome: the good event was not kept, and goes in on its own.
    assert client.post("/metronome/v1/ingest", json=[good], headers=keys.admin).status_code == 200
    assert statuses(ingest(client, keys.admin, [good])) == [("m-ok", "duplicate")]


def test_a_long_group_value_is_rejected_alone(client: TestClient, keys: Keys) -> None:
    """3 KB of noise as a group value went past PostgreSQL's index row limit (a 500 for the
    batch); SQLite stored it. Both now reject just that event, at 200 characters."""
    summary = ingest(
        client,
        keys.admin,
        [
            event("g-ok", ALPHA, "produce", MARCH, cluster_id="c1", bytes=1),
            event("g-3k", ALPHA, "produce", MARCH, cluster_id=noise(3000, 1), bytes=1),
            event("g-201", ALPHA, "produce", MARCH, cluster_id="c" * 201, bytes=1),
            event("g-200", ALPHA, "produce", MARCH, cluster_id=noise(200, 2), bytes=1),
            # api_call's meter groups by nothing, and "note" is no group_by: both kept.
            event("g-other", ALPHA, "api_call", MARCH, cluster_id=noise(3000, 3)),
            event("g-note", ALPHA, "produce", MARCH, cluster_id="c1", note=noise(3000, 4)),
        ],
    )
    assert statuses(summary) == [
        ("g-ok", "accepted"),
        ("g-3k", "rejected"),
        ("g-201", "rejected"),
        ("g-200", "accepted"),
        ("g-other", "accepted"),
        ("g-note", "accepted"),
    ]
    assert reason_of(summary, "g-3k") == (
        "property 'cluster_id' is 3000 characters long; meter 'bytes_written' groups by it"
        " and a group value has at most 200 characters"
    )


@pytest.mark.parametrize("field", ["transaction_id", "event_type"])
def test_event_ids_longer_than_200_characters_are_rejected_alone(
    client: TestClient, keys: Keys, field: str
) -> None:
    long_one = event("long", ALPHA, "api_call", MARCH)
    long_one[field] = noise(3000, 5)
    summary = ingest(client, keys.admin, [long_one, event("fine", ALPHA, "api_call", MARCH)])
    assert [r["status"] for r in summary["results"]] == ["rejected", "accepted"]
    assert f"field '{field}' is longer than 200 characters" in summary["results"][0]["reason"]


def test_numbers_keep_the_event_bounds_of_spec_3(client: TestClient, keys: Keys) -> None:
    """A 30-digit decimal string (10^30 - 1) is within spec 3, so the event is accepted."""
    summary = ingest(
        client,
        keys.admin,
        [
            event("n-30", ALPHA, "produce", MARCH, cluster_id="c9", bytes="9" * 30),
            event("n-big", ALPHA, "produce", MARCH, cluster_id="c9", bytes=10**30),
        ],
    )
    assert statuses(summary) == [("n-30", "accepted"), ("n-big", "rejected")]
    assert "out of range" in reason_of(summary, "n-big")


# --- setup ----------------------------------------------------------------------------------


def put_setup(client: TestClient, keys: Keys, document: object) -> Any:
    return client.put(
        "/v1/setup",
        content=json.dumps(document),
        headers={**keys.admin, "Content-Type": "application/json"},
    )


def customer(**fields: object) -> dict[str, object]:
    return {"customers": [{"id": "gamma", "name": "Gamma", **fields}]}


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (customer(id=noise(10_000, 6)), "customers[0].id"),
        (customer(aliases=["ok", noise(10_000, 7)]), "customers[0].aliases[1]"),
        (
            {
                "meters": [
                    {
                        "key": noise(10_000, 8).lower(),
                        "name": "M",
                        "event_type": "e",
                        "aggregation": "count",
                    }
                ]
            },
            "meters[0].key",
        ),
        (
            {
                "meters": [
                    {"key": "m", "name": "M", "event_type": noise(300, 9), "aggregation": "count"}
                ]
            },
            "meters[0].event_type",
        ),
        (
            customer(resources=[{"id": noise(5000, 10), "kind": "cluster"}]),
            "customers[0].resources[0].id",
        ),
        (
            customer(
                credits=[
                    {
                        "key": noise(5000, 11),
                        "kind": "free",
                        "amount": "1",
                        "starts_at": "2026-01-01T00:00:00Z",
                    }
                ]
            ),
            "customers[0].credits[0].key",
        ),
    ],
    ids=["customer-id", "alias", "meter-key", "event-type", "resource-id", "credit-key"],
)
def test_setup_ids_keys_and_aliases_over_200_characters_are_400(
    client: TestClient, keys: Keys, document: object, path: str
) -> None:
    error = error_of(put_setup(client, keys, document), 400)
    assert error["code"] == "invalid_setup"
    assert error["path"] == path
    assert "characters long; at most 200" in error["message"]
    assert len(error["message"]) < 300


def test_setup_ids_of_200_characters_are_stored(client: TestClient, keys: Keys) -> None:
    long_id, long_alias = noise(200, 12), noise(200, 13)
    response = put_setup(client, keys, customer(id=long_id, aliases=[long_alias]))
    assert response.status_code == 200, response.text
    summary = ingest(client, keys.admin, [event("a1", long_alias, "api_call", MARCH)])
    assert statuses(summary) == [("a1", "accepted")]


@pytest.mark.parametrize(
    ("product", "path", "problem"),
    [
        (
            {"price": {"model": "flat", "amount": "1e25"}},
            "products[0].price.amount",
            "must have a magnitude below 10^15, got '1e25'",
        ),
        (
            {
                "meter": "api_calls",
                "price": {
                    "model": "graduated",
                    "tiers": [{"up_to": "10", "unit_price": "1"}, {"unit_price": "1e-13"}],
                },
            },
            "products[0].price.tiers[1].unit_price",
            "must have at most 12 decimal places, got '1e-13'",
        ),
        (
            {
                "meter": "api_calls",
                "quantity_divisor": "1000000000000000",
                "price": {"model": "per_unit", "unit_price": "1"},
            },
            "products[0].quantity_divisor",
            "must have a magnitude below 10^15, got '1000000000000000'",
        ),
    ],
    ids=["amount-1e25", "tier-13-places", "divisor-10^15"],
)
def test_setup_decimals_beyond_the_limits_are_400_with_the_path(
    client: TestClient, keys: Keys, product: dict[str, object], path: str, problem: str
) -> None:
    document = {"products": [{"key": "p", "name": "P", **product}]}
    error = error_of(put_setup(client, keys, document), 400)
    assert (error["code"], error["path"]) == ("invalid_setup", path)
    assert error["message"] == f"{path}: {problem}"


def test_a_setup_decimal_just_inside_the_limits_is_stored(client: TestClient, keys: Keys) -> None:
    document = {
        "products": [
            {
                "key": "big",
                "name": "Big",
                "price": {"model": "flat", "amount": "999999999999999.999999999999"},
            }
        ]
    }
    assert put_setup(client, keys, document).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("a: " + "[" * 10_000 + "]" * 10_000, "application/yaml", "nests deeper than 64 levels"),
        (
            "meters:\n" + "".join("  " * (i + 1) + "b:\n" for i in range(2_000)),
            "application/yaml",
            "nests deeper than 64 levels",
        ),
        ('{"a": ' + "[" * 10_000 + "]" * 10_000 + "}", "application/json", "nested too deeply"),
        ('{"a": ' + "[" * 500 + "]" * 500 + "}", "application/json", "nests deeper than 64"),
    ],
    ids=["yaml-flow", "yaml-block", "json-10000", "json-500"],
)
def test_a_setup_document_nested_10000_deep_is_400(
    client: TestClient, keys: Keys, body: str, content_type: str, message: str
) -> None:
    response = client.put(
        "/v1/setup", content=body, headers={**keys.admin, "Content-Type": content_type}
    )
    assert message in error_of(response, 400)["message"]
    # Nothing changed: the standard setup applies unchanged.
    again = client.put(
        "/v1/setup", content=SETUP_YAML, headers={**keys.admin, "Content-Type": "application/yaml"}
    )
    assert json_object(again)["created"] == []


# --- found by fuzzing: values within spec 7 that PostgreSQL could still not index ---------

EXTRA_METERS = """
meters:
  - {key: visitors, name: Visitors, event_type: visit, aggregation: unique_count,
     property: user}
  - {key: wide, name: Wide, event_type: wide, aggregation: count, group_by: [a, b, c, d]}
"""
DAY = {"starting_on": "2026-03-01T00:00:00Z", "ending_before": "2026-03-02T00:00:00Z"}


def apply_yaml(client: TestClient, keys: Keys, text: str) -> Any:
    return client.put(
        "/v1/setup", content=text, headers={**keys.admin, "Content-Type": "application/yaml"}
    )


def usage(client: TestClient, keys: Keys, meter: str) -> list[tuple[dict[str, str], str]]:
    response = client.get(
        f"/v1/customers/{ALPHA}/usage", params={**DAY, "meter": meter}, headers=keys.admin
    )
    body = json_object(response)
    return [(row["group"], row["value"]) for row in body["data"]]


def test_long_unique_count_values_are_counted_not_a_500(client: TestClient, keys: Keys) -> None:
    """A 3 KB distinct value went past PostgreSQL's index row limit (a 500 for the batch).
    Such a value is now kept as its digest: counted once, whatever its length."""
    assert apply_yaml(client, keys, EXTRA_METERS).status_code == 200
    long_user = noise(3000, 20)
    summary = ingest(
        client,
        keys.admin,
        [
            event("v1", ALPHA, "visit", MARCH, user=long_user),
            event("v2", ALPHA, "visit", "2026-03-01T05:00:00Z", user=long_user),
            event("v3", ALPHA, "visit", MARCH, user=noise(3000, 21)),
            event("v4", ALPHA, "visit", MARCH, user="short"),
        ],
    )
    assert summary["accepted"] == 4, summary
    assert usage(client, keys, "visitors") == [({}, "3")]


def test_a_group_too_large_to_index_is_rejected_alone(client: TestClient, keys: Keys) -> None:
    """Four group values of 200 four-byte characters each are within spec 7 one by one, but
    their group (3,213 bytes) is more than a PostgreSQL index entry holds (a 500)."""
    assert apply_yaml(client, keys, EXTRA_METERS).status_code == 200
    wide = "".join(chr(0x20000 + random.Random(30).randrange(60_000)) for _ in range(200))
    summary = ingest(
        client,
        keys.admin,
        [
            event("w4", ALPHA, "wide", MARCH, a=wide, b=wide[::-1], c=wide, d=wide[::-1]),
            event("w2", ALPHA, "wide", MARCH, a=wide, b=wide[::-1]),
        ],
    )
    assert statuses(summary) == [("w4", "rejected"), ("w2", "accepted")]
    assert reason_of(summary, "w4") == (
        "the values of 'a', 'b', 'c', 'd' take 3213 bytes as a group of meter 'wide';"
        " a group takes at most 2000"
    )
    assert usage(client, keys, "wide") == [({"a": wide, "b": wide[::-1], "c": "", "d": ""}, "1")]


def test_a_new_meter_over_long_stored_values_is_applied(client: TestClient, keys: Keys) -> None:
    """An event accepted while no meter grouped by its 3 KB ``note``; then a meter groups
    by ``note``: rebuilding its buckets failed on PostgreSQL (a 500 for the setup). The
    meter now leaves that event out, on both databases alike."""
    summary = ingest(
        client,
        keys.admin,
        [
            event("n1", ALPHA, "api_call", MARCH, note=noise(3000, 40)),
            event("n2", ALPHA, "api_call", MARCH, note="short"),
        ],
    )
    assert summary["accepted"] == 2, summary
    by_note = (
        "meters:\n  - {key: calls_by_note, name: Calls by note, event_type: api_call,"
        " aggregation: count, group_by: [note]}\n"
    )
    response = apply_yaml(client, keys, by_note)
    assert response.status_code == 200, response.text
    assert json_object(response)["rebuilt"] == ["calls_by_note"]
    assert usage(client, keys, "calls_by_note") == [({"note": "short"}, "1")]


def test_a_metronome_metric_with_a_long_name_gets_a_key_within_200_characters(
    client: TestClient, keys: Keys
) -> None:
    """The meter key made from a metric's name is cut to 180 characters (a 10 KB name made
    a 10 KB meter key: a 500 on PostgreSQL); a second one with the same name gets ``_2``."""
    body = {
        "name": "Long " + "y" * 10_000,
        "aggregation_type": "COUNT",
        "event_type_filter": {"in_values": ["api_call"]},
    }
    made = []
    for _ in range(2):
        response = client.post(
            "/metronome/v1/billable-metrics/create", json=body, headers=keys.admin
        )
        assert response.status_code == 200, response.text
        made.append(response.json()["data"]["id"])
    setup = json_object(client.get("/v1/setup", headers=keys.admin))
    new_keys = sorted(m["key"] for m in setup["meters"] if m["key"].startswith("long_"))
    assert new_keys == ["long_" + "y" * 175, "long_" + "y" * 175 + "_2"]
    assert len(set(made)) == 2


def test_values_stored_before_the_limits_still_load(
    client: TestClient, keys: Keys, database: Database
) -> None:
    """A customer stored before the limits existed (a 250-character alias, a credit of
    1e25): it still loads, takes events, can be renamed over Metronome, and the setup still
    applies. The limits apply where values enter, never when stored ones are read back."""
    legacy = {
        "id": "legacy",
        "name": "Legacy",
        "aliases": ["l" * 250],
        "credits": [
            {"key": "huge", "kind": "free", "amount": "1e25", "starts_at": "2026-01-01T00:00:00Z"}
        ],
    }
    with database.transaction() as session:
        save_customer(session, parse_customer(legacy, "customer", limits=False), now=FIXED)
    shown = json_object(client.get("/v1/customers/legacy", headers=keys.admin))["data"]
    assert shown["credits"][0]["amount"] == "1E+25"
    summary = ingest(
        client,
        keys.admin,
        [event("l1", "legacy", "api_call", MARCH), event("l2", "l" * 250, "api_call", MARCH)],
    )
    # The alias itself is now beyond what an event's customer_id may be.
    assert statuses(summary) == [("l1", "accepted"), ("l2", "rejected")]
    assert "field 'customer_id' is longer than 200 characters" in reason_of(summary, "l2")
    renamed = client.post(
        "/metronome/v1/customers/legacy/setName", json={"name": "Renamed"}, headers=keys.admin
    )
    assert renamed.status_code == 200, renamed.text
    again = client.put(
        "/v1/setup", content=SETUP_YAML, headers={**keys.admin, "Content-Type": "application/yaml"}
    )
    assert again.status_code == 200, again.text
    # Re-applying the stored document itself is an entry: there the limits apply.
    document = json_object(client.get("/v1/setup", headers=keys.admin))
    error = error_of(put_setup(client, keys, document), 400)
    assert error["path"] == "customers[2].credits[0].amount"
