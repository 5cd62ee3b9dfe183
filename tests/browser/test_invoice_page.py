"""Invoice pages in a real browser, reached as a person reaches them: from the dashboard's
invoice list. Each shows the API's figures; its PDF downloads and names the invoice."""

import importlib
import importlib.util
import io
import re

from playwright.sync_api import Page, expect

from tests.browser.browsing import download, listed_invoices, sign_in
from tests.browser.support import (
    CUSTOMER,
    SCREENSHOTS,
    ApiClient,
    DemoServer,
    Json,
    parse_decimal,
    parse_money,
)

INVOICE_PAGE = re.compile(r"/invoices/[A-Za-z0-9_-]+$")


def _check_invoice_page(page: Page, invoice: Json) -> None:
    what = f"invoice {invoice['number']} ({invoice['id']})"
    number = page.get_by_test_id("invoice-number")
    expect(number).to_have_count(1)
    assert number.inner_text().strip().lstrip("#") == str(invoice["number"]), what
    subtotal = parse_money(page.get_by_test_id("invoice-subtotal").inner_text())
    assert subtotal == parse_decimal(invoice["subtotal"]), what
    total = parse_money(page.get_by_test_id("invoice-total").inner_text())
    assert total == parse_decimal(invoice["total"]), what

    rows = page.get_by_test_id("line-row")
    shown = [
        parse_money(rows.nth(index).get_by_test_id("line-amount").inner_text())
        for index in range(rows.count())
    ]
    # Taxes are shown under the subtotal, not as lines.
    expected = [parse_decimal(line["amount"]) for line in invoice["lines"] if line["type"] != "tax"]
    assert sorted(shown) == sorted(expected), f"{what}: line amounts"
    taxes = page.get_by_test_id("tax-amount")
    shown_taxes = [parse_money(taxes.nth(index).inner_text()) for index in range(taxes.count())]
    expected_taxes = [
        parse_decimal(line["amount"]) for line in invoice["lines"] if line["type"] == "tax"
    ]
    assert sorted(shown_taxes) == sorted(expected_taxes), f"{what}: taxes"


def test_every_invoice_of_the_list_opens_with_the_api_figures(
    page: Page, server: DemoServer, api: ApiClient
) -> None:
    finalized = [invoice for invoice in api.invoices(CUSTOMER) if invoice["status"] != "draft"]
    assert finalized, "the demo should have issued invoices"
    newest = max(invoice["number"] for invoice in finalized)

    sign_in(page, server.customer_key)
    dashboard = page.url
    linked = [row.invoice_id for row in listed_invoices(page) if row.link is not None]
    assert sorted(map(str, linked)) == sorted(invoice["id"] for invoice in finalized)
    for index, invoice_id in enumerate(linked):
        if index:
            page.goto(dashboard)
        page.get_by_test_id("invoice-link").nth(index).click()
        expect(page).to_have_url(INVOICE_PAGE)
        assert invoice_id is not None
        invoice = api.invoice(invoice_id)
        _check_invoice_page(page, invoice)
        if invoice["number"] == newest:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOTS / "invoice.png", full_page=True)


def _pdf_text(data: bytes) -> str | None:
    """The PDF's text, when pypdf is installed."""
    if importlib.util.find_spec("pypdf") is None:
        return None
    pypdf = importlib.import_module("pypdf")
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_invoice_pdf_downloads(page: Page, server: DemoServer, api: ApiClient) -> None:
    sign_in(page, server.customer_key)
    invoice_id = next(row.invoice_id for row in listed_invoices(page) if row.link is not None)
    assert invoice_id is not None
    invoice = api.invoice(invoice_id)
    page.get_by_test_id("invoice-link").first.click()
    expect(page).to_have_url(INVOICE_PAGE)

    name, data = download(page, page.get_by_test_id("download-pdf"))
    assert name.endswith(".pdf"), name
    assert data.startswith(b"%PDF-"), data[:40]
    text = _pdf_text(data)
    if text is not None:
        # "Invoice 4", "Invoice number 4", "Invoice #4"; not any 4 on the page.
        assert re.search(rf"Invoice[^\n0-9]{{0,12}}{invoice['number']}\b", text), text[:1000]
        total = parse_money(page.get_by_test_id("invoice-total").inner_text())
        assert f"{total:,.2f}" in text, text[:1000]
