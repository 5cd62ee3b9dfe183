"""Spend alerts through the native API, on SQLite and PostgreSQL.

At the clock (2026-03-05) Alpha's March draft is 51.50 before credits (support 50.00) and
8.50 after the prepaid grant's last 43.00; its grants hold nothing more (welcome was used in
January, prepay's 100.00 by February's 57.00 and March's 43.00). See tests/api/support.py.
"""

from typing import Any

from sqlalchemy import select

from meterbill.db.database import Database
from meterbill.db.models import OutboxMessage
from tests.api.support import ALPHA, BETA, Billed, Keys, TestClient, error_of, json_object

URL = f"/v1/customers/{ALPHA}/alerts"


def alerts_of(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, object]]:
    response = client.get(URL, headers=headers)
    assert response.status_code == 200, response.text
    return {item["key"]: item for item in json_object(response)["data"]}


def triggered(database: Database) -> int:
    with database.transaction(read_only=True) as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.event_type == "alert.triggered")
        )
        return len(list(rows))


def test_alerts_are_added_evaluated_at_once_listed_and_deleted(
    client: TestClient, keys: Keys, billed: Billed, database: Database
) -> None:
    created = client.post(
        URL,
        json={"key": "over-8", "kind": "draft_total_above", "threshold": "8.00"},
        headers=keys.admin,
    )
    assert created.status_code == 201, created.text
    assert json_object(created)["data"] == {
        "key": "over-8",
        "kind": "draft_total_above",
        "threshold": "8.00",
        "product": None,
        "currency": "USD",
    }
    for body in (
        {"key": "support", "kind": "product_amount_above", "threshold": "50", "product": "support"},
        {"key": "low", "kind": "credit_balance_below", "threshold": "1"},
    ):
        assert client.post(URL, json=body, headers=keys.admin).status_code == 201
    made_up = client.post(URL, json={"kind": "draft_total_above", "threshold": "1000"},
                          headers=keys.admin)  # fmt: skip
    assert str(json_object(made_up)["data"]["key"]).startswith("alert-")

    listed = alerts_of(client, keys.alpha)
    assert listed["over-8"] == {
        "key": "over-8",
        "kind": "draft_total_above",
        "threshold": "8.00",
        "product": None,
        "currency": "USD",
        "plan": "pro",
        "period_start": "2026-03-01T00:00:00Z",
        "period_end": "2026-04-01T00:00:00Z",
        "value": "8.50",
        "fired": True,
        "fired_at": "2026-03-05T00:00:00Z",
        "fired_value": "8.50",
    }
    # 50.00 is not above 50; the balance 0 is below 1.
    assert (listed["support"]["value"], listed["support"]["fired"]) == ("50.00", False)
    assert (listed["low"]["value"], listed["low"]["fired"]) == ("0.00", True)
    assert triggered(database) == 2

    setup = json_object(client.get("/v1/setup", headers=keys.admin))
    alpha = next(c for c in setup["customers"] if c["id"] == ALPHA)
    assert [a["key"] for a in alpha["alerts"]][:3] == ["over-8", "support", "low"]

    assert client.delete(f"{URL}/support", headers=keys.admin).status_code == 204
    assert "support" not in alerts_of(client, keys.admin)
    error_of(client.delete(f"{URL}/support", headers=keys.admin), 404)


def test_who_may_see_and_change_alerts(client: TestClient, keys: Keys, billed: Billed) -> None:
    body = {"key": "a", "kind": "draft_total_above", "threshold": "1"}
    assert error_of(client.post(URL, json=body, headers=keys.alpha), 403)["code"] == "forbidden"
    error_of(client.delete(f"{URL}/a", headers=keys.alpha), 403)
    error_of(client.get(URL, headers=keys.beta), 404)
    error_of(client.get(URL, headers=keys.revoked), 401)
    assert client.get(f"/v1/customers/{BETA}/alerts", headers=keys.beta).status_code == 200
    error_of(client.post("/v1/customers/nobody/alerts", json=body, headers=keys.admin), 404)


def test_bad_alerts_are_refused_with_the_field_named(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    def refused(body: dict[str, object], status: int = 400) -> dict[str, Any]:
        return error_of(client.post(URL, json=body, headers=keys.admin), status)

    error = refused({"key": "a", "kind": "draft_total_above", "threshold": "1.001"})
    assert error["path"] == "threshold"
    assert "at most 2 decimal places" in str(error["message"])
    error = refused({"kind": "product_amount_above", "threshold": "1", "product": "nothing"})
    assert (error["path"], error["message"]) == ("product", "product: unknown product 'nothing'")
    error = refused({"kind": "product_amount_above", "threshold": "1"})
    assert error["path"] == "product"
    error = refused({"kind": "credit_balance_below", "threshold": "abc"})
    assert error["path"] == "threshold"
    assert "kind" in str(refused({"kind": "soon", "threshold": "1"})["message"])
    assert "threshold" in str(refused({"kind": "draft_total_above", "threshold": 5})["message"])
    assert "extra" in str(
        refused({"kind": "draft_total_above", "threshold": "5", "extra": 1})["message"]
    )
    body: dict[str, object] = {"key": "twice", "kind": "draft_total_above", "threshold": "5"}
    assert client.post(URL, json=body, headers=keys.admin).status_code == 201
    assert "already has an alert 'twice'" in str(refused(body, 409)["message"])


def test_a_setup_document_defines_alerts_and_names_bad_ones(client: TestClient, keys: Keys) -> None:
    document = {
        "customers": [
            {"id": ALPHA, "name": "Alpha Industries",
             "alerts": [{"key": "x", "kind": "draft_total_above", "threshold": "-5"}]},
        ]
    }  # fmt: skip
    response = client.put("/v1/setup", json=document, headers=keys.admin)
    error = error_of(response, 400)
    assert error["path"] == "customers[0].alerts[0].threshold"
    document["customers"][0]["alerts"][0]["threshold"] = "5"  # type: ignore[index]
    assert client.put("/v1/setup", json=document, headers=keys.admin).status_code == 200
    assert list(alerts_of(client, keys.admin)) == ["x"]
