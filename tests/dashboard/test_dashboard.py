"""The usage dashboard over HTTP: every figure equals the API's, CSV sums are exact, signed
links and keys open exactly one customer's dashboard, and nothing loads from outside.

Each test runs on SQLite and PostgreSQL (``db_url``) over the billed story of
``tests/api/support.py`` at 2026-03-05: Alpha's January and February are issued and March
is its live draft (51.50 of lines, 8.50 after the prepaid credit).
"""

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from meterbill.api.app import create_app
from meterbill.api.dashboard import COOKIE_NAME
from meterbill.db.database import Database
from meterbill.services.jsonio import dumps_text
from meterbill.services.links import (
    dashboard_link_token,
    invoice_link_token,
    link_secret,
    verify_invoice_link_token,
)
from tests.api.support import (
    ALPHA,
    ALPHA_NAME,
    BETA,
    FIXED,
    TestClient,
    invoices_of,
    json_list,
    json_object,
    walk_pages,
)
from tests.dashboard.conftest import Story, bearer
from tests.dashboard.support import Element, parse_html

CSV_HEADER = [
    "window_start",
    "window_end",
    "invoice_id",
    "line",
    "product",
    "group",
    "quantity",
    "amount",
]
AMOUNT = re.compile(r"(?<![\d.])\d+\.\d\d(?![\d.])")
ZERO = Decimal(0)


def page(client: TestClient, url: str, headers: dict[str, str] | None = None) -> Element:
    response = client.get(url, headers=headers or {})
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return parse_html(response.text)


def api_breakdowns(
    client: TestClient, story: Story, customer: str, start: str, end: str, size: str
) -> list[dict[str, Any]]:
    items, _ = walk_pages(
        client,
        f"/v1/customers/{customer}/breakdowns",
        story.admin_headers,
        {"starting_on": start, "ending_before": end, "window_size": size, "limit": 1000},
    )
    return items


Row = tuple[str, str, str, str, str, Decimal, Decimal]


def clock_at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def api_rows(entries: list[dict[str, Any]], invoice_ids: set[str]) -> list[Row]:
    """The breakdown API's (start, invoice, line, product, group, quantity, amount) rows of
    ``invoice_ids``, without the rows whose quantity and amount are both zero."""
    rows: list[Row] = []
    for entry in entries:
        if entry["invoice_id"] not in invoice_ids:
            continue
        for line in json_list(entry["lines"]):
            quantity, amount = Decimal(line["quantity"]), Decimal(line["amount"])
            if quantity == 0 and amount == 0:
                continue
            group = dumps_text(line["group"]) if line["group"] else ""
            product = line["product"] or line["type"]
            rows.append(
                (
                    entry["start"],
                    entry["invoice_id"],
                    line["name"],
                    product,
                    group,
                    quantity,
                    amount,
                )
            )
    return rows


def table_rows(document: Element) -> list[Row]:
    rows: list[Row] = []
    for row in document.one("breakdown-table").all("breakdown-row"):
        cells = row.cells()
        assert cells[0] == row.attrs["data-window-start"][:10] or " " in cells[0]
        rows.append(
            (
                row.attrs["data-window-start"],
                row.attrs["data-invoice-id"],
                cells[1],
                row.attrs["data-product"],
                row.attrs["data-group"],
                row.decimal("data-quantity"),
                row.decimal(),
            )
        )
    return rows


def read_csv(text: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    assert header == CSV_HEADER
    return [dict(zip(header, row, strict=True)) for row in reader]


def api_invoice(client: TestClient, story: Story, invoice_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/invoices/{invoice_id}", headers=story.admin_headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = json_object(response)["data"]
    return data


def secret_of(database: Database) -> bytes:
    with database.transaction() as session:
        return link_secret(session)


def signed_url(database: Database, customer: str, *, days: float = 30) -> str:
    token = dashboard_link_token(
        secret_of(database), customer, expires_at=FIXED + timedelta(days=days)
    )
    return f"/d/{token}"


def assert_shows_nothing(body: str) -> None:
    assert ALPHA_NAME not in body
    assert not AMOUNT.search(body), AMOUNT.search(body)
    assert 'data-testid="draft-total"' not in body
    assert "<svg" not in body


# --------------------------------------------------------------------------- figures


def test_figures_equal_the_api(client: TestClient, billed: Story, database: Database) -> None:
    document = page(client, f"/dashboard/{ALPHA}", billed.admin_headers)
    jan, feb, mar = billed.alpha_invoices

    # The live draft: its running total and lines are the API's draft.
    draft = api_invoice(client, billed, mar)
    assert draft["status"] == "draft"
    total = document.one("draft-total")
    assert total.attrs["data-invoice-id"] == mar
    assert total.decimal() == Decimal(draft["total"]) == Decimal("8.50")
    assert "8.50" in total.text
    shown_lines = [
        (row.cells()[0], row.decimal("data-quantity"), row.decimal())
        for row in document.all("draft-line")
    ]
    assert shown_lines == [
        (line["name"], Decimal(line["quantity"]), Decimal(line["amount"]))
        for line in draft["lines"]
    ]

    # The chart: one bar per (day, product) with cost, February and March; per day the bars
    # add up to the breakdown's day total, per (day, product) to its lines of that product.
    entries = api_breakdowns(
        client, billed, ALPHA, "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z", "day"
    )
    want_day: dict[str, Decimal] = defaultdict(Decimal)
    want_segment: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for entry in entries:
        day = str(entry["start"])[:10]
        want_day[day] += Decimal(entry["total"])
        for line in json_list(entry["lines"]):
            want_segment[(day, line["product"] or line["type"])] += Decimal(line["amount"])
    chart = document.one("daily-cost-chart")
    assert chart.tag == "svg"
    bars = chart.all("bar")
    assert all(bar.tag == "rect" for bar in bars)
    got_day: dict[str, Decimal] = defaultdict(Decimal)
    got_segment: dict[tuple[str, str], Decimal] = {}
    for bar in bars:
        key = (bar.attrs["data-day"], bar.attrs["data-product"])
        assert key not in got_segment, f"two bars for {key}"
        assert re.fullmatch(r"-?\d+\.\d\d", bar.attrs["data-amount"]), bar.attrs
        assert float(bar.attrs["height"]) >= 0
        got_segment[key] = bar.decimal()
        got_day[key[0]] += bar.decimal()
    assert got_segment == {key: value for key, value in want_segment.items() if value}
    assert got_day == {day: value for day, value in want_day.items() if value}
    assert len(want_day) == 28 + 31
    assert sum(got_day.values()) == Decimal("137.00") + Decimal("51.50")  # both subtotals
    assert {product for _, product in got_segment} == {
        "gib_written",
        "storage",
        "support",
        "prepaid_credit_purchase",
    }

    # Top groups: the current period's breakdown amounts per group, largest first.
    by_group: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        if entry["invoice_id"] == mar:
            for line in json_list(entry["lines"]):
                if line["group"]:
                    label = ", ".join(f"{k}: {v}" for k, v in line["group"].items())
                    by_group[label] += Decimal(line["amount"])
    groups = [
        (row.attrs["data-group"], row.cells()[0], row.decimal())
        for row in document.one("top-groups").all("top-group-row")
    ]
    assert groups == [
        ("cluster_id: c1", "cluster_id: c1", Decimal("1.00")),
        ("cluster_id: c2", "cluster_id: c2", Decimal("0.50")),
    ]
    assert {label: amount for label, _, amount in groups} == by_group

    # The breakdown table (day, the current period) is the API's breakdown of the draft.
    assert table_rows(document) == api_rows(entries, {mar})
    assert len(table_rows(document)) == 31 + 2  # support every day, c1 on the 1st, c2 the 2nd

    # The invoices: the API's, newest first, finalized ones with their signed page.
    secret = secret_of(database)
    listed = invoices_of(client, billed.admin_headers, ALPHA)
    rows = document.one("invoice-list").all("invoice-row")
    assert [row.attrs["data-invoice-id"] for row in rows] == [mar, feb, jan]
    for row, invoice in zip(rows, reversed(listed), strict=True):
        assert row.attrs["data-status"] == invoice["status"]
        assert row.decimal("data-total") == Decimal(invoice["total"])
        assert row.one("invoice-status").text == invoice["status"]
        assert Decimal(row.one("invoice-total").text.split()[0]) == Decimal(invoice["total"])
        assert str(invoice["period_start"])[:10] in row.text
        links = row.all("invoice-link")
        if invoice["status"] == "draft":
            assert links == []
            continue
        assert len(links) == 1
        href = links[0].attrs["href"]
        assert href == f"/invoices/{invoice_link_token(secret, str(invoice['id']))}"
        assert verify_invoice_link_token(secret, href.removeprefix("/invoices/")) == invoice["id"]

    # The customer's own key sees the same page.
    own = page(client, f"/dashboard/{ALPHA}", bearer(billed.alpha))
    assert own.one("draft-total").decimal() == Decimal("8.50")
    assert len(own.one("daily-cost-chart").all("bar")) == len(bars)


def test_hour_window_and_chosen_invoice(client: TestClient, billed: Story) -> None:
    jan, _, mar = billed.alpha_invoices
    document = page(client, f"/dashboard/{ALPHA}?window=hour", billed.admin_headers)
    hours = api_breakdowns(
        client, billed, ALPHA, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", "hour"
    )
    rows = table_rows(document)
    assert rows == api_rows(hours, {mar})
    assert len(rows) == 31 * 24 + 2
    assert sum((row[6] for row in rows), ZERO) == Decimal("51.50")
    first = document.one("breakdown-table").all("breakdown-row")[0]
    assert first.cells()[0] == "2026-03-01 00:00"
    # Switching back to days keeps the page's other choices.
    day_link = document.one("window-day").attrs["href"]
    assert urlsplit(day_link).path == f"/dashboard/{ALPHA}"
    assert parse_qs(urlsplit(day_link).query) == {"window": ["day"]}

    # Another invoice's breakdown: January, issued (tiers are lines of their own).
    document = page(client, f"/dashboard/{ALPHA}?window=day&invoice={jan}", billed.admin_headers)
    days = api_breakdowns(
        client, billed, ALPHA, "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "day"
    )
    assert table_rows(document) == api_rows(days, {jan})
    per_line: dict[str, Decimal] = defaultdict(Decimal)
    for row in table_rows(document):
        per_line[row[2]] += row[6]
    assert per_line == {
        str(line["name"]): Decimal(line["amount"])
        for line in api_invoice(client, billed, jan)["lines"]
    }
    # The live draft and chart stay on the current period whatever the table shows.
    assert document.one("draft-total").decimal() == Decimal("8.50")

    for query, status in (("window=week", 400), ("invoice=nope", 404)):
        response = client.get(f"/dashboard/{ALPHA}?{query}", headers=billed.admin_headers)
        assert response.status_code == status
        assert_shows_nothing(response.text)
    # Beta's invoice is not one of Alpha's.
    response = client.get(
        f"/dashboard/{ALPHA}?invoice={billed.beta_invoices[0]}", headers=billed.admin_headers
    )
    assert response.status_code == 404


# --------------------------------------------------------------------------- CSV


def test_csv_columns_and_sums_are_exact(client: TestClient, billed: Story) -> None:
    jan, feb, mar = billed.alpha_invoices
    document = page(client, f"/dashboard/{ALPHA}", billed.admin_headers)
    href = document.one("download-csv").attrs["href"]
    assert href == f"/dashboard/{ALPHA}/breakdown.csv?window=day"

    for window in ("day", "hour"):
        for invoice in (None, jan, feb):
            url = f"/dashboard/{ALPHA}/breakdown.csv?window={window}"
            if invoice is not None:
                url += f"&invoice={invoice}"
            response = client.get(url, headers=billed.admin_headers)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/csv")
            assert "attachment" in response.headers["content-disposition"]
            rows = read_csv(response.text)
            chosen = invoice or mar
            assert {row["invoice_id"] for row in rows} == {chosen}
            sums: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
            for row in rows:
                # Exact decimal text: what Decimal reads back is what was written.
                for column in ("quantity", "amount"):
                    assert re.fullmatch(r"-?\d+(\.\d+)?", row[column]), row
                assert row["window_start"].endswith("Z")
                assert row["window_end"] > row["window_start"]
                sums[(row["line"], row["group"])][0] += Decimal(row["quantity"])
                sums[(row["line"], row["group"])][1] += Decimal(row["amount"])
            lines = api_invoice(client, billed, chosen)["lines"]
            want = {
                (line["name"], dumps_text(line["group"]) if line["group"] else ""): [
                    Decimal(line["amount"])
                ]
                for line in lines
            }
            assert {key: [pair[1]] for key, pair in sums.items()} == want
            # Quantities add up too, except the flat lines (1 in every window).
            for line in lines:
                key = (line["name"], dumps_text(line["group"]) if line["group"] else "")
                if line["product"] in ("gib_written", "api_calls", "storage"):
                    assert sums[key][0] == Decimal(line["quantity"]), key

    # Day and hour CSVs are the same money, cut differently.
    day = read_csv(client.get(href, headers=billed.admin_headers).text)
    assert sum(Decimal(r["amount"]) for r in day) == Decimal("51.50")
    assert next(r for r in day if r["group"]) == {
        "window_start": "2026-03-01T00:00:00Z",
        "window_end": "2026-03-02T00:00:00Z",
        "invoice_id": mar,
        "line": "Data written - Tier 1",
        "product": "gib_written",
        "group": '{"cluster_id":"c1"}',
        "quantity": "10",
        "amount": "1.00",
    }


# --------------------------------------------------------------------------- access


def test_signed_link_shows_the_same_dashboard(
    client: TestClient, billed: Story, database: Database
) -> None:
    url = signed_url(database, ALPHA)
    document = page(client, url)  # no key at all
    keyed = page(client, f"/dashboard/{ALPHA}", billed.admin_headers)
    assert document.one("draft-total").decimal() == Decimal("8.50")
    assert [
        (b.attrs["data-day"], b.attrs["data-product"], b.decimal())
        for b in document.one("daily-cost-chart").all("bar")
    ] == [
        (b.attrs["data-day"], b.attrs["data-product"], b.decimal())
        for b in keyed.one("daily-cost-chart").all("bar")
    ]
    assert table_rows(document) == table_rows(keyed)
    assert len(document.all("invoice-link")) == 2
    # Its own links stay under the token.
    csv_href = document.one("download-csv").attrs["href"]
    assert csv_href == f"{url}/breakdown.csv?window=day"
    assert urlsplit(document.one("window-hour").attrs["href"]).path == url
    response = client.get(csv_href)
    assert response.status_code == 200
    keyed_csv = client.get(
        f"/dashboard/{ALPHA}/breakdown.csv?window=day", headers=billed.admin_headers
    )
    assert response.text == keyed_csv.text
    hour = page(client, f"{url}?window=hour")
    assert len(hour.one("breakdown-table").all("breakdown-row")) == 31 * 24 + 2


def test_bad_links_show_nothing(client: TestClient, billed: Story, database: Database) -> None:
    good = signed_url(database, ALPHA).removeprefix("/d/")
    secret = secret_of(database)
    flipped = "A" if good[10] != "A" else "B"
    bad = {
        "tampered": good[:10] + flipped + good[11:],
        "truncated": good[:-1],
        "extended": good + "A",
        "expired": dashboard_link_token(secret, ALPHA, expires_at=FIXED - timedelta(seconds=1)),
        "expires now": dashboard_link_token(secret, ALPHA, expires_at=FIXED),
        "foreign secret": dashboard_link_token(
            b"x" * 32, ALPHA, expires_at=FIXED + timedelta(days=1)
        ),
        "invoice token": invoice_link_token(secret, billed.alpha_invoices[0]),
        "unknown customer": dashboard_link_token(
            secret, "nobody", expires_at=FIXED + timedelta(days=1)
        ),
        "garbage": "not-a-token",
        "padded": good + "==",
    }
    for name, token in bad.items():
        for suffix in ("", "/breakdown.csv?window=day", "?window=hour"):
            response = client.get(f"/d/{token}{suffix}")
            assert response.status_code == 404, (name, suffix, response.status_code)
            assert response.headers["content-type"].startswith("text/html"), name
            assert_shows_nothing(response.text)
    # The good link, 30 days long, works until its last second and not after.
    assert client.get(f"/d/{good}").status_code == 200
    for age, status in (
        (timedelta(days=30) - timedelta(seconds=1), 200),
        (timedelta(days=30), 404),
    ):
        with TestClient(create_app(database, clock=clock_at(FIXED + age))) as later:
            response = later.get(f"/d/{good}")
            assert response.status_code == status, age
            if status == 404:
                assert_shows_nothing(response.text)


def test_keys_see_only_their_customer(client: TestClient, billed: Story) -> None:
    # Another customer's key: 404 with nothing, exactly as an unknown customer.
    for url in (f"/dashboard/{ALPHA}", f"/dashboard/{ALPHA}/breakdown.csv?window=day"):
        response = client.get(url, headers=bearer(billed.beta))
        assert response.status_code == 404, url
        assert_shows_nothing(response.text)
        # A key without the Bearer scheme is no key.
        response = client.get(url, headers={"Authorization": billed.alpha})
        assert response.status_code == 401
        assert_shows_nothing(response.text)
    unknown = client.get("/dashboard/nobody", headers=billed.admin_headers)
    assert unknown.status_code == 404
    assert_shows_nothing(unknown.text)
    # Beta's key opens Beta's dashboard.
    beta = page(client, f"/dashboard/{BETA}", bearer(billed.beta))
    assert beta.one("draft-total").decimal() == Decimal("50.00")
    # No key, a revoked key or a wrong one: the sign-in form, no figure.
    for headers in ({}, bearer(billed.revoked), bearer("mb_nope_nope")):
        response = client.get(f"/dashboard/{ALPHA}", headers=headers)
        assert response.status_code == 401
        assert_shows_nothing(response.text)
        form = parse_html(response.text).one("login-form")
        assert form.attrs["action"] == "/dashboard/login"
        assert form.attrs["method"] == "post"


def test_cookie_sign_in(client: TestClient, billed: Story) -> None:
    assert client.get("/dashboard").status_code == 401  # the sign-in form
    response = client.post(
        "/dashboard/login",
        data={"key": billed.alpha, "customer": BETA},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/{ALPHA}"  # a customer key: its own
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert billed.alpha not in cookie  # a signed session, never the key (test_session.py)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    document = page(client, f"/dashboard/{ALPHA}")  # the client keeps the cookie
    assert document.one("draft-total").decimal() == Decimal("8.50")
    assert document.all("console-link") == []  # the console is for admins
    csv_response = client.get(document.one("download-csv").attrs["href"])
    assert csv_response.status_code == 200
    assert client.get(f"/dashboard/{BETA}").status_code == 404
    home = client.get("/dashboard", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, f"/dashboard/{ALPHA}")
    # Signing out forgets the key.
    out = client.post("/dashboard/logout", follow_redirects=False)
    assert out.status_code == 303
    assert client.get(f"/dashboard/{ALPHA}").status_code == 401

    # An admin key goes to the customer asked for, or to the operator console's list of
    # customers (tests/dashboard/test_console.py), with a way back from each dashboard.
    response = client.post(
        "/dashboard/login", data={"key": billed.admin, "customer": BETA}, follow_redirects=False
    )
    assert response.headers["location"] == f"/dashboard/{BETA}"
    assert page(client, f"/dashboard/{BETA}").one("console-link").attrs["href"] == (
        f"/console/customers/{BETA}"
    )
    home = client.get("/dashboard", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/console")
    listing = page(client, "/dashboard")
    assert [row.attrs["data-customer-id"] for row in listing.all("customer-row")] == [ALPHA, BETA]
    assert [row.one("customer-link").text for row in listing.all("customer-row")] == [
        ALPHA_NAME,
        "Beta Systems",
    ]
    # A wrong key: the form again, with an error, and no cookie.
    client.cookies.clear()
    response = client.post("/dashboard/login", data={"key": "mb_x_y"}, follow_redirects=False)
    assert response.status_code == 401
    assert parse_html(response.text).one("login-error").text
    assert client.get(f"/dashboard/{ALPHA}").status_code == 401


# --------------------------------------------------------------------------- assets


def _urls(document: Element) -> list[str]:
    found: list[str] = []
    for element in document.walk():
        for name in ("href", "src", "action", "xlink:href", "srcset", "poster", "data"):
            if name in element.attrs:
                found.append(element.attrs[name])
    return found


def test_nothing_loads_from_outside(client: TestClient, billed: Story, database: Database) -> None:
    responses = {
        "dashboard": client.get(f"/dashboard/{ALPHA}?window=hour", headers=billed.admin_headers),
        "signed": client.get(signed_url(database, ALPHA)),
        "sign-in": client.get("/dashboard"),
        "not found": client.get("/d/nothing"),
    }
    stylesheets: set[str] = set()
    for name, response in responses.items():
        body = response.text
        assert "<script" not in body.lower(), name
        assert not re.search(r"https?:", body, re.IGNORECASE), name
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src" not in csp
        assert response.headers["referrer-policy"] == "no-referrer"
        document = parse_html(body)
        for url in _urls(document):
            assert url.startswith(("/", "#", "data:")), (name, url)
            assert not url.startswith("//"), (name, url)
        for link in document.tags("link"):
            if link.attrs.get("rel") == "stylesheet":
                stylesheets.add(link.attrs["href"])
    assert {urlsplit(s).path for s in stylesheets} >= {"/static/style.css", "/static/dashboard.css"}
    for stylesheet in stylesheets:
        response = client.get(stylesheet)
        assert response.status_code == 200, stylesheet
        assert response.headers["content-type"].startswith("text/css")
        assert not re.search(r"https?:|@import|url\(", response.text), stylesheet

    # The chart is an inline SVG: every bar a rect inside it, with its day, product, amount.
    document = parse_html(responses["dashboard"].text)
    chart = document.one("daily-cost-chart")
    assert chart.tag == "svg"
    assert chart.attrs["role"] == "img"
    assert chart.attrs["viewbox"] == "0 0 960 300"
    bars = chart.all("bar")
    assert len(bars) > 31
    for bar in bars:
        assert bar.tag == "rect"
        assert re.fullmatch(r"2026-0[23]-\d\d", bar.attrs["data-day"])
        assert bar.attrs["data-product"]
        for attribute in ("x", "y", "width", "height"):
            float(bar.attrs[attribute])
        assert bar.text  # its tooltip


def test_voids_replacements_and_credit_notes_are_listed(client: TestClient, billed: Story) -> None:
    jan, feb, _ = billed.alpha_invoices
    voided = client.post(f"/v1/invoices/{feb}/void", headers=billed.admin_headers)
    assert voided.status_code == 200, voided.text
    number = voided.json()["data"]["number"]
    noted = client.post(
        f"/v1/invoices/{jan}/credit_notes",
        json={"amount": "2.50", "reason": "goodwill"},
        headers=billed.admin_headers,
    )
    assert noted.status_code == 201, noted.text
    document = page(client, f"/dashboard/{ALPHA}", billed.admin_headers)
    rows = {
        (row.attrs["data-period-start"][:10], row.attrs["data-status"]): row
        for row in document.one("invoice-list").all("invoice-row")
    }
    assert rows[("2026-02-01", "draft")].one("invoice-replaces").text == f"replaces {number}"
    assert (
        rows[("2026-01-01", "issued")].one("invoice-credit-notes").text.startswith("credit notes")
    )
    assert "2.50" in rows[("2026-01-01", "issued")].one("invoice-credit-notes").text
