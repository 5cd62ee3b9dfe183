"""Fixtures of the browser suite.

- ``chromium_path``: Debian's Chromium at ``/usr/bin/chromium``, installed with apt-get when
  it is missing (``tests.debian.require_debian_package``). If that install fails the suite
  fails under CI (``CI`` set) and is skipped, with the reason, anywhere else.
- ``server``: a real ``meterbill serve`` subprocess on 127.0.0.1 (a free port) over a demo
  database built in-process at a fixed time, so the pages and screenshots are the same on
  every run; keys come from ``meterbill keys create``. ``own_server``: another one for one
  test module, which may change what it bills.
- ``browser`` / ``page``: headless Chromium driven by Playwright's Python package (its own
  bundled driver; no ``playwright install``), 1280 px wide, UTC, downloads accepted.
- ``api``: an HTTP client on the server's JSON API with the admin key.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.server import ServeProcess, ServerError
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from rich.console import Console

from meterbill.cli.demo import build_demo
from meterbill.db.database import Database
from tests.browser.browsing import meterbill
from tests.browser.support import (
    CHROMIUM,
    CUSTOMER,
    DEMO_NOW,
    VIEWPORT,
    ApiClient,
    DemoServer,
)
from tests.debian import require_debian_package

SERVER_START_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """``/usr/bin/chromium``, installed from Debian's packages first when it is missing."""
    require_debian_package(
        "chromium", lambda: Path(CHROMIUM).exists(), needed_for="the browser tests"
    )
    return CHROMIUM


def _demo_server(folder: Path) -> Iterator[DemoServer]:
    """``meterbill serve --close-every 0 --clock DEMO_NOW`` over a demo database built in
    ``folder``, until the generator is closed."""
    database_url = f"sqlite:///{folder / 'demo.db'}"
    database = Database(database_url)
    try:
        build_demo(database, now=DEMO_NOW, console=Console(quiet=True))
    finally:
        database.dispose()
    admin_key = meterbill(database_url, "keys", "create", "--admin")
    customer_key = meterbill(database_url, "keys", "create", "--customer", CUSTOMER)
    process = ServeProcess(
        database_url,
        log=folder / "serve.log",
        startup=SERVER_START_TIMEOUT,
        close_every=0,
        # Reads default to now: serve at the demo's time, not the real one.
        options=("--clock", DEMO_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")),
    )
    try:
        process.start()
    except ServerError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield DemoServer(
            base_url=process.base_url,
            database_url=database_url,
            admin_key=admin_key,
            customer_key=customer_key,
            log=process.log,
        )
    finally:
        process.stop(grace=10)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The demo server every read-only browser test shares, for the whole session."""
    yield from _demo_server(tmp_path_factory.mktemp("browser-demo"))


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """A demo server of the module's own, for tests that change what it bills (the console's
    actions): the shared one stays as the demo built it."""
    yield from _demo_server(tmp_path_factory.mktemp("browser-own-demo"))


@pytest.fixture(scope="session")
def api(server: DemoServer) -> Iterator[ApiClient]:
    """The server's JSON API, called with the admin key."""
    with httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=30,
    ) as client:
        yield ApiClient(client)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright, chromium_path: str) -> Iterator[Browser]:
    """Headless Debian Chromium. Its background connections stay off: the network is closed."""
    browser = playwright_driver.chromium.launch(
        executable_path=chromium_path,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def page(browser: Browser, server: DemoServer) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page on the server, 1280 px wide."""
    context = browser.new_context(
        base_url=server.base_url,
        viewport=VIEWPORT,
        locale="en-US",
        timezone_id="UTC",
        accept_downloads=True,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
