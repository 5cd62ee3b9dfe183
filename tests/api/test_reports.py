"""GET /v1/customers/{id}/credits and /usage: figures computed by hand for the small setup.

Alpha's grants: ``welcome`` (free, 30.00) pays January's 62.50 in full; ``prepay``
(prepaid, 100.00) pays 57.00 of February (never its 80.00 purchase line) and the last
43.00 on March's draft.
"""

from typing import Any

from tests.api.support import (
    ALPHA,
    BETA,
    STANDARD_EVENTS,
    Billed,
    Keys,
    TestClient,
    error_of,
    ingest,
    json_list,
    json_object,
    walk_pages,
)


def credits(
    client: TestClient, headers: dict[str, str], customer: str, **params: str
) -> list[dict[str, Any]]:
    response = client.get(f"/v1/customers/{customer}/credits", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return json_list(json_object(response)["data"])


def balances(grants: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str, str]]:
    return [
        (g["key"], g["amount"], g["used"], g["balance"], g["pending_draft"], g["available"])
        for g in grants
    ]


def usage(client: TestClient, keys: Keys, **params: str) -> list[tuple[str, str, str]]:
    """(window start, group as k=v, value) rows of alpha's usage."""
    response = client.get(f"/v1/customers/{ALPHA}/usage", params=params, headers=keys.admin)
    assert response.status_code == 200, response.text
    body = json_object(response)
    assert body["next_cursor"] is None
    return [
        (row["start"], ",".join(f"{k}={v}" for k, v in sorted(row["group"].items())), row["value"])
        for row in json_list(body["data"])
    ]


def test_credit_balances_after_closing(client: TestClient, keys: Keys, billed: Billed) -> None:
    alpha = credits(client, keys.admin, ALPHA)
    assert balances(alpha) == [
        ("welcome", "30.00", "30.00", "0.00", "0.00", "0.00"),
        ("prepay", "100.00", "57.00", "43.00", "43.00", "0.00"),
    ]
    assert alpha[0] == {
        "key": "welcome",
        "kind": "free",
        "amount": "30.00",
        "priority": 10,
        "starts_at": "2026-01-01T00:00:00Z",
        "expires_at": None,
        "used": "30.00",
        "balance": "0.00",
        "pending_draft": "0.00",
        "available": "0.00",
        "expired": False,
    }
    assert (alpha[1]["kind"], alpha[1]["starts_at"]) == ("prepaid", "2026-02-01T00:00:00Z")
    assert balances(credits(client, keys.beta, BETA)) == [
        ("promo", "10.00", "10.00", "0.00", "0.00", "0.00")
    ]
    assert credits(client, keys.alpha, ALPHA) == alpha


def test_credit_balances_while_everything_is_draft(client: TestClient, keys: Keys) -> None:
    ingest(client, keys.admin, STANDARD_EVENTS)
    # The drafts of January (30 of welcome), February (57 of prepay), March (43 of prepay).
    assert balances(credits(client, keys.admin, ALPHA)) == [
        ("welcome", "30.00", "0.00", "30.00", "30.00", "0.00"),
        ("prepay", "100.00", "0.00", "100.00", "100.00", "0.00"),
    ]
    # In mid-January only January's draft exists; prepay has not started.
    assert balances(credits(client, keys.admin, ALPHA, as_of="2026-01-15T00:00:00Z")) == [
        ("welcome", "30.00", "0.00", "30.00", "30.00", "0.00"),
        ("prepay", "100.00", "0.00", "100.00", "0.00", "100.00"),
    ]


def test_usage_figures(client: TestClient, keys: Keys, billed: Billed) -> None:
    assert usage(
        client,
        keys,
        meter="bytes_written",
        window_size="hour",
        starting_on="2026-01-10T00:00:00Z",
        ending_before="2026-01-10T03:00:00Z",
    ) == [
        ("2026-01-10T00:00:00Z", "cluster_id=c1", "0"),
        ("2026-01-10T01:00:00Z", "cluster_id=c1", "60"),
        ("2026-01-10T02:00:00Z", "cluster_id=c1", "0"),
    ]
    # Two groups: a row per window and group, zeros included.
    assert usage(
        client,
        keys,
        meter="bytes_written",
        starting_on="2026-02-28T00:00:00Z",
        ending_before="2026-03-03T00:00:00Z",
    ) == [
        ("2026-02-28T00:00:00Z", "cluster_id=c1", "0"),
        ("2026-02-28T00:00:00Z", "cluster_id=c2", "0"),
        ("2026-03-01T00:00:00Z", "cluster_id=c1", "10"),
        ("2026-03-01T00:00:00Z", "cluster_id=c2", "0"),
        ("2026-03-02T00:00:00Z", "cluster_id=c1", "0"),
        ("2026-03-02T00:00:00Z", "cluster_id=c2", "5"),
    ]
    assert usage(
        client,
        keys,
        meter="api_calls",
        starting_on="2026-01-01T00:00:00Z",
        ending_before="2026-01-04T00:00:00Z",
    ) == [
        ("2026-01-01T00:00:00Z", "", "0"),
        ("2026-01-02T00:00:00Z", "", "2"),
        ("2026-01-03T00:00:00Z", "", "1"),
    ]
    assert usage(
        client,
        keys,
        meter="storage_gb",
        starting_on="2026-02-05T00:00:00Z",
        ending_before="2026-02-06T00:00:00Z",
    ) == [("2026-02-05T00:00:00Z", "", "1.5")]
    # No event in the range: no group, no row.
    january = {"starting_on": "2026-01-01T00:00:00Z", "ending_before": "2026-02-01T00:00:00Z"}
    assert usage(client, keys, meter="storage_gb", **january) == []


def test_usage_pages(client: TestClient, keys: Keys, billed: Billed) -> None:
    rows, pages = walk_pages(
        client,
        f"/v1/customers/{ALPHA}/usage",
        keys.alpha,
        {
            "meter": "bytes_written",
            "starting_on": "2026-03-01T00:00:00Z",
            "ending_before": "2026-03-03T00:00:00Z",
            "limit": 1,
        },
    )
    assert pages == 4
    assert [(r["start"][:10], r["group"]["cluster_id"], r["value"]) for r in rows] == [
        ("2026-03-01", "c1", "10"),
        ("2026-03-01", "c2", "0"),
        ("2026-03-02", "c1", "0"),
        ("2026-03-02", "c2", "5"),
    ]


RANGE = {"starting_on": "2026-01-01T00:00:00Z", "ending_before": "2026-01-02T00:00:00Z"}


BAD_USAGE: dict[str, tuple[dict[str, str], int]] = {
    "unknown meter": ({"meter": "nope", **RANGE}, 404),
    "minute windows": ({"meter": "api_calls", **RANGE, "window_size": "minute"}, 400),
    "empty range": ({"meter": "api_calls", **RANGE, "ending_before": RANGE["starting_on"]}, 400),
    "bad time": ({"meter": "api_calls", **RANGE, "starting_on": "01/01/2026"}, 400),
    "limit over 1000": ({"meter": "api_calls", **RANGE, "limit": "1001"}, 400),
    "no meter": (RANGE, 400),
    "no end": ({"meter": "api_calls", "starting_on": "2026-01-01T00:00:00Z"}, 400),
}


def test_bad_usage_requests(client: TestClient, keys: Keys) -> None:
    found = {}
    for label, (params, status) in BAD_USAGE.items():
        response = client.get(f"/v1/customers/{ALPHA}/usage", params=params, headers=keys.admin)
        found[label] = response.status_code
        if response.status_code == status:
            error_of(response, status)
    assert found == {label: status for label, (_, status) in BAD_USAGE.items()}
