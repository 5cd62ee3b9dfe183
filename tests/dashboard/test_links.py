"""Signed dashboard links (``services.links``): customer and expiry inside the MAC, a context
of their own, one canonical encoding, and nothing accepted after the expiry."""

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from meterbill.services.links import (
    dashboard_link_token,
    invoice_link_token,
    verify_dashboard_link_token,
    verify_invoice_link_token,
)

SECRET = bytes(range(32))
OTHER = bytes(range(1, 33))
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)


def test_round_trip_until_the_expiry() -> None:
    token = dashboard_link_token(SECRET, "cust-alpha", expires_at=LATER)
    assert verify_dashboard_link_token(SECRET, token, now=NOW) == "cust-alpha"
    assert verify_dashboard_link_token(SECRET, token, now=LATER - timedelta(seconds=1)) == (
        "cust-alpha"
    )
    assert verify_dashboard_link_token(SECRET, token, now=LATER) is None
    assert verify_dashboard_link_token(SECRET, token, now=LATER + timedelta(days=400)) is None
    # URL-safe, unpadded, and the same token for the same input.
    assert token == dashboard_link_token(SECRET, "cust-alpha", expires_at=LATER)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_expiry_is_whole_seconds_in_any_zone() -> None:
    east = LATER.astimezone(timezone(timedelta(hours=5, minutes=30)))
    with_micros = LATER + timedelta(microseconds=999_999)
    token = dashboard_link_token(SECRET, "c", expires_at=LATER)
    assert dashboard_link_token(SECRET, "c", expires_at=east) == token
    assert dashboard_link_token(SECRET, "c", expires_at=with_micros) == token
    with pytest.raises(ValueError, match="timezone"):
        dashboard_link_token(SECRET, "c", expires_at=datetime(2026, 4, 1))
    with pytest.raises(ValueError, match="timezone"):
        verify_dashboard_link_token(SECRET, token, now=datetime(2026, 4, 1))
    with pytest.raises(ValueError, match="secret"):
        dashboard_link_token(b"", "c", expires_at=LATER)
    with pytest.raises(ValueError, match="customer"):
        dashboard_link_token(SECRET, "", expires_at=LATER)


def test_every_changed_character_is_refused() -> None:
    token = dashboard_link_token(SECRET, "cust-ü/ß", expires_at=LATER)
    assert verify_dashboard_link_token(SECRET, token, now=NOW) == "cust-ü/ß"
    for index, char in enumerate(token):
        for replacement in {"A", "a", "_"} - {char}:
            tampered = token[:index] + replacement + token[index + 1 :]
            assert verify_dashboard_link_token(SECRET, tampered, now=NOW) is None, index
    for broken in (token[:-1], token + "A", token + "=", " " + token, token.upper(), "", "!"):
        assert verify_dashboard_link_token(SECRET, broken, now=NOW) is None
    assert verify_dashboard_link_token(SECRET, "A" * 5000, now=NOW) is None


def test_the_expiry_and_customer_are_signed() -> None:
    token = dashboard_link_token(SECRET, "cust-alpha", expires_at=NOW + timedelta(seconds=1))
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    # Move the expiry a year on, or name another customer, keeping the MAC: refused.
    later = (int.from_bytes(raw[:8], "big") + 365 * 86_400).to_bytes(8, "big")
    for forged in (later + raw[8:], raw[:8] + raw[8:].replace(b"alpha", b"betaa")):
        text = base64.urlsafe_b64encode(forged).decode().rstrip("=")
        assert verify_dashboard_link_token(SECRET, text, now=NOW) is None


def test_contexts_and_secrets_do_not_mix() -> None:
    dashboard = dashboard_link_token(SECRET, "cust-alpha", expires_at=LATER)
    invoice = invoice_link_token(SECRET, "cust-alpha")
    assert verify_dashboard_link_token(OTHER, dashboard, now=NOW) is None
    assert verify_dashboard_link_token(b"", dashboard, now=NOW) is None
    assert verify_dashboard_link_token(SECRET, invoice, now=NOW) is None
    assert verify_invoice_link_token(SECRET, dashboard) is None
    # An invoice token whose id happens to be 8+ bytes long is still not a dashboard token.
    long_invoice = invoice_link_token(SECRET, "0123456789abcdef-invoice")
    assert verify_dashboard_link_token(SECRET, long_invoice, now=NOW) is None
