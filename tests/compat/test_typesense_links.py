"""Signed invoice links (``services.links``): the token names one invoice, only the
installation's secret makes one, and any change to a token makes it worthless."""

import base64
import hashlib
import hmac
import string
from collections.abc import Iterator

import pytest

from meterbill.db import Session
from meterbill.db import catalog as catalog_store
from meterbill.db.database import Database
from meterbill.services.jsonio import loads_exact
from meterbill.services.links import (
    LINK_SECRET_KEY,
    MAX_TOKEN_LENGTH,
    invoice_link_token,
    link_secret,
    verify_invoice_link_token,
)

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))
INVOICE = "34ebaa80-0d87-5cdd-bdc8-7dfede1adc65"


def test_a_token_round_trips() -> None:
    token = invoice_link_token(SECRET, INVOICE)
    assert verify_invoice_link_token(SECRET, token) == INVOICE
    assert set(token) <= set(string.ascii_letters + string.digits + "-_")
    assert invoice_link_token(SECRET, INVOICE) == token  # one token per invoice and secret
    # 36 bytes of id + 32 of MAC = 68 bytes = 91 base64 characters without padding.
    assert len(token) == 91


def test_the_token_is_the_id_and_an_hmac_sha256() -> None:
    token = invoice_link_token(SECRET, INVOICE)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert raw[:-32] == INVOICE.encode()
    assert raw[-32:] != hashlib.sha256(INVOICE.encode()).digest()
    # A bare HMAC of the id (no domain separation) is not the MAC used.
    assert raw[-32:] != hmac.new(SECRET, INVOICE.encode(), hashlib.sha256).digest()


def test_another_secret_neither_verifies_nor_makes_the_same_token() -> None:
    token = invoice_link_token(SECRET, INVOICE)
    assert verify_invoice_link_token(OTHER_SECRET, token) is None
    assert invoice_link_token(OTHER_SECRET, INVOICE) != token


def test_every_single_character_change_is_refused() -> None:
    token = invoice_link_token(SECRET, INVOICE)
    alphabet = string.ascii_letters + string.digits + "-_"
    for position in range(len(token)):
        for replacement in (alphabet[(alphabet.index(token[position]) + 1) % 64], "A"):
            if replacement == token[position]:
                continue
            changed = token[:position] + replacement + token[position + 1 :]
            assert verify_invoice_link_token(SECRET, changed) is None, position


def test_an_id_cannot_be_swapped_under_a_mac() -> None:
    token = invoice_link_token(SECRET, INVOICE)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    forged_raw = b"00000000-0000-5000-8000-000000000000" + raw[-32:]
    forged = base64.urlsafe_b64encode(forged_raw).decode().rstrip("=")
    assert verify_invoice_link_token(SECRET, forged) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "A",
        "AAAA",
        "not a token",
        "abc+/def",
        "a" * (MAX_TOKEN_LENGTH + 1),
        "é" * 100,
        base64.urlsafe_b64encode(b"x" * 32).decode(),  # a MAC with no id
    ],
)
def test_garbage_is_refused(token: str) -> None:
    assert verify_invoice_link_token(SECRET, token) is None


def test_padding_and_stray_bits_are_refused() -> None:
    token = invoice_link_token(SECRET, INVOICE)  # 91 characters: the last one holds 2 bits
    assert verify_invoice_link_token(SECRET, token + "=") is None
    alphabet = string.ascii_letters + string.digits + "-_"
    last = alphabet.index(token[-1]) if token[-1] in string.ascii_uppercase else None
    # Setting a low bit the encoding never uses decodes to the same bytes: still refused.
    other = token[:-1] + alphabet[(alphabet.index(token[-1]) ^ 1)]
    assert verify_invoice_link_token(SECRET, other) is None
    assert last is None or last >= 0


def test_unicode_ids_round_trip() -> None:
    token = invoice_link_token(SECRET, "facture-été-№1")
    assert verify_invoice_link_token(SECRET, token) == "facture-été-№1"


def test_empty_secret_or_id_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        invoice_link_token(b"", INVOICE)
    with pytest.raises(ValueError, match="invoice id"):
        invoice_link_token(SECRET, "")
    assert verify_invoice_link_token(b"", invoice_link_token(SECRET, INVOICE)) is None


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        database.dispose()


def test_the_installation_secret_is_made_once_and_kept(database: Database) -> None:
    with database.transaction() as session:
        assert catalog_store.get_meta(session, LINK_SECRET_KEY) is None
        first = link_secret(session)
        assert link_secret(session) == first
    with database.transaction() as session:
        assert link_secret(session) == first
        stored = catalog_store.get_meta(session, LINK_SECRET_KEY)
    assert len(first) == 32
    assert isinstance(stored, str)
    value = loads_exact(stored)
    assert isinstance(value, str)
    assert base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)) == first


def test_a_rolled_back_first_use_leaves_no_secret(database: Database) -> None:
    def first_use_then_fail() -> None:
        with database.transaction() as session:
            link_secret(session)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        first_use_then_fail()
    with database.transaction() as session:
        assert catalog_store.get_meta(session, LINK_SECRET_KEY) is None


def test_a_damaged_secret_is_an_error_not_a_new_secret(database: Database) -> None:
    with database.transaction() as session:
        catalog_store.set_meta(session, LINK_SECRET_KEY, '"short"')
    with pytest.raises(RuntimeError, match="link_secret"), database.transaction() as session:
        link_secret(session)


def test_a_secret_stored_meanwhile_is_read_not_overwritten(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The savepoint path: the row appears between the read and the insert (as when another
    PostgreSQL transaction commits first); the stored secret wins and is not overwritten."""
    winner = base64.urlsafe_b64encode(OTHER_SECRET).decode().rstrip("=")
    original = catalog_store.get_meta
    reads: list[str] = []

    def first_read_misses(session: Session, key: str) -> str | None:
        reads.append(key)
        if len(reads) == 1:
            with database.transaction() as other:
                catalog_store.set_meta(other, LINK_SECRET_KEY, f'"{winner}"')
            return None
        return original(session, key)

    monkeypatch.setattr(catalog_store, "get_meta", first_read_misses)
    with database.transaction() as session:
        assert link_secret(session) == OTHER_SECRET
    monkeypatch.undo()
    with database.transaction() as session:
        assert link_secret(session) == OTHER_SECRET
    assert reads == [LINK_SECRET_KEY, LINK_SECRET_KEY]
