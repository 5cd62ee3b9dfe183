"""What a forged or missing credential shows: no figure at all.

A genuine link shows amounts (so the checks below can see them); the same link with one
character changed, dropped or added shows none, and neither do its PDF or CSV."""

from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.browser.browsing import dashboard_link, figures_shown, listed_invoices, sign_in
from tests.browser.support import CUSTOMER, DemoServer, tampered

FIGURES = ("draft-total", "invoice-list", "bar", "invoice-total", "invoice-subtotal", "line-row")


def _check_no_figures(page: Page, url: str, what: str) -> None:
    response = page.goto(url)
    assert response is not None
    assert response.status >= 400, f"{what}: {url} answered {response.status}"
    assert figures_shown(page) == [], f"{what}: {url} shows amounts"
    for test_id in FIGURES:
        expect(page.get_by_test_id(test_id)).to_have_count(0)


def _token(link: str, prefix: str) -> str:
    path = urlsplit(link).path
    assert path.startswith(prefix), link
    return path.removeprefix(prefix)


def test_tampered_invoice_link_shows_no_figures(page: Page, server: DemoServer) -> None:
    sign_in(page, server.customer_key)
    link = next(row.link for row in listed_invoices(page) if row.link is not None)
    assert link is not None
    page.context.clear_cookies()  # the link alone is the credential
    response = page.goto(link)
    assert response is not None
    assert response.status == 200
    assert figures_shown(page), "the genuine invoice link shows no amount"

    token = _token(link, "/invoices/")
    for what, forged in tampered(token):
        _check_no_figures(page, f"/invoices/{forged}", what)
        pdf = page.request.get(f"/invoices/{forged}/pdf")
        assert pdf.status >= 400, f"{what}: the PDF answered {pdf.status}"
        assert not pdf.body().startswith(b"%PDF"), f"{what}: a PDF was served"


def test_tampered_dashboard_link_shows_no_figures(page: Page, server: DemoServer) -> None:
    link = dashboard_link(server)
    response = page.goto(link)
    assert response is not None
    assert response.status == 200
    assert figures_shown(page), "the genuine dashboard link shows no amount"

    token = _token(link, "/d/")
    for what, forged in tampered(token):
        _check_no_figures(page, f"/d/{forged}", what)
        csv = page.request.get(f"/d/{forged}/breakdown.csv")
        assert csv.status >= 400, f"{what}: the CSV answered {csv.status}"
        assert b"window_start" not in csv.body(), f"{what}: a CSV was served"


def test_dashboard_without_a_valid_key_shows_no_figures(page: Page, server: DemoServer) -> None:
    _check_no_figures(page, f"/dashboard/{CUSTOMER}", "no key")
    form = page.locator("form[action$='/dashboard/login']")
    form.locator("input[name=key]").fill(server.customer_key + "x")
    form.locator("[type=submit]").click()
    expect(form).to_have_count(1)
    assert figures_shown(page) == []
    for test_id in FIGURES:
        expect(page.get_by_test_id(test_id)).to_have_count(0)
    csv = page.request.get(f"/dashboard/{CUSTOMER}/breakdown.csv")
    assert csv.status >= 400
    assert b"window_start" not in csv.body()
