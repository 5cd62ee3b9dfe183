"""The operator console in a real browser: sign in from ``/`` with the admin key, read the
three lists against the JSON API, and click through every action on a customer's page, at
1280 px and on a 390 px phone screen. Screenshots go to ``docs/screenshots/``.

The actions change what the demo bills, so this module has a demo server of its own
(``own_server``); the other browser tests keep the shared one as the demo built it.
"""

import re
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from meterbill.demo.data import DEMO_CUSTOMERS, SEARCH_CUSTOMER, STREAM_CUSTOMER
from tests.browser.browsing import meterbill
from tests.browser.support import (
    DEMO_NOW,
    SCREENSHOTS,
    VIEWPORT,
    ApiClient,
    DemoServer,
    Json,
    parse_money,
)

PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def own_api(own_server: DemoServer) -> Iterator[ApiClient]:
    with httpx.Client(
        base_url=own_server.base_url,
        headers={"Authorization": f"Bearer {own_server.admin_key}"},
        timeout=30,
    ) as client:
        yield ApiClient(client)


def _page(browser: Browser, server: DemoServer, viewport: ViewportSize) -> Iterator[Page]:
    context = browser.new_context(
        base_url=server.base_url, viewport=viewport, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def desk(browser: Browser, own_server: DemoServer) -> Iterator[Page]:
    yield from _page(browser, own_server, VIEWPORT)


@pytest.fixture
def phone(browser: Browser, own_server: DemoServer) -> Iterator[Page]:
    yield from _page(browser, own_server, PHONE)


def sign_in_from_root(page: Page, key: str) -> None:
    page.goto("/")
    form = page.get_by_test_id("login-form")
    expect(form).to_be_visible()
    form.locator("input[name=key]").fill(key)
    form.locator("[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/console$"))
    expect(page.get_by_test_id("customer-list")).to_be_visible()


def amount(page: Page, testid: str) -> Decimal:
    return Decimal(page.get_by_test_id(testid).get_attribute("data-value") or "")


_WIDE = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  for (const element of document.body.querySelectorAll("*")) {
    if (element.closest(".db-scroll")) continue;  // scrolls inside its card
    const box = element.getBoundingClientRect();
    if (box.right > width + 0.5) {
      found.push(`${element.tagName.toLowerCase()}.${element.className}: ${Math.round(box.right)}`);
    }
  }
  return found.slice(0, 8);
}"""


def wider_than_the_screen(page: Page) -> list[str]:
    """The elements that stick out of the screen sideways (none: the page never scrolls
    sideways; wide tables scroll inside their card, ``.db-scroll``)."""
    found: list[str] = page.evaluate(_WIDE)
    width = int(page.evaluate("document.documentElement.scrollWidth"))
    viewport = page.viewport_size
    assert viewport is not None
    if width > viewport["width"]:
        found.append(f"page scroll width {width}")
    return found


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, full_page=True)


def submit(page: Page, form: str, **fields: str) -> None:
    """Fill ``form``'s fields (a select by its value) and submit it."""
    located = page.get_by_test_id(form)
    for name, value in fields.items():
        field = located.locator(f"[name={name}]")
        if field.evaluate("element => element.tagName") == "SELECT":
            field.select_option(value)
        elif field.get_attribute("type") == "checkbox":
            field.check()
        else:
            field.fill(value)
    located.locator("[type=submit]").click()


def click_through_actions(page: Page, api: ApiClient, server: DemoServer, customer: str) -> None:
    """Void the customer's issued invoice (its period is a draft again; the next close, run
    with the CLI, issues the replacement), then a credit note on the replacement (it gets a
    number) and a payment of the rest (it is paid); each checked in the API."""
    # Void, without write-off.
    void_id = page.get_by_test_id("void-form").locator("select[name=invoice]").input_value()
    number = api.invoice(void_id)["number"]
    submit(page, "void-form")
    expect(page.get_by_test_id("notice")).to_have_text(
        f"Invoice {number} is void; the next close issues its replacement."
    )
    assert api.invoice(void_id)["status"] == "void"
    row = page.locator(f"[data-testid=invoice-row][data-invoice-id='{void_id}']")
    expect(row).to_have_attribute("data-status", "void")
    at = DEMO_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    meterbill(server.database_url, "close", "--as-of", at, "--force")
    page.reload()
    replacement = page.get_by_text(f"replaces #{number}")
    expect(replacement).to_have_count(1)
    new_id = next(i["id"] for i in api.invoices(customer) if i.get("replaces") == number)

    # Credit note of 1.00 on the replacement: off its amount due.
    due = Decimal(api.invoice(new_id)["amount_due"])
    submit(page, "credit-note-form", invoice=new_id, amount="1.00", reason="Goodwill: outage")
    notice = page.get_by_test_id("notice")
    expect(notice).to_have_text(re.compile(r"^Credit note \d+ issued\.$"))
    note = int(re.findall(r"\d+", notice.inner_text())[0])
    notes = api.get(f"/v1/invoices/{new_id}/credit_notes")["data"]
    assert [(n["number"], Decimal(n["amount"])) for n in notes] == [(note, Decimal("1.00"))]
    note_row = page.locator(f"[data-testid=credit-note-row][data-number='{note}']")
    expect(note_row).to_contain_text("Goodwill: outage")
    assert Decimal(api.invoice(new_id)["amount_due"]) == due - 1

    # Payment of the rest: paid.
    submit(page, "payment-form", invoice=new_id, amount=str(due - 1), reference="wire 0042")
    expect(page.get_by_test_id("notice")).to_contain_text("is paid")
    assert api.invoice(new_id)["status"] == "paid"
    row = page.locator(f"[data-testid=invoice-row][data-invoice-id='{new_id}']")
    expect(row).to_have_attribute("data-status", "paid")


def test_console_on_a_desktop(desk: Page, own_server: DemoServer, own_api: ApiClient) -> None:
    page = desk
    sign_in_from_root(page, own_server.admin_key)
    # Customers: each row's figures are the API's.
    rows = page.get_by_test_id("customer-row")
    expect(rows).to_have_count(len(DEMO_CUSTOMERS))
    every: list[Json] = []
    for customer in DEMO_CUSTOMERS:
        invoices = own_api.invoices(customer)
        every.extend(invoices)
        row = page.locator(f"[data-testid=customer-row][data-customer-id='{customer}']")
        drafts = sum(Decimal(i["total"]) for i in invoices if i["status"] == "draft")
        due = sum(Decimal(i["amount_due"]) for i in invoices if i["status"] == "issued")
        assert parse_money(row.get_by_test_id("draft-total").inner_text()) == drafts
        assert parse_money(row.get_by_test_id("amount-due").inner_text()) == due
    shoot(page, "console-customers.png")

    # Invoices: every invoice of both customers, then only the issued ones.
    page.get_by_test_id("nav-invoices").click()
    expect(page).to_have_url(re.compile(r"/console/invoices$"))
    expect(page.get_by_test_id("invoice-row")).to_have_count(len(every))
    shoot(page, "console-invoices.png")
    page.get_by_test_id("filter-status").select_option("issued")
    page.get_by_test_id("filter-apply").click()
    expect(page).to_have_url(re.compile(r"status=issued"))
    issued = [i for i in every if i["status"] == "issued"]
    expect(page.get_by_test_id("invoice-row")).to_have_count(len(issued))
    total = page.get_by_test_id("invoice-totals")
    assert Decimal(total.get_attribute("data-total") or "") == sum(
        Decimal(str(i["total"])) for i in issued
    )

    # Receivables: everything issued is owed, nothing late yet at the demo's time.
    page.get_by_test_id("nav-receivables").click()
    owed = page.get_by_test_id("receivable-totals")
    assert Decimal(owed.get_attribute("data-total") or "") == sum(
        Decimal(str(i["amount_due"])) for i in issued
    )

    # The customer's page, from the customer list.
    page.get_by_test_id("nav-customers").click()
    page.locator(f"[data-customer-id='{STREAM_CUSTOMER}'] [data-testid=customer-link]").click()
    expect(page.get_by_test_id("customer-id")).to_have_text(STREAM_CUSTOMER)
    expect(page.get_by_test_id("daily-cost-chart")).to_be_visible()
    shoot(page, "console-customer.png")
    click_through_actions(page, own_api, own_server, STREAM_CUSTOMER)
    # The usage dashboard is one click away, and leads back.
    page.get_by_test_id("usage-dashboard-link").click()
    page.get_by_test_id("console-link").click()
    expect(page.get_by_test_id("customer-id")).to_have_text(STREAM_CUSTOMER)


def test_console_on_a_phone(phone: Page, own_server: DemoServer, own_api: ApiClient) -> None:
    page = phone
    sign_in_from_root(page, own_server.admin_key)
    assert wider_than_the_screen(page) == []
    for nav in ("nav-invoices", "nav-receivables", "nav-customers"):
        page.get_by_test_id(nav).click()
        expect(page.get_by_test_id(nav)).to_have_attribute("aria-current", "page")
        assert wider_than_the_screen(page) == [], nav
    page.locator(f"[data-customer-id='{SEARCH_CUSTOMER}'] [data-testid=customer-link]").click()
    expect(page.get_by_test_id("customer-id")).to_have_text(SEARCH_CUSTOMER)
    assert wider_than_the_screen(page) == []
    shoot(page, "console-phone.png")
    before = amount(page, "amount-due")
    click_through_actions(page, own_api, own_server, SEARCH_CUSTOMER)
    assert wider_than_the_screen(page) == []
    assert amount(page, "amount-due") < before
