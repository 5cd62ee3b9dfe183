"""The sign-in cookie is a signed, expiring session, not the API key.

Before: ``POST /dashboard/login`` set the cookie ``meterbill_key=<the key's secret>``, so
the cookie was as good as the key itself wherever it leaked. Now the cookie carries the
key's id and an expiry under an HMAC (``services.links``, the dashboard links' mechanism);
a tampered or expired cookie is refused, and revoking the key ends the session.
"""

from datetime import UTC, datetime, timedelta

from meterbill.api.app import create_app
from meterbill.api.dashboard import COOKIE_NAME
from meterbill.db.database import Database
from meterbill.services import links
from meterbill.services.keys import revoke_key
from tests.api.support import ALPHA, FIXED, TestClient
from tests.dashboard.conftest import Story


def _sign_in(client: TestClient, key: str) -> str:
    response = client.post("/dashboard/login", data={"key": key}, follow_redirects=False)
    assert response.status_code == 303, response.text
    cookie = client.cookies.get(COOKIE_NAME)
    assert isinstance(cookie, str)
    assert cookie
    return cookie


def _key_id(secret: str) -> str:
    return secret.split("_", 2)[1]


def test_the_cookie_holds_a_signed_session_not_the_key(
    client: TestClient, billed: Story, database: Database
) -> None:
    cookie = _sign_in(client, billed.alpha)
    set_cookie = client.post(
        "/dashboard/login", data={"key": billed.alpha}, follow_redirects=False
    ).headers["set-cookie"]
    assert billed.alpha not in set_cookie
    # not even the secret's random part (`mb_<id>_<secret>`; the secret may hold `_`)
    assert billed.alpha.split("_", 2)[2] not in cookie
    assert "Max-Age=43200" in set_cookie  # 12 hours
    # It is the key's id signed with the installation secret, expiring in 12 hours.
    with database.transaction() as session:
        secret = links.link_secret(session)
    assert links.verify_dashboard_session_token(secret, cookie, now=FIXED) == _key_id(billed.alpha)
    assert (
        links.verify_dashboard_session_token(secret, cookie, now=FIXED + timedelta(hours=12))
        is None
    )
    # Neither a dashboard link nor an invoice link: each context is its own.
    assert links.verify_dashboard_link_token(secret, cookie, now=FIXED) is None
    assert client.get(f"/dashboard/{ALPHA}").status_code == 200


def test_a_tampered_cookie_is_refused(client: TestClient, billed: Story) -> None:
    cookie = _sign_in(client, billed.alpha)
    assert client.get(f"/dashboard/{ALPHA}").status_code == 200
    flipped = ("B" if cookie[5] != "B" else "C").join((cookie[:5], cookie[6:]))
    for forged in (flipped, billed.alpha, cookie + "A", "", _key_id(billed.admin)):
        client.cookies.set(COOKIE_NAME, forged)
        response = client.get(f"/dashboard/{ALPHA}")
        assert response.status_code == 401, forged
    # Another installation's secret signs nothing here.
    client.cookies.set(
        COOKIE_NAME,
        links.dashboard_session_token(
            b"s" * 32, _key_id(billed.admin), expires_at=FIXED + timedelta(hours=1)
        ),
    )
    assert client.get(f"/dashboard/{ALPHA}").status_code == 401


def test_an_expired_session_is_refused(database: Database, billed: Story) -> None:
    now = [FIXED]
    with TestClient(create_app(database, clock=lambda: now[0])) as client:
        _sign_in(client, billed.alpha)
        now[0] = FIXED + timedelta(hours=11, minutes=59)
        assert client.get(f"/dashboard/{ALPHA}").status_code == 200
        now[0] = FIXED + timedelta(hours=12)
        assert client.get(f"/dashboard/{ALPHA}").status_code == 401


def test_revoking_the_key_ends_the_session(
    client: TestClient, billed: Story, database: Database
) -> None:
    _sign_in(client, billed.admin)
    assert client.get(f"/dashboard/{ALPHA}").status_code == 200
    with database.transaction() as session:
        revoke_key(session, _key_id(billed.admin), now=datetime(2026, 3, 5, 1, tzinfo=UTC))
    assert client.get(f"/dashboard/{ALPHA}").status_code == 401
    assert client.get("/dashboard").status_code == 401
