"""``meterbill links dashboard`` and the demo's dashboard links: signed URLs that open."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from typer.testing import CliRunner, Result

from meterbill.cli.demo import DASHBOARD_LINK_DAYS, dashboard_links
from meterbill.cli.main import app
from meterbill.db.database import Database
from meterbill.demo.data import DEMO_CUSTOMERS
from meterbill.services.links import link_secret, verify_dashboard_link_token
from tests.api.support import ALPHA, FIXED, TestClient
from tests.dashboard.conftest import Story


def meterbill(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "meterbill", "--database", db_url, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def links_dashboard(db_url: str, *args: str) -> Result:
    """``meterbill links dashboard ARGS`` in this process (no interpreter to start)."""
    return CliRunner().invoke(app, ["--database", db_url, "links", "dashboard", *args])


def test_links_dashboard_prints_a_signed_url(
    db_url: str, database: Database, client: TestClient, billed: Story
) -> None:
    before = datetime.now(UTC)
    done = links_dashboard(db_url, "--customer", ALPHA, "--days", "2", "--base-url", "http://x:1/")
    assert done.exit_code == 0, done.output
    url = done.stdout.strip()
    assert "\n" not in url
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("http", "x:1")
    assert parts.path.startswith("/d/")
    token = parts.path.removeprefix("/d/")
    with database.transaction() as session:
        secret = link_secret(session)
    # Valid two days from when it was made, not three.
    soon = before + timedelta(days=2) - timedelta(minutes=5)
    assert verify_dashboard_link_token(secret, token, now=soon) == ALPHA
    assert verify_dashboard_link_token(secret, token, now=before + timedelta(days=3)) is None
    # The default is 30 days on 127.0.0.1:8000.
    default = links_dashboard(db_url, "--customer", ALPHA).stdout.strip()
    assert default.startswith("http://127.0.0.1:8000/d/")
    token = default.removeprefix("http://127.0.0.1:8000/d/")
    assert verify_dashboard_link_token(secret, token, now=before + timedelta(days=29)) == ALPHA
    assert verify_dashboard_link_token(secret, token, now=before + timedelta(days=31)) is None
    # A link made now opens at the test clock (2026-03-05) too, with the same secret.
    response = client.get(f"/d/{token}")
    assert response.status_code == 200
    assert 'data-testid="draft-total"' in response.text
    for days in ("0", "3651", "x"):
        assert links_dashboard(db_url, "--customer", ALPHA, "--days", days).exit_code == 2

    # The real command: an unknown customer is one line on stderr and exit code 1.
    unknown = meterbill(db_url, "links", "dashboard", "--customer", "nobody")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: customer 'nobody' not found"
    assert unknown.stdout == ""


def test_demo_links_open_each_customers_dashboard(database: Database) -> None:
    links = dashboard_links(database, base="http://127.0.0.1:8000", now=FIXED)
    assert list(links) == list(DEMO_CUSTOMERS)
    with database.transaction() as session:
        secret = link_secret(session)
    expires = FIXED + timedelta(days=DASHBOARD_LINK_DAYS)
    for customer, url in links.items():
        assert url.startswith("http://127.0.0.1:8000/d/")
        token = url.removeprefix("http://127.0.0.1:8000/d/")
        assert verify_dashboard_link_token(secret, token, now=expires - timedelta(seconds=1)) == (
            customer
        )
        assert verify_dashboard_link_token(secret, token, now=expires) is None
