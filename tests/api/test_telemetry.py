"""Issue 10: ``/metrics`` (Prometheus text, parsed with prometheus-client's own parser),
request ids and the JSON log lines of a request, on SQLite and PostgreSQL.

Every expected count is a hand-computed difference between two scrapes of the same
application (the counters of an application start at 0 and only this test moves them).
"""

import io
import json
import logging
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from meterbill.api.app import create_app
from meterbill.api.telemetry import UNROUTED, Telemetry
from meterbill.cli.webhook_sender import SenderOptions, WebhookSender, parse_schedule
from meterbill.db.database import Database
from meterbill.services.outbox import emit
from meterbill.services.webhooks import create_endpoint
from tests.api.support import ALPHA, BETA, FIXED, STANDARD_EVENTS, Keys, TestClient, event

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    """Every sample of ``/metrics``, keyed by name and sorted labels."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def events_total(samples: Samples, api: str, outcome: str) -> float:
    return value(samples, "meterbill_events_total", api=api, outcome=outcome)


def test_ingest_counters_move_by_each_outcome(client: TestClient, keys: Keys) -> None:
    # The fixture applied the setup only: a-jan-1 goes in first, and is a duplicate after.
    first = client.post("/v1/events", json=[STANDARD_EVENTS[0]], headers=keys.admin)
    assert first.json()["accepted"] == 1
    before = scrape(client)
    assert events_total(before, "native", "accepted") == 1
    batch = [
        event("t-new", ALPHA, "api_call", "2026-03-01T00:00:00Z"),
        STANDARD_EVENTS[0],
        event("t-bad", "nobody", "api_call", "2026-03-01T00:00:00Z"),
    ]
    response = client.post("/v1/events", json=batch, headers=keys.admin)
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == [
        "accepted",
        "duplicate",
        "rejected",
    ]
    after = scrape(client)
    assert {
        outcome: events_total(after, "native", outcome) - events_total(before, "native", outcome)
        for outcome in ("accepted", "duplicate", "rejected")
    } == {"accepted": 1, "duplicate": 1, "rejected": 1}
    # Nothing came in through Metronome's ingest.
    assert all(
        events_total(after, "metronome", o) == 0 for o in ("accepted", "duplicate", "rejected")
    )


def test_metronome_ingest_is_counted_whole_batches_refused(client: TestClient, keys: Keys) -> None:
    before = scrape(client)
    good = [
        event("m-1", ALPHA, "api_call", "2026-03-01T00:00:00Z"),
        event("m-2", BETA, "api_call", "2026-03-01T00:00:00Z"),
    ]
    assert client.post("/metronome/v1/ingest", json=good, headers=keys.admin).status_code == 200
    # m-1 again (duplicate) and m-3 (new): 1 accepted, 1 duplicate.
    again = [good[0], event("m-3", ALPHA, "api_call", "2026-03-01T00:00:00Z")]
    assert client.post("/metronome/v1/ingest", json=again, headers=keys.admin).status_code == 200
    # All or nothing: one unknown customer refuses the three events of the batch.
    refused = [
        event("m-4", ALPHA, "api_call", "2026-03-01T00:00:00Z"),
        event("m-5", "nobody", "api_call", "2026-03-01T00:00:00Z"),
        good[1],
    ]
    answer = client.post("/metronome/v1/ingest", json=refused, headers=keys.admin)
    assert answer.status_code == 400, answer.text
    after = scrape(client)
    assert {
        outcome: events_total(after, "metronome", outcome)
        - events_total(before, "metronome", outcome)
        for outcome in ("accepted", "duplicate", "rejected")
    } == {"accepted": 3, "duplicate": 1, "rejected": 3}
    assert events_total(after, "native", "accepted") == events_total(before, "native", "accepted")


def test_request_latency_is_labelled_by_route_template(client: TestClient, keys: Keys) -> None:
    for customer in (ALPHA, BETA, "nobody"):
        client.get(f"/v1/customers/{customer}", headers=keys.admin)
    client.get("/metronome/v1/customers/whoever", headers=keys.admin)
    client.get("/no/such/page")
    samples = scrape(client)
    count = "meterbill_http_request_duration_seconds_count"
    template = "/v1/customers/{customer_id}"
    assert value(samples, count, method="GET", route=template, status="200") == 2
    assert value(samples, count, method="GET", route=template, status="404") == 1
    assert value(samples, count, method="GET", route=UNROUTED, status="404") == 1
    routes = {dict(labels).get("route") for name, labels in samples if name == count}
    assert "/metronome/v1/customers/{customer_id}" in routes
    assert not any(r and ALPHA in r for r in routes)  # never a raw path
    # Buckets exist per route, cumulative up to +Inf = count.
    bucket = "meterbill_http_request_duration_seconds_bucket"
    inf = value(samples, bucket, method="GET", route=template, status="200", le="+Inf")
    assert inf == 2


def test_state_gauges_are_read_at_scrape_time(
    client: TestClient, keys: Keys, database: Database
) -> None:
    samples = scrape(client)
    assert value(samples, "meterbill_outbox_depth") == 0
    # No request holds a connection while /metrics is scraped.
    assert value(samples, "meterbill_db_connections_in_use") == 0
    assert value(samples, "meterbill_db_pool_size") == database.pool_size
    with database.transaction() as session:
        # Depth counts deliveries still to be made: no endpoint, nothing to deliver.
        emit(session, "invoice.paid", {"invoice_id": "w"}, at=FIXED)
    assert value(scrape(client), "meterbill_outbox_depth") == 0
    with database.transaction() as session:
        create_endpoint(session, url="http://127.0.0.1:9/all", now=FIXED)
        create_endpoint(
            session, url="http://127.0.0.1:9/paid", event_types=["invoice.paid"], now=FIXED
        )
        emit(session, "invoice.paid", {"invoice_id": "x"}, at=FIXED)
        emit(session, "invoice.voided", {"invoice_id": "y"}, at=FIXED)
    # invoice.paid to both endpoints, invoice.voided to the one that wants every type.
    assert value(scrape(client), "meterbill_outbox_depth") == 3
    # Defined now, delivered by the webhook sender: both outcomes at 0.
    for outcome in ("delivered", "failed"):
        assert value(samples, "meterbill_webhook_deliveries_total", outcome=outcome) == 0
    assert value(samples, "meterbill_invoices_issued_total") == 0
    assert value(samples, "meterbill_close_failures_total") == 0
    assert value(samples, "meterbill_build_info", version="0.1.0") == 1


def test_metrics_can_be_turned_off(database: Database) -> None:
    app = create_app(database, clock=lambda: FIXED, metrics=False)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404


def test_each_request_gets_an_id_honoured_or_generated(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-Id": "lb-7f3a.1"})
    assert given.headers["x-request-id"] == "lb-7f3a.1"
    made = client.get("/healthz")
    other = client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    assert made.headers["x-request-id"] != other.headers["x-request-id"]
    # An id that could forge log lines (spaces, quotes, too long) is replaced.
    for bad in ('x" y', "a" * 200):
        answer = client.get("/healthz", headers={"X-Request-Id": bad})
        assert answer.headers["x-request-id"] not in (bad, "")
    # Errors carry it too.
    assert "x-request-id" in client.get("/v1/customers").headers  # 401


def lines_of(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_every_log_line_of_a_request_carries_its_id(
    database: Database, json_logs: io.StringIO
) -> None:
    app: FastAPI = create_app(database, clock=lambda: FIXED)
    worker = logging.getLogger("meterbill.test")

    @app.get("/test/work")
    def work() -> dict[str, str]:  # a sync endpoint: runs in a worker thread
        worker.info("working on it", extra={"customer_id": ALPHA})
        return {"ok": "yes"}

    @app.get("/test/fail")
    def fail() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/test/work", headers={"X-Request-Id": "req-1"}).status_code == 200
        failed = client.get("/test/fail", headers={"X-Request-Id": "req-2"})
        assert failed.status_code == 500
    lines = lines_of(json_logs)
    first = [line for line in lines if line.get("request_id") == "req-1"]
    assert [(line["logger"], line["event"]) for line in first] == [
        ("meterbill.test", "working on it"),
        ("meterbill.access", "GET /test/work 200"),
    ]
    working, access = first
    assert working["customer_id"] == ALPHA
    assert working["level"] == "info"
    assert datetime.fromisoformat(str(working["timestamp"])).tzinfo == UTC
    assert access["route"] == "/test/work"
    assert access["status"] == 200
    assert access["method"] == "GET"
    assert isinstance(access["duration_ms"], float)
    second = [line for line in lines if line.get("request_id") == "req-2"]
    assert {str(line["event"]) for line in second} == {"GET /test/fail 500", "unexpected error"}
    error = next(line for line in second if line["event"] == "unexpected error")
    assert error["level"] == "error"
    assert "RuntimeError: boom" in str(error["exception"])


def test_webhook_attempts_are_counted_by_outcome(database: Database) -> None:
    # Port 9 (discard) refuses connections here: with a one-delay schedule the first
    # attempt retries and the second fails for good, each counted as a failed attempt.
    telemetry = Telemetry(database)
    with database.transaction() as session:
        create_endpoint(session, url="http://127.0.0.1:9/hooks", now=FIXED)
        emit(session, "invoice.paid", {"invoice_id": "x"}, at=FIXED)
    clock = [FIXED]
    options = SenderOptions(timeout=2, schedule=parse_schedule("1s"), jitter=0)
    sender = WebhookSender(database, options, clock=lambda: clock[0], telemetry=telemetry)
    try:
        assert sender.run_once() == 1
        clock[0] = FIXED + timedelta(seconds=2)
        assert sender.run_once() == 1
        assert sender.run_once() == 0
    finally:
        sender.close()
    failed = telemetry.webhook_deliveries.labels("failed")._value.get()
    delivered = telemetry.webhook_deliveries.labels("delivered")._value.get()
    assert (failed, delivered) == (2, 0)
