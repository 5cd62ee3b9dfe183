"""``meterbill serve`` fires a spend alert within its ``--alert-interval`` of the event that
crossed it (a real process, on SQLite and PostgreSQL).

At the clock 2026-03-05 Alpha's March draft is 8.50 after credits (tests/api/support.py);
20 more bytes on c1 add 2.00, so 10.50 crosses the threshold 9. Every wait is bounded;
nothing asserts how long it took.
"""

import time
from collections.abc import Callable

import httpx

from tests.api.support import ALPHA, FIXED_TEXT, event
from tests.server.conftest import Server

DEADLINE = 60.0


def alert(server: Server) -> dict[str, object]:
    response = httpx.get(f"{server.base_url}/v1/customers/{ALPHA}/alerts", headers=server.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert isinstance(data, list)
    item = data[0]
    assert isinstance(item, dict)
    return item


def test_serve_fires_an_alert_after_the_event_that_crosses_it(
    serve: Callable[..., Server],
) -> None:
    server = serve("--clock", FIXED_TEXT, "--alert-interval", "0.2")
    url = f"{server.base_url}/v1/customers/{ALPHA}/alerts"
    body = {"key": "over-9", "kind": "draft_total_above", "threshold": "9"}
    assert httpx.post(url, json=body, headers=server.headers).status_code == 201
    assert (alert(server)["value"], alert(server)["fired"]) == ("8.50", False)
    crossing = event("a-mar-9", ALPHA, "produce", "2026-03-04T00:00:00Z", cluster_id="c1", bytes=20)
    response = httpx.post(f"{server.base_url}/v1/events", json=[crossing], headers=server.headers)
    assert response.json()["accepted"] == 1, response.text
    deadline = time.monotonic() + DEADLINE
    while not alert(server)["fired"] and time.monotonic() < deadline:
        time.sleep(0.1)
    state = alert(server)
    assert (state["fired"], state["fired_value"], state["value"]) == (True, "10.50", "10.50")
    assert "Traceback" not in server.log.read_text()
