"""Every asset ships in the package and nothing is fetched from elsewhere: the server
works without internet access."""

import fnmatch
import re
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from meterbill.api.app import create_app
from meterbill.db.database import Database
from tests.api.support import TestClient
from tests.pages.conftest import Story
from tests.pages.support import FIXED, parse_html

ROOT = Path(__file__).resolve().parents[2]
STYLESHEETS = ("style.css", "print.css")
_URL = re.compile(r"(?:https?:)?//[^\s\"'()<>]+", re.IGNORECASE)


@pytest.fixture
def bare_client(tmp_path: Path) -> Iterator[TestClient]:
    """The application over an empty SQLite database (for what needs no data)."""
    database = Database(f"sqlite:///{tmp_path / 'assets.db'}")
    try:
        with TestClient(create_app(database, clock=lambda: FIXED)) as client:
            yield client
    finally:
        database.dispose()


def package_file(*parts: str) -> bytes:
    return resources.files("meterbill.api").joinpath(*parts).read_bytes()


@pytest.mark.parametrize("name", STYLESHEETS)
def test_stylesheets_are_served_from_the_package(bare_client: TestClient, name: str) -> None:
    response = bare_client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.content == package_file("static", name)
    css = response.text
    assert _URL.search(css) is None, "a URL in the stylesheet"
    assert "@import" not in css
    assert "url(" not in css
    assert bare_client.get("/static/../pages.py").status_code == 404


def test_print_css_sets_the_paper_and_page_breaks() -> None:
    css = package_file("static", "print.css").decode()
    compact = " ".join(css.split())
    assert "@page { size: A4 portrait;" in compact
    assert "@page letter { size: letter portrait;" in compact
    assert '[data-paper="letter"] { page: letter; }' in compact
    assert ".invoice { break-after: page;" in compact


def test_pages_reference_only_this_server(client: TestClient, story: Story) -> None:
    token = story.token(story.january)
    pages = {
        "invoice": client.get(f"/invoices/{token}").text,
        "not found": client.get("/invoices/nothing-here").text,
    }
    for label, html in pages.items():
        assert _URL.search(html) is None, f"{label}: {_URL.search(html)}"
        references = [
            element.attrs[attribute]
            for element in parse_html(html).elements()
            for attribute in ("href", "src", "action")
            if attribute in element.attrs
        ]
        assert references, label
        for reference in references:
            if reference.startswith("data:"):
                continue
            assert reference.startswith("/"), f"{label}: {reference}"
            assert client.get(reference).status_code == 200, f"{label}: {reference}"
    assert "<script" not in pages["invoice"]


def test_the_wheel_ships_templates_and_stylesheets() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["meterbill"]
    package = ROOT / "src" / "meterbill"
    assets = [
        path.relative_to(package).as_posix()
        for folder in ("api/templates", "api/static")
        for path in (package / folder).iterdir()
        if path.is_file()
    ]
    assert {"api/templates/invoice.html", "api/templates/base.html"} <= set(assets)
    assert {"api/static/style.css", "api/static/print.css"} <= set(assets)
    for asset in assets:
        assert any(fnmatch.fnmatch(asset, pattern) for pattern in patterns), asset
