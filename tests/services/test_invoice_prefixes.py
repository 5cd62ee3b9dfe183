"""Invoices named by a unique prefix of their id (the CLI's short ids), on SQLite and
PostgreSQL: a prefix that is unique resolves, an ambiguous one lists its candidates."""

from collections import defaultdict
from datetime import UTC, datetime

import pytest

from meterbill.core.errors import InvalidRequest, NotFound
from meterbill.services.invoicing import customer_invoices, resolve_invoice
from tests.services.support import open_world, setup

JAN = "2026-01-01T00:00:00Z"
FEB_2 = datetime(2026, 2, 2, tzinfo=UTC)
FEB_15 = datetime(2026, 2, 15, tzinfo=UTC)
# 17 customers: their 17 January invoices share a first character (16 hex digits).
CUSTOMERS = [f"c{index:02d}" for index in range(17)]


def document() -> dict[str, object]:
    return setup(
        [
            {"id": c, "name": c.upper(), "subscriptions": [{"plan": "basic", "starts_at": JAN}]}
            for c in CUSTOMERS
        ]
    )


def shared_first_character(ids: list[str]) -> tuple[str, list[str]]:
    """A first character several ids share, not a digit (that would be a number).

    The ids are UUID5s of the customer, plan and period, so the choice is always the same.
    """
    by_first: dict[str, list[str]] = defaultdict(list)
    for found in ids:
        by_first[found[0]].append(found)
    shared = {c: g for c, g in by_first.items() if len(g) >= 2 and not c.isdigit()}
    first, group = max(shared.items(), key=lambda item: (len(item[1]), item[0]))
    return first, sorted(group)


def test_prefixes_resolve_and_ambiguity_lists_candidates(db_url: str) -> None:
    with open_world(db_url, document(), now=FEB_2) as world:
        assert len(world.close(FEB_2).issued) == len(CUSTOMERS)
        with world.database.transaction() as session:
            views = [
                view for c in CUSTOMERS for view in customer_invoices(session, c, as_of=FEB_15)
            ]
            issued = [view.id for view in views if view.number is not None]
            drafts = [view.id for view in views if view.status == "draft"]
            assert len(issued) == len(drafts) == len(CUSTOMERS)
            for found in issued:
                assert resolve_invoice(session, found[:8]) == found
                assert resolve_invoice(session, f"  {found[:10]} ") == found
            # Numbers come first, with or without '#'.
            third = next(view for view in views if view.number == 3)
            assert resolve_invoice(session, "#3") == third.id == resolve_invoice(session, "3")
            # A draft's prefix resolves only when drafts are asked for.
            draft = drafts[0]
            assert resolve_invoice(session, draft[:8]) == draft[:8]
            assert resolve_invoice(session, draft[:8], drafts_as_of=FEB_15) == draft
            assert resolve_invoice(session, draft, drafts_as_of=FEB_15) == draft
            # An unknown prefix comes back unchanged (the lookup then says not found).
            assert resolve_invoice(session, "zz-none") == "zz-none"
            with pytest.raises(NotFound, match="invoice number 999 not found"):
                resolve_invoice(session, "999")
            # Digits are a number even when an id starts with them.
            digits = next(found[0] for found in issued if found[0].isdigit() and found[0] != "0")
            if int(digits) > len(CUSTOMERS):
                with pytest.raises(NotFound, match=f"invoice number {digits} not found"):
                    resolve_invoice(session, digits)
            with pytest.raises(NotFound, match="add the next character"):
                resolve_invoice(session, "0")
            first, group = shared_first_character(issued)
            with pytest.raises(InvalidRequest) as refused:
                resolve_invoice(session, first)
            message = str(refused.value)
            assert f"invoice id prefix {first!r} is ambiguous" in message
            for found in group[:10]:
                assert found in message
            assert "#" in message  # the candidates show their numbers
            assert "give more characters or the number" in message
