"""The dashboard's Alerts section: each alert, its threshold, its value now and whether and
when it fired this period (on SQLite and PostgreSQL).

At the clock Alpha's March draft is 8.50 after credits, its support line 50.00 and its
credit balance 0 (tests/api/support.py).
"""

from tests.api.support import ALPHA, BETA, TestClient
from tests.dashboard.conftest import Story, bearer
from tests.dashboard.support import parse_html


def test_the_alerts_section_shows_thresholds_and_firings(client: TestClient, billed: Story) -> None:
    url = f"/v1/customers/{ALPHA}/alerts"
    for body in (
        {"key": "over-8", "kind": "draft_total_above", "threshold": "8"},
        {"key": "support", "kind": "product_amount_above", "threshold": "50", "product": "support"},
    ):
        response = client.post(url, json=body, headers=billed.admin_headers)
        assert response.status_code == 201, response.text
    response = client.get(f"/dashboard/{ALPHA}", headers=bearer(billed.alpha))
    assert response.status_code == 200, response.text
    page = parse_html(response.text)
    rows = {row.attrs["data-key"]: row for row in page.one("alerts").all("alert-row")}
    assert set(rows) == {"over-8", "support"}
    fired, quiet = rows["over-8"], rows["support"]
    assert (fired.attrs["data-threshold"], fired.attrs["data-fired"]) == ("8.00", "true")
    assert fired.attrs["data-fired-at"] == "2026-03-05T00:00:00Z"
    assert fired.cells() == [
        "over-8",
        "Draft total above",
        "8.00 USD",
        "8.50 USD",
        "Fired 2026-03-05 00:00 UTC at 8.50 USD",
    ]
    assert quiet.attrs["data-fired"] == "false"
    assert quiet.cells()[1:] == ["support above", "50.00 USD", "50.00 USD", "Not fired"]


def test_no_alerts_no_section(client: TestClient, billed: Story) -> None:
    page = parse_html(client.get(f"/dashboard/{BETA}", headers=bearer(billed.beta)).text)
    assert page.all("alerts") == []
