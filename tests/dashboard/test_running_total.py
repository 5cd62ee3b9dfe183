"""The live draft's head says what is accrued and what is projected (issue 11).

At 2026-03-05T00:00:00Z Alpha's March draft has 51.50 of lines and is projected at 8.50
after its prepaid credit; what has accrued is the breakdown of the days up to today.
"""

from decimal import Decimal

from tests.api.support import ALPHA, TestClient
from tests.dashboard.conftest import Story
from tests.dashboard.test_dashboard import api_breakdowns, api_invoice, page


def test_the_draft_head_shows_accrued_and_projected(client: TestClient, billed: Story) -> None:
    document = page(client, f"/dashboard/{ALPHA}", billed.admin_headers)
    march = billed.alpha_invoices[2]
    draft = api_invoice(client, billed, march)
    projected = document.one("draft-total")
    assert projected.decimal() == Decimal(draft["total"]) == Decimal("8.50")
    accrued = document.one("draft-accrued")
    assert accrued.attrs["data-invoice-id"] == march
    # Days 1 to 5 March (today included), as the breakdown API answers them.
    days = api_breakdowns(
        client, billed, ALPHA, "2026-03-01T00:00:00Z", "2026-03-06T00:00:00Z", "day"
    )
    assert days
    assert all("2026-03-01" <= str(day["start"])[:10] <= "2026-03-05" for day in days)
    want = sum((Decimal(day["total"]) for day in days), Decimal(0))
    assert accrued.decimal() == want
    assert Decimal(0) < want <= Decimal(draft["subtotal"]) == Decimal("51.50")
    body = document.one("live-draft").text
    assert "Running total" not in body
    assert "Projected total" in body
    assert "Accrued so far" in body
    note = document.one("draft-note").text
    assert "no more usage" in note
    assert "before tax and credits" in note
