"""Issue 10: a database that cannot be written or reached answers 503 with the reason and
``Retry-After`` (never a generic 500), ``/readyz`` says so, ``/healthz`` stays 200.

Tests run as root, so ``chmod`` cannot make a SQLite file read-only; the application is
given the same file opened read-only instead (``?mode=ro``), which fails every write the
way a read-only file or a full disk does. The PostgreSQL test points at a port nobody
listens on. The ``TestClient`` raises server errors into the test, so a request that took
the generic 500 path (which also drops the connection) fails the test outright.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from meterbill.api.app import create_app
from meterbill.db.database import Database
from tests.api.support import ALPHA, FIXED, FIXED_TEXT, error_of, event
from tests.dbsupport import reset_postgres_schema
from tests.server.conftest import free_port, prepare


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    path = tmp_path / "meterbill.db"
    admin = prepare(f"sqlite:///{path}")
    database = Database(f"sqlite:///file:{path}?mode=ro&uri=true", migrate=False)
    try:
        with TestClient(create_app(database, clock=lambda: FIXED)) as client:
            yield client, {"Authorization": f"Bearer {admin}"}
    finally:
        database.dispose()


def test_a_read_only_sqlite_file_answers_503_to_writes(
    read_only: tuple[TestClient, dict[str, str]],
) -> None:
    client, admin = read_only
    fresh = [event("ro-1", ALPHA, "api_call", "2026-03-03T00:00:00Z")]
    response = client.post("/v1/events", json=fresh, headers=admin)
    error = error_of(response, 503)
    assert error["code"] == "storage_unavailable"
    assert "readonly database" in error["message"]
    assert response.headers["retry-after"] == "5"
    metronome = client.post(
        "/metronome/v1/ingest",
        json=[
            {
                "transaction_id": "ro-2",
                "customer_id": ALPHA,
                "event_type": "api_call",
                "timestamp": "2026-03-03T00:00:00Z",
                "properties": {},
            }
        ],
        headers=admin,
    )
    assert metronome.status_code == 503
    assert "readonly database" in metronome.json()["message"]
    assert metronome.headers["retry-after"] == "5"
    # Reads still work (they take no write lock), and the process is alive, not ready.
    invoices = client.get(f"/v1/customers/{ALPHA}/invoices?as_of={FIXED_TEXT}", headers=admin)
    assert invoices.status_code == 200, invoices.text
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert error_of(ready, 503)["code"] == "storage_unavailable"
    assert ready.headers["retry-after"] == "5"


def test_a_writable_database_is_ready_and_keeps_nothing_of_the_probe(db_url: str) -> None:
    database = Database(db_url)
    try:
        with TestClient(create_app(database, clock=lambda: FIXED)) as client:
            for _ in range(2):
                response = client.get("/readyz")
                assert response.status_code == 200, response.text
                assert response.json()["status"] == "ready"
        with database.transaction(read_only=True) as session:
            from meterbill.db import catalog as store

            assert store.get_meta(session, "readiness_probe") is None
    finally:
        database.dispose()


@pytest.mark.postgres
def test_a_postgresql_server_that_is_gone_answers_503() -> None:
    database = Database(
        f"postgresql://postgres@127.0.0.1:{free_port()}/meterbill_gone", migrate=False
    )
    try:
        with TestClient(create_app(database, clock=lambda: FIXED)) as client:
            headers = {"Authorization": "Bearer mb_0123456789ab_whatever"}
            for response in (
                client.get(f"/v1/customers/{ALPHA}/invoices", headers=headers),
                client.post("/v1/events", json=[], headers=headers),
            ):
                error = error_of(response, 503)
                assert error["code"] == "storage_unavailable"
                assert "Connection refused" in error["message"]
                assert response.headers["retry-after"] == "5"
            metronome = client.post("/metronome/v1/ingest", json=[], headers=headers)
            assert metronome.status_code == 503
            assert metronome.headers["retry-after"] == "5"
            assert client.get("/healthz").status_code == 200
            assert error_of(client.get("/readyz"), 503)["code"] == "storage_unavailable"
    finally:
        database.dispose()


@pytest.mark.postgres
def test_a_read_only_postgresql_answers_503_to_writes(postgres_database: str) -> None:
    # A standby after a failover, or a database set read-only: reads work, writes 503.
    reset_postgres_schema(postgres_database)
    admin = prepare(postgres_database)
    read_only = f"{postgres_database}?options=-c%20default_transaction_read_only%3Don"
    database = Database(read_only, migrate=False)
    try:
        with TestClient(create_app(database, clock=lambda: FIXED)) as client:
            headers = {"Authorization": f"Bearer {admin}"}
            fresh = [event("ro-pg-1", ALPHA, "api_call", "2026-03-03T00:00:00Z")]
            error = error_of(client.post("/v1/events", json=fresh, headers=headers), 503)
            assert error["code"] == "storage_unavailable"
            assert "read-only transaction" in error["message"]
            path = f"/v1/customers/{ALPHA}/invoices?as_of={FIXED_TEXT}"
            assert client.get(path, headers=headers).status_code == 200
            assert error_of(client.get("/readyz"), 503)["code"] == "storage_unavailable"
    finally:
        database.dispose()
