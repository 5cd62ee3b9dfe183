"""``/v1/webhook_endpoints``: admin keys only, clear 400s, the secret shown once, attempts
listed and failed messages re-sent (SQLite and PostgreSQL)."""

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks import Webhook

from meterbill.cli.webhook_sender import SenderOptions, WebhookSender, parse_schedule
from meterbill.db.database import Database
from tests.api.support import Keys, TestClient
from tests.webhook_receiver import receiver

BASE = "/v1/webhook_endpoints"


def created(client: TestClient, keys: Keys, **body: Any) -> dict[str, Any]:
    response = client.post(BASE, json=body, headers=keys.admin)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_create_list_show_rotate_delete(client: TestClient, keys: Keys) -> None:
    data = created(
        client,
        keys,
        url="https://hooks.example.com/meterbill",
        event_types=["invoice.paid", "invoice.issued", "invoice.paid"],
        description="finance",
    )
    assert data["id"].startswith("ep_")
    assert data["secret"].startswith("whsec_")
    Webhook(data["secret"])  # the library takes it as it is
    assert data["event_types"] == ["invoice.paid", "invoice.issued"]
    assert data["created_at"] == "2026-03-05T00:00:00Z"
    assert data["previous_secret_valid_until"] is None

    listed = client.get(BASE, headers=keys.admin)
    assert listed.status_code == 200
    [item] = listed.json()["data"]
    assert "secret" not in item
    assert item == {k: v for k, v in data.items() if k != "secret"}
    shown = client.get(f"{BASE}/{data['id']}", headers=keys.admin).json()["data"]
    assert shown == item

    rotated = client.post(f"{BASE}/{data['id']}/rotate_secret", headers=keys.admin)
    assert rotated.status_code == 200, rotated.text
    again = rotated.json()["data"]
    assert again["secret"] != data["secret"]
    assert again["secret"].startswith("whsec_")
    assert again["previous_secret_valid_until"] == "2026-03-06T00:00:00Z"

    gone = client.delete(f"{BASE}/{data['id']}", headers=keys.admin)
    assert gone.status_code == 200
    assert gone.json() == {"data": {"id": data["id"], "deleted": True}}
    assert client.get(BASE, headers=keys.admin).json() == {"data": []}
    for method, path in (
        ("DELETE", f"{BASE}/{data['id']}"),
        ("GET", f"{BASE}/{data['id']}"),
        ("POST", f"{BASE}/{data['id']}/rotate_secret"),
        ("GET", f"{BASE}/{data['id']}/deliveries"),
    ):
        response = client.request(method, path, headers=keys.admin)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"


def test_an_empty_event_list_means_every_type(client: TestClient, keys: Keys) -> None:
    assert created(client, keys, url="http://127.0.0.1:8080/x")["event_types"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "ftp://example.com/"}, "http:// or https://"),
        ({"url": "not a url"}, "spaces"),
        ({"url": "https://"}, "no host"),
        ({"url": "https://example.com", "event_types": ["invoice.nope"]}, "invoice.nope"),
        ({"url": "https://example.com", "event_types": "invoice.paid"}, "event_types"),
        ({"event_types": []}, "url"),
        ({"url": "https://example.com/" + "x" * 2000}, "url"),
    ],
)
def test_bad_bodies_are_400s(
    client: TestClient, keys: Keys, body: dict[str, Any], message: str
) -> None:
    response = client.post(BASE, json=body, headers=keys.admin)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert message in error["message"]
    assert client.get(BASE, headers=keys.admin).json() == {"data": []}


def test_only_admin_keys(client: TestClient, keys: Keys) -> None:
    data = created(client, keys, url="https://example.com/")
    for method, path in (
        ("POST", BASE),
        ("GET", BASE),
        ("GET", f"{BASE}/{data['id']}"),
        ("DELETE", f"{BASE}/{data['id']}"),
        ("POST", f"{BASE}/{data['id']}/rotate_secret"),
        ("GET", f"{BASE}/{data['id']}/deliveries"),
        ("POST", f"{BASE}/{data['id']}/deliveries/msg_x/resend"),
    ):
        body = {"url": "https://example.com/"} if method == "POST" else None
        assert client.request(method, path, json=body, headers=keys.alpha).status_code == 403
        assert client.request(method, path, json=body).status_code == 401
    assert len(client.get(BASE, headers=keys.admin).json()["data"]) == 1


def test_attempts_are_listed_and_a_failed_message_is_resent(
    client: TestClient, keys: Keys, database: Database
) -> None:
    with receiver() as hook:
        hook.status = lambda _: 500
        data = created(client, keys, url=hook.url, event_types=["events.rejected"])
        hook.secrets.append(data["secret"])
        bad = {"transaction_id": "t1", "customer_id": "nobody", "event_type": "x"}
        assert client.post("/v1/events", json=[bad], headers=keys.admin).status_code == 200
        options = SenderOptions(timeout=5, schedule=parse_schedule("1s"))
        sender = WebhookSender(
            database, options, clock=lambda: datetime.now(UTC), rng=random.Random(1)
        )
        try:
            assert sender.run_once() == 1
            first = client.get(f"{BASE}/{data['id']}/deliveries", headers=keys.admin)
            assert first.status_code == 200
            [attempt] = first.json()["data"]
            message = attempt["message_id"]
            assert attempt["event_type"] == "events.rejected"
            assert (attempt["attempt"], attempt["status_code"], attempt["outcome"]) == (
                1,
                500,
                "retrying",
            )
            pending = client.post(
                f"{BASE}/{data['id']}/deliveries/{message}/resend", headers=keys.admin
            )
            assert pending.status_code == 409
            hook.wait_for(lambda got: len(got) == 1, timeout=5)
            hook.status = lambda _: 200
            # The retry 1 s later succeeds; the sender is driven by hand, so wait for it due.
            deadline = datetime.now(UTC).timestamp() + 10
            while sender.run_once() == 0 and datetime.now(UTC).timestamp() < deadline:
                hook.release.wait(0.1)
            resent = client.post(
                f"{BASE}/{data['id']}/deliveries/{message}/resend", headers=keys.admin
            )
            assert resent.status_code == 202, resent.text
            assert resent.json()["data"] == {
                "endpoint_id": data["id"],
                "message_id": message,
                "event_type": "events.rejected",
                "status": "pending",
                "attempts": 2,
                "next_attempt_at": None,
                "last_status_code": 200,
                "last_error": None,
            }
            assert sender.run_once() == 1
        finally:
            sender.close()
    assert [item.webhook_id for item in hook.received] == [message] * 3
    assert all(item.verified_with == (0,) for item in hook.received)
    page = client.get(f"{BASE}/{data['id']}/deliveries?limit=2", headers=keys.admin).json()
    assert [(a["attempt"], a["outcome"]) for a in page["data"]] == [
        (3, "delivered"),
        (2, "delivered"),
    ]
    rest = client.get(
        f"{BASE}/{data['id']}/deliveries?limit=2&cursor={page['next_cursor']}", headers=keys.admin
    ).json()
    assert [(a["attempt"], a["outcome"]) for a in rest["data"]] == [(1, "retrying")]
    assert rest["next_cursor"] is None
    unknown = client.post(f"{BASE}/{data['id']}/deliveries/msg_nope/resend", headers=keys.admin)
    assert unknown.status_code == 404


def test_the_openapi_document_types_the_webhook_routes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    create = document["paths"][BASE]["post"]
    schema = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/EndpointSecretOut"}
    assert "400" in create["responses"]
    deliveries = document["paths"][f"{BASE}/{{endpoint_id}}/deliveries"]["get"]
    assert deliveries["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AttemptList"
    }
