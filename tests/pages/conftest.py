"""Fixtures of the invoice page tests; every test using them runs on SQLite and PostgreSQL.

* ``database`` / ``client``: a migrated database on ``db_url`` and the application over it,
  the clock fixed at 2026-03-05T00:00:00Z;
* ``story``: the setup of ``tests/pages/support.py`` applied, its events ingested, January
  and February closed at the clock, and 500.00 paid on January through the API;
* ``japanese_fonts``: a font with Japanese glyphs (Debian's ``fonts-noto-cjk``, installed
  with apt-get when ``fc-list :lang=ja`` finds none; see ``tests.debian``).
"""

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from meterbill.api.app import create_app
from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup, load_catalog
from meterbill.services.ingest import Status, ingest_batch, rebuild_meter
from meterbill.services.invoicing import close_periods, customer_invoices
from meterbill.services.keys import create_key
from meterbill.services.links import invoice_link_token, link_secret
from meterbill.services.setupio import load_setup_document
from tests.api.support import TestClient
from tests.debian import require_debian_package
from tests.pages.support import CUSTOMER, FIXED, JANUARY_EVENTS, MARCH_EVENTS, SETUP_YAML


@dataclass(frozen=True, slots=True)
class Story:
    """The invoices of the story and what it takes to read them."""

    january: str
    february: str
    march: str
    admin: dict[str, str]
    account_key: str
    database: Database

    def token(self, invoice_id: str) -> str:
        """The invoice's link token under the installation's current secret."""
        with self.database.transaction() as session:
            return invoice_link_token(link_secret(session), invoice_id)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def client(database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(database, clock=lambda: FIXED)) as client:
        yield client


@pytest.fixture
def story(database: Database, client: TestClient) -> Story:
    with database.transaction() as session:
        document = load_setup_document(SETUP_YAML, source="setup")
        apply_setup(session, document, now=FIXED, rebuild=rebuild_meter)
        outcomes = ingest_batch(
            session, load_catalog(session), [*JANUARY_EVENTS, *MARCH_EVENTS], now=FIXED
        )
        assert all(outcome.status is Status.ACCEPTED for outcome in outcomes), outcomes
        issued = close_periods(session, as_of=FIXED).issued
        assert [view.ref.period.start.month for view in issued] == [1, 2]
        views = customer_invoices(session, CUSTOMER, as_of=FIXED)
        _, admin = create_key(session, customer_id=None, now=FIXED, name="admin")
        _, account = create_key(session, customer_id=CUSTOMER, now=FIXED, name="account")
    january, february, march = (view.id for view in views)
    headers = {"Authorization": f"Bearer {admin}"}
    paid = client.post(
        f"/v1/invoices/{january}/payments", json={"amount": "500.00"}, headers=headers
    )
    assert paid.status_code == 200, paid.text
    assert Decimal(paid.json()["data"]["amount_due"]) == Decimal("1201.82")
    return Story(january, february, march, headers, account, database)


def has_japanese_fonts() -> bool:
    """fontconfig knows a font that covers Japanese."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    listed = subprocess.run(
        [fc_list, ":lang=ja", "family"], capture_output=True, text=True, check=False, timeout=60
    )
    return bool(listed.stdout.strip())


@pytest.fixture(scope="session")
def japanese_fonts() -> None:
    require_debian_package(
        "fonts-noto-cjk", has_japanese_fonts, needed_for="the PDF tests of Japanese names"
    )
