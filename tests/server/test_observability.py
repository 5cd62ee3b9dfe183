"""Issue 10 through a real ``meterbill serve`` on SQLite and PostgreSQL: settings from the
environment (the option wins), JSON log lines with request ids, the closer's lines, and
``/metrics`` moving with the traffic.

The server holds the standard story of ``tests/api/support.py``; at its clock 2026-03-05
the closer issues the January and February invoices of both customers: 4 invoices,
numbers 1 to 4.
"""

import json
import time
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.support import ALPHA, FIXED_TEXT, event
from tests.server.conftest import Server

WAIT = 30.0


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{server.base_url}/metrics", timeout=WAIT)
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def log_lines(server: Server) -> list[dict[str, object]]:
    lines = []
    for text in server.log.read_text().splitlines():
        lines.append(json.loads(text))  # every line is one JSON object
    return lines


def eventually(check: Callable[[], bool]) -> None:
    """Wait (bounded) for ``check``: a request's access line and latency are recorded just
    after its response went out, so the client may see the response a moment before."""
    deadline = time.monotonic() + WAIT
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_env_settings_json_logs_and_metrics(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    # From the environment: JSON logs and the closer every 0.2 s; the fixture's
    # ``--close-every 0`` is overridden by the option given last, and METERBILL_METRICS
    # by ``--metrics``.
    monkeypatch.setenv("METERBILL_LOG_FORMAT", "json")
    monkeypatch.setenv("METERBILL_CLOCK", FIXED_TEXT)
    monkeypatch.setenv("METERBILL_METRICS", "false")
    server = serve("--close-every", "0.2", "--metrics")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        samples = scrape(server)
        if samples.get(("meterbill_invoices_issued_total", ())) == 4:
            break
        time.sleep(0.2)
    assert samples.get(("meterbill_invoices_issued_total", ())) == 4
    assert samples[("meterbill_close_failures_total", ())] == 0

    events = [
        event("s-new", ALPHA, "api_call", "2026-03-01T00:00:00Z"),
        event("a-jan-1", ALPHA, "produce", "2026-01-10T01:30:00Z", cluster_id="c1", bytes=60),
        event("s-bad", "nobody", "api_call", "2026-03-01T00:00:00Z"),
    ]
    answer = httpx.post(
        f"{server.base_url}/v1/events",
        json=events,
        headers={**server.headers, "X-Request-Id": "ingest-1"},
        timeout=WAIT,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == "ingest-1"
    count = (
        "meterbill_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/v1/events"), ("status", "200")),
    )
    eventually(lambda: count in scrape(server))
    after = scrape(server)
    for outcome in ("accepted", "duplicate", "rejected"):
        key = ("meterbill_events_total", (("api", "native"), ("outcome", outcome)))
        assert after[key] - samples[key] == 1, outcome
    assert after[count] == 1

    eventually(lambda: "ingest-1" in server.log.read_text())
    lines = log_lines(server)
    [access] = [line for line in lines if line.get("request_id") == "ingest-1"]
    assert (access["logger"], access["route"], access["status"]) == (
        "meterbill.access",
        "/v1/events",
        200,
    )
    issued = [line for line in lines if line.get("action") == "invoice_issued"]
    assert sorted(int(str(line["invoice_number"])) for line in issued) == [1, 2, 3, 4]
    assert all("request_id" not in line for line in issued)


def test_metrics_off_from_the_environment(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METERBILL_METRICS", "false")
    monkeypatch.setenv("METERBILL_LOG_FORMAT", "console")
    server = serve()
    assert httpx.get(f"{server.base_url}/metrics", timeout=WAIT).status_code == 404
    eventually(lambda: "GET /metrics 404" in server.log.read_text())
    text = server.log.read_text()
    assert "GET /metrics 404" in text
    assert not text.lstrip().startswith("{")  # readable lines, not JSON
