"""What the browser tests share: the demo's constants, the API client, and readers for the
figures a page shows (``$1,732.41`` back to ``Decimal("1732.41")``)."""

import base64
import binascii
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import ViewportSize

__all__ = [
    "CHROMIUM",
    "CUSTOMER",
    "DEMO_NOW",
    "SCREENSHOTS",
    "VIEWPORT",
    "ApiClient",
    "DemoServer",
    "Json",
    "group_key",
    "invoice_id_of_link",
    "money_in",
    "parse_decimal",
    "parse_money",
    "read_csv",
    "tampered",
]

CHROMIUM = "/usr/bin/chromium"
CUSTOMER = "acme-stream"
# The demo is built as of this moment (the middle of a month: one live draft, no invoice in
# its grace period), so its figures, and the screenshots, are the same on every run.
DEMO_NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

Json = dict[str, Any]

# The demo bills in USD, written "$1,732.41" (the invoice page) or "1,732.41 USD" (the
# dashboard); a leading minus, ASCII or U+2212, is the sign.
_MONEY = re.compile(
    r"(?P<sign>[-−]?)\s*"
    r"(?:\$\s*(?P<symbol>[0-9][0-9,]*(?:\.[0-9]+)?)|(?P<code>[0-9][0-9,]*(?:\.[0-9]+)?)\s*USD\b)"
)
_TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_MAC_BYTES = 32


@dataclass(frozen=True)
class DemoServer:
    """A running ``meterbill serve`` over the demo database, and its two keys."""

    base_url: str
    database_url: str
    admin_key: str
    customer_key: str
    log: Path


class ApiClient:
    """meterbill's JSON API, read with the admin key; lists are followed to the last page."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def get(self, path: str, **params: str) -> Json:
        response = self._client.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        body: Json = response.json(parse_float=Decimal)
        return body

    def _all(self, path: str, **params: str) -> list[Json]:
        items: list[Json] = []
        cursor: str | None = None
        while True:
            page = self.get(path, **params, **({"cursor": cursor} if cursor else {}))
            items.extend(page["data"])
            cursor = page["next_cursor"]
            if cursor is None:
                return items

    def invoices(self, customer_id: str) -> list[Json]:
        return self._all(f"/v1/customers/{customer_id}/invoices")

    def invoice(self, invoice_id: str) -> Json:
        document: Json = self.get(f"/v1/invoices/{invoice_id}")["data"]
        return document

    def breakdowns(self, customer_id: str, start: str, end: str, window_size: str) -> list[Json]:
        return self._all(
            f"/v1/customers/{customer_id}/breakdowns",
            starting_on=start,
            ending_before=end,
            window_size=window_size,
        )


def money_in(text: str) -> list[Decimal]:
    """Every dollar amount written in ``text``, in order."""
    values: list[Decimal] = []
    for found in _MONEY.finditer(text):
        digits = found["symbol"] or found["code"]
        value = Decimal(digits.replace(",", ""))
        values.append(-value if found["sign"] else value)
    return values


def parse_money(text: str) -> Decimal:
    """The one dollar amount of ``text`` (the text of an element showing a figure)."""
    values = money_in(text)
    assert len(values) == 1, f"expected one amount like $1,732.41 in {text!r}, found {values}"
    return values[0]


def parse_decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise AssertionError(f"{text!r} is not a decimal") from None


def group_key(group: object) -> str:
    """A line's group (a dict, or its JSON text in a CSV cell) as one comparable string."""
    if isinstance(group, str):
        group = json.loads(group) if group else {}
    return json.dumps(group, sort_keys=True)


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def invoice_id_of_link(href: str) -> str | None:
    """The invoice id a signed ``/invoices/{token}`` link names (its token carries the id
    before a 32-byte MAC), or None for a link of another shape."""
    parts = [part for part in urlsplit(href).path.split("/") if part]
    if len(parts) != 2 or parts[0] != "invoices":
        return None
    token = parts[1]
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return raw[:-_MAC_BYTES].decode("utf-8") if len(raw) > _MAC_BYTES else None
    except (binascii.Error, ValueError):
        return None


def _swap(token: str, index: int) -> str:
    old = token[index]
    new = _TOKEN_ALPHABET[(_TOKEN_ALPHABET.index(old) + 1) % len(_TOKEN_ALPHABET)]
    return token[:index] + new + token[index + 1 :]


def tampered(token: str) -> Iterator[tuple[str, str]]:
    """Forgeries of ``token``: one character changed in what it names (the start), one in
    its MAC (near the end), one dropped, and one added. Each with a description."""
    assert len(token) > 50, token
    assert all(c in _TOKEN_ALPHABET for c in token), token
    yield "first character changed", _swap(token, 0)
    yield "a MAC character changed", _swap(token, len(token) - 10)
    yield "last character dropped", token[:-1]
    yield "a character added", token + "A"
