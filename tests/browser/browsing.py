"""Steps a person takes in the browser, shared by the tests: signing in, opening a signed
link, reading the invoice list, downloading a file."""

import re
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal

from playwright.sync_api import Locator, Page, expect

from tests.browser.support import CUSTOMER, DemoServer, invoice_id_of_link, money_in

__all__ = [
    "ListedInvoice",
    "dashboard_link",
    "download",
    "figures_shown",
    "listed_invoices",
    "meterbill",
    "sign_in",
]


def meterbill(database_url: str, *args: str) -> str:
    """Run the ``meterbill`` CLI on ``database_url``; returns what it printed on stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "meterbill", "--database", database_url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, (
        f"meterbill {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
    )
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    assert lines, f"meterbill {' '.join(args)} printed nothing on stdout"
    return lines[-1]


def sign_in(page: Page, key: str) -> None:
    """Open the customer's dashboard, meet the sign-in form there and sign in with ``key``."""
    page.goto(f"/dashboard/{CUSTOMER}")
    form = page.locator("form[action$='/dashboard/login']")
    expect(form).to_have_count(1)
    form.locator("input[name=key]").fill(key)
    form.locator("[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/dashboard/{re.escape(CUSTOMER)}(\?.*)?$"))
    expect(page.get_by_test_id("draft-total")).to_be_visible()


def dashboard_link(server: DemoServer) -> str:
    """A signed link to the customer's dashboard, from ``meterbill links dashboard``."""
    link = meterbill(
        server.database_url,
        "links",
        "dashboard",
        "--customer",
        CUSTOMER,
        "--base-url",
        server.base_url,
    )
    assert link.startswith(f"{server.base_url}/d/"), link
    return link


def figures_shown(page: Page) -> list[str]:
    """Every amount of money written on the page."""
    text = page.locator("body").inner_text()
    return [str(value) for value in money_in(text)]


@dataclass(frozen=True)
class ListedInvoice:
    """One row of the dashboard's invoice list."""

    text: str
    link: str | None  # the href of its invoice-link, if it has one

    @property
    def invoice_id(self) -> str | None:
        return None if self.link is None else invoice_id_of_link(self.link)

    @property
    def amounts(self) -> list[Decimal]:
        return money_in(self.text)


def listed_invoices(page: Page) -> list[ListedInvoice]:
    rows = page.get_by_test_id("invoice-list").locator("tr:has(td)")
    listed: list[ListedInvoice] = []
    for index in range(rows.count()):
        row = rows.nth(index)
        links = row.get_by_test_id("invoice-link")
        assert links.count() <= 1, f"row {index} of the invoice list has {links.count()} links"
        listed.append(
            ListedInvoice(
                text=row.inner_text(),
                link=links.get_attribute("href") if links.count() else None,
            )
        )
    return listed


def download(page: Page, control: Locator) -> tuple[str, bytes]:
    """Click ``control`` and wait for the file it downloads: its name and its bytes."""
    with page.expect_download() as started:
        control.click()
    saved = started.value
    failure = saved.failure()
    assert failure is None, f"the download from {saved.url} failed: {failure}"
    return saved.suggested_filename, saved.path().read_bytes()
