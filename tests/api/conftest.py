"""Fixtures of the HTTP API tests; every test using them runs on SQLite and PostgreSQL.

* ``database``: a migrated ``Database`` on ``db_url``, disposed after the test;
* ``app`` / ``client``: the application with the clock fixed at 2026-03-05T00:00:00Z;
* ``keys``: an admin key, one key per customer and a revoked key, after the small setup of
  ``tests/api/support.py`` was applied through ``PUT /v1/setup``;
* ``billed``: the standard events ingested through the API and January and February closed
  with the invoicing service, as the scheduler would at the clock.
"""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from meterbill.api.app import create_app
from meterbill.db.database import Database
from meterbill.services.invoicing import close_periods
from meterbill.services.keys import create_key, revoke_key
from tests.api.support import (
    ALPHA,
    BETA,
    FIXED,
    SETUP_YAML,
    STANDARD_EVENTS,
    Billed,
    Keys,
    TestClient,
    ingest,
    json_list,
    json_object,
)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def app(database: Database) -> FastAPI:
    return create_app(database, clock=lambda: FIXED)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # Server errors come back as responses (500) instead of being raised into the test, so a
    # test can report the request that failed.
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def keys(database: Database, client: TestClient) -> Keys:
    with database.transaction() as session:
        _, admin = create_key(session, customer_id=None, now=FIXED, name="admin")
    response = client.put(
        "/v1/setup",
        content=SETUP_YAML,
        headers={**bearer(admin), "Content-Type": "application/yaml"},
    )
    assert response.status_code == 200, response.text
    with database.transaction() as session:
        _, alpha = create_key(session, customer_id=ALPHA, now=FIXED)
        _, beta = create_key(session, customer_id=BETA, now=FIXED)
        revoked_id, revoked = create_key(session, customer_id=None, now=FIXED)
        revoke_key(session, revoked_id, now=FIXED)
    return Keys(
        admin=bearer(admin),
        alpha=bearer(alpha),
        beta=bearer(beta),
        revoked=bearer(revoked),
    )


def invoice_ids(client: TestClient, keys: Keys, customer: str) -> list[str]:
    response = client.get(f"/v1/customers/{customer}/invoices", headers=keys.admin)
    assert response.status_code == 200, response.text
    return [str(item["id"]) for item in json_list(json_object(response)["data"])]


@pytest.fixture
def billed(database: Database, client: TestClient, keys: Keys) -> Billed:
    summary = ingest(client, keys.admin, STANDARD_EVENTS)
    assert summary["accepted"] == len(STANDARD_EVENTS), summary
    with database.transaction() as session:
        issued = close_periods(session, as_of=FIXED).issued
    assert sorted((v.customer.id, v.ref.period.start.month) for v in issued) == [
        (ALPHA, 1),
        (ALPHA, 2),
        (BETA, 1),
        (BETA, 2),
    ]
    alpha = invoice_ids(client, keys, ALPHA)
    beta = invoice_ids(client, keys, BETA)
    assert (len(alpha), len(beta)) == (3, 3), (alpha, beta)
    return Billed(*alpha, *beta)
