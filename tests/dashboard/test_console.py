"""The operator console (``api.console``, ``views.console``): figures worked out by hand from
the standard story, the actions, who may see it, and bad input.

The story (``tests/api/support.py``) at the fixed clock 2026-03-05, January and February
closed at that clock (so issued 2026-03-05, due net 30 on 2026-04-04):

* Alpha: January 32.50, February 80.00 (issued), March draft 8.50; every grant used up
  (welcome 30.00 by January, prepay 57.00 by February and its last 43.00 by the draft);
* Beta: January 40.50, February 50.00 (issued), March draft 50.00; promo used by January.

The invoices are numbered in close order: Alpha January 1, February 2, Beta January 3,
February 4 (checked below against the API).
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from httpx import Response

from meterbill.api.app import create_app
from meterbill.db.database import Database
from meterbill.services import webhooks
from meterbill.services.invoicing import close_periods
from meterbill.services.keys import create_key
from tests.api.support import ALPHA, ALPHA_NAME, BETA, FIXED, SETUP_YAML, TestClient
from tests.dashboard.conftest import Story, bearer
from tests.dashboard.support import Element, parse_html

PAGES = ("/console", "/console/invoices", "/console/receivables", f"/console/customers/{ALPHA}")
ACTIONS = ("void", "payments", "credit-notes")


def html(client: TestClient, url: str, status: int = 200, **kwargs: object) -> Element:
    response = client.get(url, **kwargs)
    assert response.status_code == status, response.text[:800]
    assert response.headers["content-type"].startswith("text/html")
    assert "Traceback" not in response.text
    return parse_html(response.text)


def rows_by(document: Element, testid: str, key: str) -> dict[str, Element]:
    return {row.attrs[key]: row for row in document.all(testid)}


def sign_in(client: TestClient, key: str) -> None:
    response = client.post("/dashboard/login", data={"key": key}, follow_redirects=False)
    assert response.status_code == 303, response.text


def csrf_of(client: TestClient, customer: str) -> str:
    document = html(client, f"/console/customers/{customer}")
    tokens = {
        element.attrs["value"]
        for element in document.tags("input")
        if element.attrs.get("name") == "csrf"
    }
    assert len(tokens) == 1, tokens
    assert "" not in tokens
    return tokens.pop()


def numbers(client: TestClient, story: Story) -> dict[str, int]:
    """Each issued invoice's id → number, from the admin JSON API."""
    found: dict[str, int] = {}
    for customer in (ALPHA, BETA):
        response = client.get(f"/v1/customers/{customer}/invoices", headers=story.admin_headers)
        for item in response.json()["data"]:
            if item["number"] is not None:
                found[item["id"]] = item["number"]
    return found


def app_at(database: Database, moment: datetime) -> TestClient:
    return TestClient(create_app(database, clock=lambda: moment))


def d(text: str) -> Decimal:
    return Decimal(text)


# --------------------------------------------------------------------------- access


def test_console_is_for_admin_keys(client: TestClient, billed: Story) -> None:
    for url in PAGES:
        # No key: the sign-in form.
        document = html(client, url, status=401)
        assert document.one("login-form").attrs["action"] == "/dashboard/login"
        # A customer key: 403, with no figure of anybody.
        refused = client.get(url, headers=bearer(billed.alpha))
        assert refused.status_code == 403, url
        assert parse_html(refused.text).one("message-title").text == "Admin key needed"
        assert "80.00" not in refused.text
        assert "Beta" not in refused.text
        # A revoked key: the sign-in form with an error.
        revoked = html(client, url, status=401, headers=bearer(billed.revoked))
        assert revoked.one("login-error").text
        assert html(client, url, headers=billed.admin_headers).one("console-nav")
    for action in ACTIONS:
        url = f"/console/customers/{ALPHA}/{action}"
        data = {"invoice": billed.alpha_invoices[0], "amount": "1.00", "reason": "x"}
        assert client.post(url, data=data, headers=bearer(billed.alpha)).status_code == 403
        assert client.post(url, data=data).status_code == 401
    # A customer key signed in with the cookie: 403 too.
    sign_in(client, billed.beta)
    assert client.get("/console").status_code == 403
    post = client.post(
        f"/console/customers/{BETA}/payments",
        data={"invoice": billed.beta_invoices[0], "amount": "1.00"},
    )
    assert post.status_code == 403
    # Nothing happened.
    invoice = client.get(f"/v1/invoices/{billed.beta_invoices[0]}", headers=billed.admin_headers)
    assert Decimal(invoice.json()["data"]["amount_due"]) == d("40.50")
    # An unknown customer: 404 for an admin.
    missing = html(client, "/console/customers/nobody", 404, headers=billed.admin_headers)
    assert "nobody" in missing.one("message-text").text


def test_the_root_and_the_sign_in_lead_to_the_console(client: TestClient, billed: Story) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/console"
    response = client.post("/dashboard/login", data={"key": billed.admin}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/console")
    document = html(client, "/console")  # the cookie
    assert document.one("sign-out")


def test_every_page_links_every_other(client: TestClient, billed: Story) -> None:
    sign_in(client, billed.admin)
    for url in PAGES:
        document = html(client, url)
        nav = document.one("console-nav")
        links = {
            a.attrs["data-testid"]: a.attrs["href"]
            for a in nav.tags("a")
            if "data-testid" in a.attrs
        }
        assert links == {
            "nav-customers": "/console",
            "nav-invoices": "/console/invoices",
            "nav-receivables": "/console/receivables",
            "nav-docs": "/docs",
        }
        current = [a for a in nav.tags("a") if a.attrs.get("aria-current") == "page"]
        assert len(current) == 1
    # Customer pages are reached from the lists, and lead to the usage dashboard and back.
    listing = html(client, "/console")
    hrefs = [row.one("customer-link").attrs["href"] for row in listing.all("customer-row")]
    assert hrefs == [f"/console/customers/{ALPHA}", f"/console/customers/{BETA}"]
    customer = html(client, hrefs[0])
    dashboard = customer.one("usage-dashboard-link").attrs["href"]
    assert html(client, dashboard).one("console-link").attrs["href"] == hrefs[0]


# --------------------------------------------------------------------------- figures


def test_customer_list_figures(client: TestClient, billed: Story) -> None:
    number = numbers(client, billed)
    assert [number[i] for i in (*billed.alpha_invoices[:2], *billed.beta_invoices[:2])] == [
        1,
        2,
        3,
        4,
    ]
    document = html(client, "/console", headers=billed.admin_headers)
    rows = rows_by(document, "customer-row", "data-customer-id")
    assert list(rows) == [ALPHA, BETA]
    alpha, beta = rows[ALPHA], rows[BETA]
    # Alpha: draft 8.50; due 32.50 + 80.00 = 112.50, nothing late; grants used up.
    assert alpha.decimal("data-draft-total") == d("8.50")
    assert alpha.decimal("data-amount-due") == d("112.50")
    assert alpha.decimal("data-overdue") == 0
    assert alpha.decimal("data-credit-balance") == 0
    assert alpha.one("last-invoice").text.startswith("#2 · $80.00 issued")
    assert "issued 2026-03-05" in alpha.one("last-invoice").text
    assert alpha.one("draft-total").text == "$8.50"
    assert alpha.one("amount-due").text == "$112.50"
    # Beta: draft 50.00; due 40.50 + 50.00 = 90.50.
    assert beta.decimal("data-draft-total") == d("50.00")
    assert beta.decimal("data-amount-due") == d("90.50")
    assert beta.one("last-invoice").text.startswith("#4 · $50.00")
    totals = document.one("customer-totals")
    assert totals.cells() == ["All customers · USD", "$58.50", "$0.00", "", "$203.00", "$0.00"]


def test_invoice_list_filters_and_totals(client: TestClient, billed: Story) -> None:
    headers = billed.admin_headers
    everything = html(client, "/console/invoices", headers=headers)
    rows = everything.all("invoice-row")
    # Newest period first: the two March drafts, then February (Alpha, Beta), then January.
    assert [(r.attrs["data-customer-id"], r.attrs["data-number"]) for r in rows] == [
        (ALPHA, ""),
        (BETA, ""),
        (ALPHA, "2"),
        (BETA, "4"),
        (ALPHA, "1"),
        (BETA, "3"),
    ]
    totals = everything.one("invoice-totals")
    # 8.50 + 50.00 + 80.00 + 50.00 + 32.50 + 40.50; due: the four issued ones.
    assert totals.decimal("data-total") == d("261.50")
    assert totals.decimal("data-amount-due") == d("203.00")
    assert "6 invoices" in totals.text

    issued = html(client, "/console/invoices?status=issued", headers=headers)
    assert len(issued.all("invoice-row")) == 4
    assert issued.one("invoice-totals").decimal("data-total") == d("203.00")
    march = html(client, "/console/invoices?period=2026-03", headers=headers)
    assert {r.attrs["data-status"] for r in march.all("invoice-row")} == {"draft"}
    assert march.one("invoice-totals").decimal("data-total") == d("58.50")
    beta_feb = html(
        client, f"/console/invoices?period=2026-02&customer={BETA}&status=issued", headers=headers
    )
    assert [r.attrs["data-number"] for r in beta_feb.all("invoice-row")] == ["4"]
    # The filter form shows what is chosen, and offers the months there are.
    selects = {s.attrs["data-testid"]: s for s in beta_feb.tags("select")}
    chosen = [
        o.attrs["value"] for o in selects["filter-period"].tags("option") if "selected" in o.attrs
    ]
    assert chosen == ["2026-02"]
    months = [o.attrs["value"] for o in selects["filter-period"].tags("option")]
    assert months == ["", "2026-03", "2026-02", "2026-01"]
    # Nothing is overdue at the clock (due 2026-04-04).
    none = html(client, "/console/invoices?overdue=1", headers=headers)
    assert none.all("invoice-row") == []
    assert none.one("no-invoices")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=late", "status must be one of"),
        ("period=2026-13", "period must be a month"),
        ("period=march", "period must be a month"),
        ("overdue=maybe", "overdue must be 1"),
    ],
)
def test_bad_filters_answer_400(
    client: TestClient, billed: Story, query: str, message: str
) -> None:
    document = html(client, f"/console/invoices?{query}", 400, headers=billed.admin_headers)
    assert message in document.one("message-text").text


def test_receivables_by_age(client: TestClient, billed: Story, database: Database) -> None:
    at_clock = html(client, "/console/receivables", headers=billed.admin_headers)
    rows = rows_by(at_clock, "receivable-row", "data-customer-id")
    assert rows[ALPHA].decimal("data-current") == d("112.50")
    assert rows[BETA].decimal("data-current") == d("90.50")
    assert at_clock.one("receivable-totals").decimal("data-total") == d("203.00")
    assert at_clock.one("net-terms").text == "30"

    # March closes on 2026-04-02 (due 2026-05-02): Alpha 8.50, Beta 50.00.
    with database.transaction() as session:
        close_periods(session, as_of=datetime(2026, 4, 2, tzinfo=UTC))
    # 2026-05-10: January and February are 36 days late, March 8.
    with app_at(database, datetime(2026, 5, 10, 12, tzinfo=UTC)) as later:
        document = html(later, "/console/receivables", headers=billed.admin_headers)
        rows = rows_by(document, "receivable-row", "data-customer-id")
        assert [
            rows[ALPHA].decimal(f"data-{k}") for k in ("current", "1-30", "31-60", "over-60")
        ] == [
            0,
            d("8.50"),
            d("112.50"),
            0,
        ]
        assert rows[BETA].decimal("data-1-30") == d("50.00")
        assert rows[BETA].decimal("data-31-60") == d("90.50")
        totals = document.one("receivable-totals")
        assert totals.decimal("data-31-60") == d("203.00")
        assert totals.decimal("data-total") == d("261.50")
        # The invoice list's overdue filter: all six issued invoices, Alpha's 36 days late.
        overdue = html(later, "/console/invoices?overdue=1", headers=billed.admin_headers)
        assert len(overdue.all("invoice-row")) == 6
        assert overdue.one("invoice-totals").decimal("data-amount-due") == d("261.50")
        customers = rows_by(
            html(later, "/console", headers=billed.admin_headers),
            "customer-row",
            "data-customer-id",
        )
        assert customers[ALPHA].decimal("data-overdue") == d("121.00")


@pytest.mark.parametrize(
    ("moment", "age"),
    [
        (datetime(2026, 4, 4, 23, 59, tzinfo=UTC), "current"),  # the due date itself
        (datetime(2026, 4, 5, tzinfo=UTC), "1-30"),  # 1 day past due
        (datetime(2026, 5, 4, tzinfo=UTC), "1-30"),  # 30
        (datetime(2026, 5, 5, tzinfo=UTC), "31-60"),  # 31
        (datetime(2026, 6, 3, tzinfo=UTC), "31-60"),  # 60
        (datetime(2026, 6, 4, tzinfo=UTC), "over-60"),  # 61
    ],
)
def test_age_boundaries(billed: Story, database: Database, moment: datetime, age: str) -> None:
    """Beta's January and February (40.50 + 50.00), due 2026-04-04, seen later."""
    with app_at(database, moment) as then:
        document = html(then, "/console/receivables", headers=billed.admin_headers)
    row = rows_by(document, "receivable-row", "data-customer-id")[BETA]
    ages = {key: row.decimal(f"data-{key}") for key in ("current", "1-30", "31-60", "over-60")}
    assert ages == {key: d("90.50") if key == age else 0 for key in ages}


def test_net_payment_terms_setting(client: TestClient, billed: Story) -> None:
    setup = SETUP_YAML.replace(
        "  grace_period_hours: 24\n", "  grace_period_hours: 24\n  net_payment_terms: 10\n"
    )
    response = client.put(
        "/v1/setup",
        content=setup,
        headers={**billed.admin_headers, "Content-Type": "application/yaml"},
    )
    assert response.status_code == 200, response.text
    # Issued 2026-03-05, due net 10 on 2026-03-15: at 2026-03-05 still current.
    document = html(client, "/console/receivables", headers=billed.admin_headers)
    assert document.one("net-terms").text == "10"
    customer = html(client, f"/console/customers/{ALPHA}", headers=billed.admin_headers)
    assert "2026-03-15" in customer.one("invoice-list").text
    bad = client.put(
        "/v1/setup",
        content=SETUP_YAML.replace("  grace_period_hours: 24\n", "  net_payment_terms: 1.5\n"),
        headers={**billed.admin_headers, "Content-Type": "application/yaml"},
    )
    assert bad.status_code == 400, bad.text
    assert "net_payment_terms" in bad.text


def test_customer_page_figures(client: TestClient, billed: Story) -> None:
    document = html(client, f"/console/customers/{ALPHA}", headers=billed.admin_headers)
    assert document.one("customer-name").text == ALPHA_NAME
    figures = {
        key: document.one(key).decimal("data-value")
        for key in ("draft-total", "credit-balance", "amount-due", "overdue")
    }
    assert figures == {
        "draft-total": d("8.50"),
        "credit-balance": 0,
        "amount-due": d("112.50"),
        "overdue": 0,
    }
    # The dashboard's chart, drawn by the dashboard's code: February's and March's days.
    assert len(document.one("daily-cost-chart").tags("rect")) > 0
    invoices = document.one("invoice-list").all("invoice-row")
    assert [(r.attrs["data-number"], r.attrs["data-status"]) for r in invoices] == [
        ("", "draft"),
        ("2", "issued"),
        ("1", "issued"),
    ]
    assert "2026-04-04" in invoices[1].text  # due net 30
    credits = rows_by(document, "credit-row", "data-grant")
    assert set(credits) == {"welcome", "prepay"}
    assert all(row.decimal("data-left") == 0 for row in credits.values())
    # The forms: two issued invoices to pay, credit or void; no webhook stub.
    for form in ("payment-form", "credit-note-form", "void-form"):
        options = document.one(form).tags("option")
        assert [o.attrs["value"] for o in options] == [
            billed.alpha_invoices[1],
            billed.alpha_invoices[0],
        ]
    # No endpoint yet: the webhooks block is empty.
    assert document.one("webhook-list").all("webhook-row") == []
    assert "No webhook deliveries" in document.one("webhook-list").text


# --------------------------------------------------------------------------- actions


def post(client: TestClient, customer: str, action: str, **data: str) -> Response:
    url = f"/console/customers/{customer}/{action}"
    response: Response = client.post(url, data=data, follow_redirects=False)
    return response


def test_payment_marks_paid(client: TestClient, billed: Story) -> None:
    sign_in(client, billed.admin)
    csrf = csrf_of(client, BETA)
    jan = billed.beta_invoices[0]
    # Part of it: still issued, 40.50 − 10.50 = 30.00 due.
    response = client.post(
        f"/console/customers/{BETA}/payments",
        data={"csrf": csrf, "invoice": jan, "amount": "10.50", "reference": "wire 1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/customers/{BETA}?done=payment&n=3"
    document = html(client, response.headers["location"])
    assert document.one("notice").text == "Payment recorded on invoice 3."
    assert rows_by(document, "invoice-row", "data-number")["3"].decimal("data-amount-due") == d(
        "30.00"
    )
    # The rest: paid.
    response = client.post(
        f"/console/customers/{BETA}/payments",
        data={"csrf": csrf, "invoice": jan, "amount": "30"},
        follow_redirects=False,
    )
    document = html(client, response.headers["location"])
    assert document.one("notice").text == "Payment recorded: invoice 3 is paid."
    assert rows_by(document, "invoice-row", "data-number")["3"].attrs["data-status"] == "paid"
    assert document.one("amount-due").decimal("data-value") == d("50.00")
    api = client.get(f"/v1/invoices/{jan}", headers=billed.admin_headers).json()["data"]
    assert api["status"] == "paid"
    assert Decimal(api["amount_due"]) == 0


def test_credit_note_gets_a_number(client: TestClient, billed: Story) -> None:
    sign_in(client, billed.admin)
    csrf = csrf_of(client, ALPHA)
    feb = billed.alpha_invoices[1]
    response = client.post(
        f"/console/customers/{ALPHA}/credit-notes",
        data={"csrf": csrf, "invoice": feb, "amount": "20.00", "reason": "Outage on Feb 3"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    document = html(client, response.headers["location"])
    assert document.one("notice").text == "Credit note 1 issued."
    note = document.one("credit-note-row")
    assert (note.attrs["data-number"], note.decimal("data-amount")) == ("1", d("20.00"))
    assert "Outage on Feb 3" in note.text
    # 80.00 − 20.00 off the amount due: 32.50 + 60.00 due.
    assert document.one("amount-due").decimal("data-value") == d("92.50")
    # An invoice with a credit note cannot be voided: no longer offered.
    void_options = [o.attrs["value"] for o in document.one("void-form").tags("option")]
    assert void_options == [billed.alpha_invoices[0]]


def test_void_then_replacement_on_next_close(
    client: TestClient, billed: Story, database: Database
) -> None:
    sign_in(client, billed.admin)
    csrf = csrf_of(client, BETA)
    feb = billed.beta_invoices[1]
    response = client.post(
        f"/console/customers/{BETA}/void",
        data={"csrf": csrf, "invoice": feb},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    document = html(client, response.headers["location"])
    assert (
        document.one("notice").text == "Invoice 4 is void; the next close issues its replacement."
    )
    statuses = [
        (r.attrs["data-number"], r.attrs["data-status"]) for r in document.all("invoice-row")
    ]
    # February is a draft again beside the void invoice 4.
    assert ("4", "void") in statuses
    assert statuses.count(("", "draft")) == 2
    assert document.one("amount-due").decimal("data-value") == d("40.50")
    with database.transaction() as session:
        result = close_periods(session, as_of=FIXED)
    assert [(view.customer.id, view.number, view.replaces) for view in result.issued] == [
        (BETA, 5, 4)
    ]
    document = html(client, f"/console/customers/{BETA}")
    rows = rows_by(document, "invoice-row", "data-number")
    assert rows["5"].attrs["data-status"] == "issued"
    assert "replaces #4" in rows["5"].text


def test_void_with_write_off_has_no_replacement(
    client: TestClient, billed: Story, database: Database
) -> None:
    sign_in(client, billed.admin)
    csrf = csrf_of(client, ALPHA)
    response = client.post(
        f"/console/customers/{ALPHA}/void",
        data={"csrf": csrf, "invoice": billed.alpha_invoices[0], "write_off": "1"},
        follow_redirects=False,
    )
    document = html(client, response.headers["location"])
    assert "written off" in document.one("notice").text
    with database.transaction() as session:
        assert close_periods(session, as_of=FIXED).issued == []
    assert document.one("amount-due").decimal("data-value") == d("80.00")


# --------------------------------------------------------------------------- refusals


def test_forms_need_the_session_token(
    client: TestClient, billed: Story, database: Database
) -> None:
    sign_in(client, billed.admin)
    jan = billed.alpha_invoices[0]
    for data in ({"invoice": jan}, {"invoice": jan, "csrf": "forged"}):
        response = client.post(f"/console/customers/{ALPHA}/void", data=data)
        assert response.status_code == 403
        assert parse_html(response.text).one("message-title").text == "Form expired"
    # A token of another session (another admin key's) is refused too.
    with database.transaction() as session:
        _, second_admin = create_key(session, customer_id=None, now=FIXED, name="second")
    other = TestClient(client.app)
    sign_in(other, second_admin)
    stolen = csrf_of(other, ALPHA)
    refused = client.post(f"/console/customers/{ALPHA}/void", data={"invoice": jan, "csrf": stolen})
    assert refused.status_code == 403
    api = client.get(f"/v1/invoices/{jan}", headers=billed.admin_headers).json()["data"]
    assert api["status"] == "issued"
    # A key in the header needs no form token (no browser sends it on its own).
    client.cookies.clear()
    ok = client.post(
        f"/console/customers/{ALPHA}/void",
        data={"invoice": jan},
        headers=billed.admin_headers,
        follow_redirects=False,
    )
    assert ok.status_code == 303


@pytest.mark.parametrize(
    ("action", "fields", "status", "message"),
    [
        ("payments", {"amount": "abc"}, 400, "amount must be a positive decimal"),
        ("payments", {"amount": "-5"}, 400, "amount must be a positive decimal"),
        ("payments", {"amount": "1,000.00"}, 400, "amount must be a positive decimal"),
        ("payments", {"amount": "1" * 40}, 400, "amount must be a positive decimal"),
        ("payments", {"amount": "0"}, 400, "amount must be positive"),
        ("payments", {"amount": "500.00"}, 422, "above the amount due"),
        ("payments", {"amount": "1.001"}, 400, "more decimals"),
        ("credit-notes", {"amount": "5.00", "reason": " "}, 400, "needs a reason"),
        ("credit-notes", {"amount": "900.00", "reason": "x"}, 422, "above what the invoice"),
        ("credit-notes", {"amount": "5", "reason": "x" * 501}, 400, "limited to 500"),
        ("void", {"invoice": ""}, 400, "choose an invoice"),
        ("void", {"invoice": "inv_nope"}, 404, "not found"),
        ("payments", {"invoice": "@beta-jan", "amount": "1.00"}, 404, "not found"),
    ],
)
def test_bad_form_input_answers_4xx(
    client: TestClient,
    billed: Story,
    action: str,
    fields: dict[str, str],
    status: int,
    message: str,
) -> None:
    sign_in(client, billed.admin)
    csrf = csrf_of(client, ALPHA)
    data = {"csrf": csrf, "invoice": billed.alpha_invoices[0], **fields}
    if data["invoice"] == "@beta-jan":  # another customer's invoice: not found here
        data["invoice"] = billed.beta_invoices[0]
    response = client.post(f"/console/customers/{ALPHA}/{action}", data=data)
    assert response.status_code == status, response.text[:600]
    document = parse_html(response.text)
    assert message in document.one("message-text").text
    assert document.one("message-link").attrs["href"].startswith(f"/console/customers/{ALPHA}")
    # Nothing changed.
    for invoice_id in (billed.alpha_invoices[0], billed.beta_invoices[0]):
        api = client.get(f"/v1/invoices/{invoice_id}", headers=billed.admin_headers).json()["data"]
        assert api["status"] == "issued"
        assert Decimal(api["credit_notes"]) == 0


def test_refused_state_changes_answer_409(client: TestClient, billed: Story) -> None:
    sign_in(client, billed.admin)
    csrf = csrf_of(client, BETA)
    jan = billed.beta_invoices[0]
    pay = {"csrf": csrf, "invoice": jan, "amount": "40.50"}
    assert client.post(f"/console/customers/{BETA}/payments", data=pay).status_code == 200
    # Paid: neither voided nor paid again.
    for action, data in (("void", {"csrf": csrf, "invoice": jan}), ("payments", pay)):
        response = client.post(f"/console/customers/{BETA}/{action}", data=data)
        assert response.status_code == 409, response.text[:400]
        assert "paid" in parse_html(response.text).one("message-text").text
    oversized = client.post(
        f"/console/customers/{BETA}/payments",
        content=b"csrf=" + b"x" * 20_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert oversized.status_code == 413
    assert parse_html(oversized.text).one("message-title").text == "Form too large"
    garbled = client.post(
        f"/console/customers/{BETA}/payments",
        content=b"csrf=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert garbled.status_code == 400


# --------------------------------------------------------------------------- webhooks


def deliveries_of(client: TestClient, customer: str) -> list[tuple[str, str, str, str]]:
    """(message id, event type, status, attempts) of each row of the customer's webhooks."""
    document = html(client, f"/console/customers/{customer}")
    return [
        (
            row.attrs["data-message-id"],
            row.attrs["data-event-type"],
            row.attrs["data-status"],
            row.attrs["data-attempts"],
        )
        for row in document.one("webhook-list").all("webhook-row")
    ]


def fail_every_delivery(database: Database) -> int:
    """One refused attempt for each due delivery with an empty retry schedule: all failed."""
    with database.transaction() as session:
        claimed = webhooks.claim_due(
            session, now=FIXED, lease=timedelta(minutes=1), limit=10, owner="test"
        )
    with database.transaction() as session:
        for item in claimed:
            result = webhooks.AttemptResult(status_code=None, error="refused", duration_ms=1)
            outcome = webhooks.record_attempt(session, item, result, now=FIXED, schedule=())
            assert outcome == "failed"
    return len(claimed)


def resend(client: TestClient, customer: str, **data: str) -> Response:
    return post(client, customer, "webhooks/resend", **data)


def test_webhook_deliveries_and_resend(
    client: TestClient, billed: Story, database: Database
) -> None:
    with database.transaction() as session:
        endpoint, _ = webhooks.create_endpoint(session, url="http://127.0.0.1:9/hook", now=FIXED)
    sign_in(client, billed.admin)
    # The periods were closed before the endpoint existed: nothing was delivered to it.
    assert deliveries_of(client, ALPHA) == []
    # A credit note of 20.00 on Alpha's 80.00: credit_note.created, about Alpha only.
    alpha_csrf = csrf_of(client, ALPHA)
    note = {"invoice": billed.alpha_invoices[1], "amount": "20.00", "reason": "goodwill"}
    assert post(client, ALPHA, "credit-notes", csrf=alpha_csrf, **note).status_code == 303
    [(message, event, status, attempts)] = deliveries_of(client, ALPHA)
    assert (event, status, attempts) == ("credit_note.created", "pending", "0")
    assert deliveries_of(client, BETA) == []
    # Beta pays its January in full: invoice.paid, about Beta only.
    pay = {"invoice": billed.beta_invoices[0], "amount": "40.50"}
    assert post(client, BETA, "payments", csrf=csrf_of(client, BETA), **pay).status_code == 303
    [(beta_message, beta_event, _, _)] = deliveries_of(client, BETA)
    assert beta_event == "invoice.paid"
    assert [row[0] for row in deliveries_of(client, ALPHA)] == [message]
    page = html(client, f"/console/customers/{ALPHA}")
    row = page.one("webhook-row")
    assert row.attrs["data-endpoint-id"] == endpoint.id
    assert row.all("resend-form") == []  # pending: nothing to resend yet
    # Still pending: 409 with the service's message, nothing changes.
    pending = resend(client, ALPHA, csrf=alpha_csrf, endpoint_id=endpoint.id, message_id=message)
    assert pending.status_code == 409
    assert "still pending" in parse_html(pending.text).one("message-text").text
    # The sender's attempts are refused and the schedule is empty: both deliveries fail.
    assert fail_every_delivery(database) == 2
    assert deliveries_of(client, ALPHA) == [(message, "credit_note.created", "failed", "1")]
    page = html(client, f"/console/customers/{ALPHA}")
    form = page.one("resend-form")
    assert form.attrs["action"] == f"/console/customers/{ALPHA}/webhooks/resend"
    fields = {i.attrs["name"]: i.attrs["value"] for i in form.tags("input")}
    assert fields == {"csrf": alpha_csrf, "endpoint_id": endpoint.id, "message_id": message}
    assert "refused" in page.one("webhook-row").text
    # Beta's message cannot be resent from Alpha's page: 404, and it stays failed.
    other = resend(client, ALPHA, csrf=alpha_csrf, endpoint_id=endpoint.id, message_id=beta_message)
    assert other.status_code == 404
    assert beta_message in parse_html(other.text).one("message-text").text
    assert deliveries_of(client, BETA) == [(beta_message, "invoice.paid", "failed", "1")]
    # Without the form token: 403.
    forged = resend(client, ALPHA, csrf="forged", endpoint_id=endpoint.id, message_id=message)
    assert forged.status_code == 403
    # Resent: back to the page with a notice, pending again (the attempt count is kept).
    response = resend(client, ALPHA, **fields)
    assert response.status_code == 303, response.text[:600]
    assert response.headers["location"] == f"/console/customers/{ALPHA}?done=resent"
    document = html(client, response.headers["location"])
    assert "queued again" in document.one("notice").text
    assert deliveries_of(client, ALPHA) == [(message, "credit_note.created", "pending", "1")]
    assert deliveries_of(client, BETA) == [(beta_message, "invoice.paid", "failed", "1")]


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"message_id": ""}, 400, "choose a message to resend"),
        ({"endpoint_id": ""}, 400, "choose an endpoint"),
        ({"endpoint_id": "ep_nope"}, 404, "ep_nope"),
        ({"message_id": "msg_nope"}, 404, "msg_nope"),
    ],
)
def test_bad_resend_forms_answer_4xx(
    client: TestClient,
    billed: Story,
    database: Database,
    fields: dict[str, str],
    status: int,
    message: str,
) -> None:
    with database.transaction() as session:
        endpoint, _ = webhooks.create_endpoint(session, url="http://127.0.0.1:9/hook", now=FIXED)
    sign_in(client, billed.admin)
    data = {"csrf": csrf_of(client, ALPHA), "endpoint_id": endpoint.id, "message_id": "msg_x"}
    response = resend(client, ALPHA, **{**data, **fields})
    assert response.status_code == status, response.text[:600]
    document = parse_html(response.text)
    assert message in document.one("message-text").text
    assert document.one("message-link").attrs["href"] == f"/console/customers/{ALPHA}"
