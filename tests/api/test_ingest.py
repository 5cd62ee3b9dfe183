"""POST /v1/events: one verdict per event, exact decimals, limits, and who may send what.

The clock is 2026-03-05T00:00:00Z, so the events below land in March, whose draft invoice
is live: what an accepted event adds shows on it at once.
"""

import json
from typing import Any

from tests.api.support import (
    ALPHA,
    ALPHA_ALIAS,
    BETA,
    BETA_ALIAS,
    Keys,
    TestClient,
    error_of,
    event,
    ingest,
    invoice_for,
    json_list,
    json_object,
    line_figures,
)

MARCH = "2026-03-01T00:00:00Z"
# What every March draft holds before any event: the flat support fee.
SUPPORT_ONLY = {("Support", ""): ("1", "50.00")}


def raw_batch(*items: dict[str, object] | str) -> str:
    """A JSON array; a ``str`` item is written as is (numbers JSON encoders would change)."""
    return (
        "[" + ",".join(item if isinstance(item, str) else json.dumps(item) for item in items) + "]"
    )


def with_literal(txn: str, name: str, literal: str, event_type: str = "storage") -> str:
    """An event of alpha whose property ``name`` is the JSON number ``literal``."""
    head = json.dumps(event(txn, ALPHA, event_type, "2026-03-02T00:00:00Z"))[:-1]
    return head[: head.rindex('"properties"')] + f'"properties": {{"{name}": {literal}}}}}'


def post_raw(client: TestClient, keys: Keys, body: str) -> Any:
    response = client.post(
        "/v1/events",
        content=body,
        headers={**keys.admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return json_object(response)


def verdicts(summary: dict[str, Any]) -> list[tuple[int, str | None, str]]:
    return [(r["index"], r["transaction_id"], r["status"]) for r in json_list(summary["results"])]


def test_a_mixed_batch_gets_one_verdict_per_event(client: TestClient, keys: Keys) -> None:
    missing_type = event("m-4", ALPHA, "api_call", "2026-03-02T00:00:00Z")
    del missing_type["event_type"]
    body = raw_batch(
        event("m-0", ALPHA, "produce", "2026-03-02T10:00:00Z", cluster_id="c1", bytes=7),
        event("m-1", ALPHA_ALIAS, "api_call", "2026-03-03T00:00:00Z"),
        event("m-0", ALPHA, "produce", "2026-03-02T11:00:00Z", cluster_id="c1", bytes=1000),
        event("m-3", "cust-nobody", "api_call", "2026-03-02T00:00:00Z"),
        missing_type,
        event("m-5", ALPHA, "api_call", "2026-03-02 10:00:00"),
        event("m-6", ALPHA, "api_call", "1999-12-31T23:59:59Z"),
        event("m-7", ALPHA, "api_call", "2026-03-06T00:00:01Z"),
        event("m-8", ALPHA, "api_call", "2026-03-06T00:00:00Z"),
        with_literal("m-9", "gb", "1e30"),
        with_literal("m-10", "gb", "1000000000000000000000000000000"),
        with_literal("m-11", "gb", "0.0000000000000000001"),
        with_literal("m-12", "gb", "0.000000000000000001"),
        with_literal("m-13", "noise", "999999999999999999999999999999", event_type="other"),
        event("m-1", ALPHA, "api_call", "2026-03-04T00:00:00Z"),
        event("m-0", BETA, "api_call", "2026-03-02T00:00:00Z"),
        event("m-16", ALPHA, "api_call", "2026-03-02T00:00:00Z", count=12.5),
    )
    summary = post_raw(client, keys, body)
    assert verdicts(summary) == [
        (0, "m-0", "accepted"),
        (1, "m-1", "accepted"),
        (2, "m-0", "duplicate"),
        (3, "m-3", "rejected"),
        (4, "m-4", "rejected"),
        (5, "m-5", "rejected"),
        (6, "m-6", "rejected"),
        (7, "m-7", "rejected"),
        (8, "m-8", "accepted"),
        (9, "m-9", "rejected"),
        (10, "m-10", "rejected"),
        (11, "m-11", "rejected"),
        (12, "m-12", "accepted"),
        (13, "m-13", "accepted"),
        (14, "m-1", "duplicate"),
        (15, "m-0", "accepted"),
        (16, "m-16", "accepted"),
    ]
    assert (summary["accepted"], summary["duplicate"], summary["rejected"]) == (7, 2, 8)
    results = json_list(summary["results"])
    assert [r["index"] for r in results if "reason" not in r] == [0, 1, 2, 8, 12, 13, 14, 15, 16]
    reasons = {int(r["index"]): str(r["reason"]) for r in results if "reason" in r}
    assert reasons[3] == "unknown customer 'cust-nobody'"
    assert reasons[4] == "missing field 'event_type'"
    assert "'2026-03-02 10:00:00' is not RFC 3339" in reasons[5]
    assert "before 2000-01-01T00:00:00Z" in reasons[6]
    assert "more than 24 hours in the future" in reasons[7]
    assert "number in properties.gb is out of range" in reasons[9]
    assert "number in properties.gb is out of range" in reasons[10]
    assert "number in properties.gb has more than 18 decimal places" in reasons[11]

    # Kept: 7 bytes on c1 (0.70); API calls m-1, m-8 (exactly 24 hours ahead is allowed)
    # and m-16 (its 12.5 is read exactly and used by no meter): 0.75; 1e-18 GB of storage
    # (2e-18 rounds to 0.00).
    march = invoice_for(client, keys.admin, ALPHA, MARCH)
    assert line_figures(march) == {
        ("Data written - Tier 1", "cluster_id=c1"): ("7", "0.70"),
        ("API calls", ""): ("3", "0.75"),
        ("Storage", ""): ("0.000000000000000001", "0.00"),
        ("Support", ""): ("1", "50.00"),
    }
    assert march["subtotal"] == "51.45"
    beta = invoice_for(client, keys.admin, BETA, MARCH)
    assert line_figures(beta) == {("API calls", ""): ("1", "0.25"), ("Support", ""): ("1", "50.00")}


def test_a_resent_batch_is_all_duplicates_and_counts_once(client: TestClient, keys: Keys) -> None:
    batch = [
        event("r-1", ALPHA, "api_call", "2026-03-01T00:00:00Z"),
        event("r-2", ALPHA_ALIAS, "api_call", "2026-03-01T00:00:01Z"),
    ]
    assert ingest(client, keys.admin, batch)["accepted"] == 2
    again = ingest(client, keys.admin, [*batch, event("r-1", ALPHA_ALIAS, "api_call", MARCH)])
    assert (again["accepted"], again["duplicate"], again["rejected"]) == (0, 3, 0)
    march = invoice_for(client, keys.admin, ALPHA, MARCH)
    assert line_figures(march)[("API calls", "")] == ("2", "0.50")


def test_decimals_are_summed_exactly(client: TestClient, keys: Keys) -> None:
    # 0.1 + 0.2 is 0.30000000000000004 in binary floating point.
    summary = post_raw(
        client,
        keys,
        raw_batch(with_literal("d-1", "gb", "0.1"), with_literal("d-2", "gb", "0.2")),
    )
    assert summary["accepted"] == 2
    march = invoice_for(client, keys.admin, ALPHA, MARCH)
    assert line_figures(march)[("Storage", "")] == ("0.3", "0.60")
    assert march["subtotal"] == "50.60"
    # Decimal strings and numbers mix, all 18 places kept; "n/a" is kept but skipped by the
    # meter: 3.300000000000000003 GB x 2 = 6.600000000000000006 -> 6.60.
    summary = post_raw(
        client,
        keys,
        raw_batch(
            with_literal("s-1", "gb", "1.000000000000000001"),
            event("s-2", ALPHA, "storage", "2026-03-02T01:00:00Z", gb="2.000000000000000002"),
            event("s-3", ALPHA, "storage", "2026-03-02T02:00:00Z", gb="n/a"),
        ),
    )
    assert summary["accepted"] == 3
    march = invoice_for(client, keys.admin, ALPHA, MARCH)
    assert line_figures(march)[("Storage", "")] == ("3.300000000000000003", "6.60")


def test_the_events_wrapper_is_accepted(client: TestClient, keys: Keys) -> None:
    response = client.post(
        "/v1/events",
        json={"events": [event("w-1", ALPHA, "api_call", "2026-03-02T00:00:00Z")]},
        headers=keys.admin,
    )
    assert response.status_code == 200, response.text
    assert verdicts(json_object(response)) == [(0, "w-1", "accepted")]
    march = invoice_for(client, keys.admin, ALPHA, MARCH)
    assert line_figures(march)[("API calls", "")] == ("1", "0.25")


def test_at_most_10000_events_per_request(client: TestClient, keys: Keys) -> None:
    too_many = [event(f"t-{i}", ALPHA, "api_call", "2026-03-02T00:00:00Z") for i in range(10_001)]
    response = client.post("/v1/events", json=too_many, headers=keys.admin)
    error = error_of(response, 413)
    assert "10000" in error["message"].replace(",", "")
    assert "10001" in error["message"]
    wrapped = client.post("/v1/events", json={"events": too_many}, headers=keys.admin)
    assert error_of(wrapped, 413)["code"] == error["code"]
    assert line_figures(invoice_for(client, keys.admin, ALPHA, MARCH)) == SUPPORT_ONLY
    # 10,000 is fine. Invalid events keep it quick: the limit is on the count, checked
    # before any validation.
    response = client.post("/v1/events", json=[{"n": i} for i in range(10_000)], headers=keys.admin)
    assert response.status_code == 200, response.text
    summary = json_object(response)
    assert (summary["accepted"], summary["rejected"]) == (0, 10_000)
    assert json_list(summary["results"])[9_999]["reason"] == "missing field 'transaction_id'"


NOT_A_BATCH: dict[str, bytes] = {
    "empty": b"",
    "text": b"not json",
    "truncated": b'[{"transaction_id": "x"',
    "not UTF-8": b"\xff\xfe",
    "an object without events": b"{}",
    "events not a list": b'{"events": 5}',
    "a string": b'"x"',
}


def test_a_body_that_is_no_batch_is_a_400(client: TestClient, keys: Keys) -> None:
    problems = []
    for label, body in NOT_A_BATCH.items():
        response = client.post(
            "/v1/events", content=body, headers={**keys.admin, "Content-Type": "application/json"}
        )
        if response.status_code != 400:
            problems.append(f"{label}: {response.status_code} {response.text[:200]}")
        else:
            assert error_of(response, 400)["code"] == "invalid_request"
    assert problems == []


def test_a_customer_key_sends_only_its_own_events(client: TestClient, keys: Keys) -> None:
    summary = ingest(
        client,
        keys.alpha,
        [
            event("o-1", BETA, "api_call", "2026-03-02T00:00:00Z"),
            event("o-2", BETA_ALIAS, "api_call", "2026-03-02T00:00:00Z"),
            event("o-3", "cust-nobody", "api_call", "2026-03-02T00:00:00Z"),
            event("o-4", ALPHA_ALIAS, "api_call", "2026-03-02T00:00:00Z"),
            event("o-5", ALPHA, "api_call", "2026-03-02T00:00:00Z"),
        ],
    )
    assert [(r["status"], r.get("reason")) for r in json_list(summary["results"])] == [
        # Exactly what an unknown customer gets: a key learns nothing about other customers.
        ("rejected", f"unknown customer '{BETA}'"),
        ("rejected", f"unknown customer '{BETA_ALIAS}'"),
        ("rejected", "unknown customer 'cust-nobody'"),
        ("accepted", None),
        ("accepted", None),
    ]
    assert line_figures(invoice_for(client, keys.admin, BETA, MARCH)) == SUPPORT_ONLY
    march = invoice_for(client, keys.admin, ALPHA, MARCH)
    assert line_figures(march)[("API calls", "")] == ("2", "0.50")
    # The transaction ids beta's customer might use later are not taken either.
    later = ingest(client, keys.beta, [event("o-1", BETA, "api_call", "2026-03-02T00:00:00Z")])
    assert later["accepted"] == 1


def test_aliases_resolve_to_their_customer(client: TestClient, keys: Keys) -> None:
    summary = ingest(
        client,
        keys.admin,
        [
            event("al-1", ALPHA_ALIAS, "produce", "2026-03-02T00:00:00Z", cluster_id="c9", bytes=3),
            event("al-2", BETA_ALIAS, "storage", "2026-03-02T00:00:00Z", gb="0.25"),
        ],
    )
    assert summary["accepted"] == 2
    alpha = invoice_for(client, keys.admin, ALPHA, MARCH)
    assert line_figures(alpha)[("Data written - Tier 1", "cluster_id=c9")] == ("3", "0.30")
    beta = invoice_for(client, keys.admin, BETA, MARCH)
    assert line_figures(beta)[("Storage", "")] == ("0.25", "0.50")


def test_a_nan_literal_rejects_only_its_event(client: TestClient, keys: Keys) -> None:
    body = raw_batch(
        event("n-1", ALPHA, "api_call", "2026-03-02T00:00:00Z"),
        with_literal("n-2", "gb", "NaN"),
        with_literal("n-3", "gb", "-Infinity"),
    )
    summary = post_raw(client, keys, body)
    assert verdicts(summary) == [
        (0, "n-1", "accepted"),
        (1, "n-2", "rejected"),
        (2, "n-3", "rejected"),
    ]
    for result in json_list(summary["results"])[1:]:
        assert "properties.gb" in result["reason"]
        assert "finite" in result["reason"]
    march = invoice_for(client, keys.admin, ALPHA, MARCH)
    assert line_figures(march)[("API calls", "")] == ("1", "0.25")
    assert ("Storage", "") not in line_figures(march)
