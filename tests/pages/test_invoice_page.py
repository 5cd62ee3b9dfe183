"""The invoice page ``/invoices/{token}``: the API's figures, for people, behind a link
that shows nothing at all unless it is genuine, current and names a finalized invoice."""

import re
import secrets
from collections import defaultdict
from decimal import Decimal
from typing import Any

from meterbill.api.typesense import API_KEY_NAME
from meterbill.core.numbers import format_money
from meterbill.db import catalog as catalog_store
from meterbill.services.links import (
    LINK_SECRET_KEY,
    invoice_link_token,
    link_secret,
    rotate_link_secret,
)
from tests.api.support import TestClient
from tests.pages.conftest import Story
from tests.pages.support import CUSTOMER_NAME, Node, parse_html

# What a page that leaks nothing must not contain: money, the customer, a line.
_AMOUNT = re.compile(r"\d[\d,]*\.\d\d")
_TOTALS = {
    "invoice-subtotal": "subtotal",
    "invoice-credits": "credits_applied",
    "invoice-total": "total",
    "invoice-payments": "payments",
    "invoice-amount-due": "amount_due",
}


def api_invoice(client: TestClient, story: Story, invoice_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/invoices/{invoice_id}", headers=story.admin)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def page_of(client: TestClient, url: str) -> Node:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return parse_html(response.text)


def assert_page_matches_api(page: Node, api: dict[str, Any]) -> None:
    """Every figure of the page has the API's value, and shows it formatted."""
    currency = api["currency"]
    assert page.one("invoice-number").text == str(api["number"])
    assert page.value("invoice-status") == api["status"]
    period = page.one("invoice-period")
    assert (period.attrs["data-start"], period.attrs["data-end"]) == (
        api["period_start"],
        api["period_end"],
    )
    assert page.one("customer-name").text == CUSTOMER_NAME
    rows = page.all("line-row")
    charges = [line for line in api["lines"] if line["type"] != "tax"]
    assert len(rows) == len(charges)
    for row, line in zip(rows, charges, strict=True):
        assert row.attrs["data-kind"] == line["type"]
        assert row.one("line-name").text == line.get("description", line["name"])
        assert row.value("line-quantity") == line["quantity"]
        assert row.value("line-unit-price") == line.get("unit_price", "")
        assert row.value("line-amount") == line["amount"]
        assert row.one("line-amount").text == format_money(Decimal(line["amount"]), currency)
    taxes = [line for line in api["lines"] if line["type"] == "tax"]
    assert [(row.one("tax-name").text, row.value("tax-amount")) for row in page.all("tax-row")] == [
        (line.get("description", line["name"]), line["amount"]) for line in taxes
    ]
    for testid, key in _TOTALS.items():
        assert page.value(testid) == api[key], testid
    for testid in ("invoice-subtotal", "invoice-total", "invoice-amount-due"):
        assert page.one(testid).text == format_money(Decimal(page.value(testid)), currency)
    by_kind: dict[str, Decimal] = defaultdict(Decimal)
    for use in api["credits"]:
        by_kind[use["kind"]] += Decimal(use["amount"])
    shown = {row.attrs["data-kind"]: row for row in page.all("credit-row")}
    assert set(shown) == {kind for kind, amount in by_kind.items() if amount}
    for kind, row in shown.items():
        assert Decimal(row.value("credit-amount")) == by_kind[kind]
        assert row.one("credit-amount").text == format_money(-by_kind[kind], currency)


def test_the_page_shows_every_figure_of_the_api(client: TestClient, story: Story) -> None:
    # The customer reaches the page through the Typesense API's invoice_html_url.
    listed = client.get(
        f"/api/v1/invoices/{story.january}", headers={API_KEY_NAME: story.account_key}
    )
    assert listed.status_code == 200, listed.text
    token = story.token(story.january)
    url = listed.json()["invoice_html_url"]
    assert url == f"http://testserver/invoices/{token}"
    page = page_of(client, url)
    api = api_invoice(client, story, story.january)
    assert_page_matches_api(page, api)
    assert page.value("invoice-status") == "issued"
    # The figures as people read them, worked out by hand in tests/pages/support.py.
    assert [row.text for row in page.all("line-row")] == [
        "Data written on c1 Data written - Tier 1 1,000 GiB $0.10 $100.00",
        "Data written on c1 Data written - Tier 2 11,345.5 GiB $0.0125 $141.82",
        "Data written on c2 Data written - Tier 1 250 GiB $0.10 $25.00",
        "Support 1 $1,500.00",
    ]
    assert {testid: page.one(testid).text for testid in _TOTALS} == {
        "invoice-subtotal": "$1,766.82",
        "invoice-credits": "-$65.00",
        "invoice-total": "$1,701.82",
        "invoice-payments": "-$500.00",
        "invoice-amount-due": "$1,201.82",
    }
    assert [(row.attrs["data-kind"], row.text) for row in page.all("credit-row")] == [
        ("free", "Free credits -$25.00"),
        ("commit", "Commit credits -$40.00"),
    ]
    assert page.one("invoice-period").text == "2026-01-01 – 2026-01-31"
    assert page.one("invoice-issued").text == "2026-03-05"
    assert page.one("invoice-due").text == "2026-04-04"
    assert page.all("invoice-paid") == []
    assert page.one("seller-name").text == "meterbill"
    assert page.one("customer-email").text == "billing@zoe.example"
    assert "VAT FR 12 345678901" in page.one("customer").text
    assert page.one("download-pdf").attrs["href"] == f"/invoices/{token}/pdf"


def test_the_name_is_escaped_and_the_page_is_private(client: TestClient, story: Story) -> None:
    response = client.get(f"/invoices/{story.token(story.january)}")
    assert response.status_code == 200
    assert "Zoë &amp; Co &lt;Café&gt;" in response.text
    assert "<Café>" not in response.text
    headers = response.headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "private, no-store"
    assert "noindex" in headers["x-robots-tag"]


def test_paid_and_void_invoices_stay_readable(client: TestClient, story: Story) -> None:
    paid = client.post(
        f"/v1/invoices/{story.january}/payments", json={"amount": "1201.82"}, headers=story.admin
    )
    assert paid.status_code == 200, paid.text
    voided = client.post(f"/v1/invoices/{story.february}/void", headers=story.admin)
    assert voided.status_code == 200, voided.text

    january = page_of(client, f"/invoices/{story.token(story.january)}")
    assert_page_matches_api(january, api_invoice(client, story, story.january))
    assert (january.value("invoice-status"), january.one("invoice-status").text) == (
        "paid",
        "Paid",
    )
    assert january.one("invoice-paid").text == "2026-03-05"
    assert january.one("invoice-payments").text == "-$1,701.82"
    assert january.one("invoice-amount-due").text == "$0.00"

    february = page_of(client, f"/invoices/{story.token(story.february)}")
    assert_page_matches_api(february, api_invoice(client, story, story.february))
    assert february.value("invoice-status") == "void"
    assert february.one("invoice-voided").text == "2026-03-05"
    assert february.all("invoice-due") == []
    assert february.one("invoice-amount-due").text == "$0.00"
    assert "voided" in february.one("invoice-notice").text


def assert_shows_nothing(client: TestClient, url: str, label: str) -> str:
    response = client.get(url)
    assert response.status_code == 404, f"{label}: {response.status_code}"
    assert response.headers["content-type"] == "text/html; charset=utf-8", label
    body = str(response.text)
    for needle in ("$", "Zoë", "Data written", "Support", "Invoice 1<", "data-value"):
        assert needle not in body, f"{label}: {needle!r} in the 404 page"
    assert _AMOUNT.search(body) is None, label
    parse_html(body)
    return body


def test_links_that_are_not_genuine_show_nothing(client: TestClient, story: Story) -> None:
    # Before any link was handed out there is no secret, and asking does not make one.
    foreign = invoice_link_token(secrets.token_bytes(32), story.january)
    assert_shows_nothing(client, f"/invoices/{foreign}", "no secret yet")
    with story.database.transaction() as session:
        assert catalog_store.get_meta(session, LINK_SECRET_KEY) is None
        secret = link_secret(session)
    token = invoice_link_token(secret, story.january)
    middle = len(token) // 2
    swapped = "B" if token[middle] != "B" else "C"
    tampered = token[:middle] + swapped + token[middle + 1 :]
    other_id = "00000000-0000-5000-8000-000000000000"
    cases = {
        "tampered": tampered,
        "truncated": token[:-1],
        "extended": token + "A",
        "foreign installation": foreign,
        "draft": invoice_link_token(secret, story.march),
        "unknown invoice": invoice_link_token(secret, other_id),
        "garbage": "not-a-token",
        "too long": "A" * 5000,
    }
    bodies = set()
    for label, bad in cases.items():
        bodies.add(assert_shows_nothing(client, f"/invoices/{bad}", label))
        bodies.add(assert_shows_nothing(client, f"/invoices/{bad}/pdf", f"{label} (pdf)"))
    # One answer for every kind of bad link: nothing tells them apart.
    assert len(bodies) == 1
    assert client.get(f"/invoices/{token}").status_code == 200

    with story.database.transaction() as session:
        rotate_link_secret(session)
    assert_shows_nothing(client, f"/invoices/{token}", "rotated")
    assert_shows_nothing(client, f"/invoices/{token}/pdf", "rotated (pdf)")
    fresh = story.token(story.january)
    assert fresh != token
    assert client.get(f"/invoices/{fresh}").status_code == 200
    listed = client.get(
        f"/api/v1/invoices/{story.january}", headers={API_KEY_NAME: story.account_key}
    )
    assert listed.json()["invoice_html_url"].endswith(f"/invoices/{fresh}")
