"""Fixtures of the dashboard tests; every test using ``db_url`` runs on SQLite and PostgreSQL.

The story is the HTTP API tests' (``tests/api/support.py``): two customers on one monthly
plan, January and February issued, March a live draft at the fixed clock 2026-03-05.

* ``database`` / ``client``: the application on a migrated database, clock fixed;
* ``billed``: the standard events ingested and the periods closed, with the keys and ids.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

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
    TestClient,
    ingest,
    invoices_of,
)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@dataclass(frozen=True, slots=True)
class Story:
    """The billed story: each caller's key and each customer's invoice ids, period order."""

    admin: str
    alpha: str
    beta: str
    revoked: str
    alpha_invoices: tuple[str, ...]
    beta_invoices: tuple[str, ...]

    @property
    def admin_headers(self) -> dict[str, str]:
        return bearer(self.admin)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def client(database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(database, clock=lambda: FIXED)) as client:
        yield client


@pytest.fixture
def billed(database: Database, client: TestClient) -> Story:
    with database.transaction() as session:
        _, admin = create_key(session, customer_id=None, now=FIXED, name="admin")
    response = client.put(
        "/v1/setup",
        content=SETUP_YAML,
        headers={**bearer(admin), "Content-Type": "application/yaml"},
    )
    assert response.status_code == 200, response.text
    summary = ingest(client, bearer(admin), STANDARD_EVENTS)
    assert summary["accepted"] == len(STANDARD_EVENTS), summary
    with database.transaction() as session:
        close_periods(session, as_of=FIXED)
        _, alpha = create_key(session, customer_id=ALPHA, now=FIXED)
        _, beta = create_key(session, customer_id=BETA, now=FIXED)
        revoked_id, revoked = create_key(session, customer_id=None, now=FIXED)
        revoke_key(session, revoked_id, now=FIXED)
    alpha_ids = tuple(str(i["id"]) for i in invoices_of(client, bearer(admin), ALPHA))
    beta_ids = tuple(str(i["id"]) for i in invoices_of(client, bearer(admin), BETA))
    assert (len(alpha_ids), len(beta_ids)) == (3, 3)
    return Story(admin, alpha, beta, revoked, alpha_ids, beta_ids)
