"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) render with the network off.

Every request the page makes to anything but the server on 127.0.0.1 is aborted and
recorded; the pages must still show the API's operations (their assets are packaged with
fastapi-offline and served by meterbill itself), for the native API and the
Metronome-compatible one, and must not have tried to reach anything else.
"""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.support import DemoServer

DOCUMENTS = {"native": "", "metronome": "/metronome"}
REDOC_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"
"""The image of ReDoc's own "API docs by Redocly" footer link, which its bundle always
asks for: aborted like everything else, it leaves the page whole."""


def _offline(page: Page) -> list[str]:
    """Abort every request that leaves 127.0.0.1; the list of those that tried."""
    outside: list[str] = []

    def handle(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return outside


@pytest.mark.parametrize("api", sorted(DOCUMENTS))
def test_swagger_ui_renders_offline(page: Page, server: DemoServer, api: str) -> None:
    outside = _offline(page)
    response = page.goto(f"{DOCUMENTS[api]}/docs")
    assert response is not None
    assert response.status == 200
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() >= 10
    summary = "A customer's invoices" if api == "native" else "List a customer's invoices"
    expect(page.locator(".opblock-summary-description", has_text=summary).first).to_be_visible()
    expect(page.locator(".btn.authorize")).to_be_visible()  # the bearer security scheme
    assert outside == []


@pytest.mark.parametrize("api", sorted(DOCUMENTS))
def test_redoc_renders_offline(page: Page, server: DemoServer, api: str) -> None:
    outside = _offline(page)
    response = page.goto(f"{DOCUMENTS[api]}/redoc")
    assert response is not None
    assert response.status == 200
    operations = page.locator("[data-section-id^='operation/']")
    expect(operations.first).to_be_attached()
    assert operations.count() >= 10
    summary = "A customer's invoices" if api == "native" else "List a customer's invoices"
    expect(page.locator("h2", has_text=summary).first).to_be_visible()
    assert [url for url in outside if url != REDOC_BADGE] == []
