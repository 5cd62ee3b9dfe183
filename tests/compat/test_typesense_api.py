"""The Typesense Cloud invoices API on the small setup of ``conftest_wt``: documents computed
by hand, payments, void, late usage, pagination and every error case.

Alpha's January (see ``test_warpstream_api`` for the arithmetic): subtotal 100.00 ->
``amount_cents`` 10000; commit 50.00 + free 10.00 -> ``paid_via_credits_cents`` 6000; the
balance left is 0: the prepaid grant starts on 1 February, after January's end, so it is not
part of January's balance (spec 4.6: grants that started before the period end).
February: 0.14 + 20.00 + 79.86 + 90.00 = 190.00 -> 19000; the prepaid grant pays 10000
(never the 90.00 purchase) and is then empty. January is invoice #1, February #2 (beta's
are #3 and #4): ``close_periods`` numbers customers in id order.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from meterbill.api.typesense import MAX_PER_PAGE, PREFIX
from meterbill.services.invoicing import (
    close_periods,
    issue_credit_note,
    record_payment,
    void_invoice,
)
from meterbill.services.links import link_secret, verify_invoice_link_token
from tests.compat.conftest_wt import (
    ALPHA,
    ALPHA_NAME,
    BACKENDS,
    COMPAT_WARNINGS,
    SMALL_CLOCK,
    TS_HEADER,
    WS_HEADER,
    World,
    compat_database_url,
    error_code,
    exact,
    ingest,
    small_world,
    unix,
)

pytestmark = COMPAT_WARNINGS

JANUARY_START, JANUARY_LAST = unix("2026-01-01T00:00:00Z"), unix("2026-01-31T23:59:59Z")
FEBRUARY_START, FEBRUARY_LAST = unix("2026-02-01T00:00:00Z"), unix("2026-02-28T23:59:59Z")
ACCOUNT = {
    "owner_name": ALPHA_NAME,
    "owner_type": "Team",
    "billing_email": "billing@alpha.example",
    "additional_billing_information": None,
}


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    with small_world(compat_database_url(request, request.param)) as loaded:
        yield loaded


@pytest.fixture
def fresh(db_url: str) -> Iterator[World]:
    """A world of its own, for the tests that change it."""
    with small_world(db_url) as loaded:
        yield loaded


def get(world: World, url: str, *, key: str | None = None, **params: object) -> Any:
    response = world.client.get(url, params=params, headers={TS_HEADER: key or world.own})
    assert response.status_code == 200, response.text
    return exact(response)


def summary(
    invoice: dict[str, Any],
    number: int,
    amount: int,
    first: int,
    last: int,
    payment: tuple[int, int, int],
) -> dict[str, object]:
    """The summary fields that do not depend on the id, the link or the status."""
    return {
        "number": number,
        "amount_cents": amount,
        "invoice_date": unix("2026-03-05T00:00:00Z"),
        "period_starts_at": first,
        "period_ends_at": last,
        "line_items_path": f"{PREFIX}/{invoice['id']}",
        "account": ACCOUNT,
        "payment": dict(
            zip(
                ("paid_via_card_cents", "paid_via_credits_cents", "credit_balance_snapshot_cents"),
                payment,
                strict=True,
            )
        ),
    }


def without(document: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in keys}


def test_the_listing_by_hand(world: World) -> None:
    listing = get(world, PREFIX)
    assert without(listing, "invoices") == {"page": 1, "per_page": 10, "total": 2}
    february, january = listing["invoices"]
    assert without(february, "id", "status", "invoice_html_url") == summary(
        february, 2, 19000, FEBRUARY_START, FEBRUARY_LAST, (0, 10000, 0)
    )
    assert without(january, "id", "status", "invoice_html_url") == summary(
        january, 1, 10000, JANUARY_START, JANUARY_LAST, (0, 6000, 0)
    )
    assert (february["status"], january["status"]) == ("due", "due")
    with world.database.transaction() as session:
        secret = link_secret(session)
    for item in listing["invoices"]:
        base, _, token = item["invoice_html_url"].rpartition("/")
        assert base == "http://testserver/invoices"
        assert verify_invoice_link_token(secret, token) == item["id"]


def test_the_key_may_be_a_query_parameter(world: World) -> None:
    by_header = get(world, PREFIX)
    by_query = world.client.get(PREFIX, params={TS_HEADER: world.own})
    assert by_query.status_code == 200
    assert exact(by_query) == by_header
    one = world.client.get(
        f"{PREFIX}/{by_header['invoices'][0]['id']}", params={TS_HEADER: world.own}
    )
    assert one.status_code == 200
    # The header wins when both are sent.
    both = world.client.get(PREFIX, params={TS_HEADER: world.own}, headers={TS_HEADER: "wrong"})
    assert error_code(both, 403) == "forbidden"


A1 = {"cluster_id": "vci_a1", "region": "us-east-1"}


def test_january_line_items_by_hand(world: World) -> None:
    january = get(world, PREFIX)["invoices"][1]
    detail = get(world, january["line_items_path"])
    assert without(detail, "line_items") == january
    rows = [
        (
            i["description"],
            i["unit_price_cents"],
            i["quantity"],
            i["price_cents"],
            i["line_item_type"],
            i["parameters"],
        )
        for i in detail["line_items"]
    ]
    assert rows == [
        # vci_a1's attributes follow its group values (its whole configuration).
        ("Cluster minutes", D("0.23148"), 2880, 667, "usage", A1),
        ("Written -- vci_a1", 10, 100, 1000, "bandwidth", A1),
        ("Written -- vci_a1", 5, 20, 100, "bandwidth", A1),
        ("Written -- vci_solo", 10, 5, 50, "bandwidth", {"cluster_id": "vci_solo"}),
        ("Written -- vci_unknown", 10, 1, 10, "bandwidth", {"cluster_id": "vci_unknown"}),
        # One package of 1000 requests at 0.50: 0.05 cents per request.
        ("Requests", D("0.05"), 3, 50, "usage", {"workspace_id": "wi_alpha"}),
        (
            "Support - Premium",
            2000,
            1,
            2000,
            "support",
            {"plan_name": "Support - Premium", "starts_at": JANUARY_START, "ends_at": JANUARY_LAST},
        ),
        ("Minimum spend true-up", 6123, 1, 6123, "minimum", {}),
    ]
    assert sum(row[3] for row in rows) == detail["amount_cents"] == 10000


def test_february_line_items_by_hand(world: World) -> None:
    february = get(world, PREFIX)["invoices"][0]
    items = get(world, february["line_items_path"])["line_items"]
    assert [
        (i["description"], i["unit_price_cents"], i["quantity"], i["price_cents"]) for i in items
    ] == [
        ("Cluster minutes", D("0.23148"), 60, 14),
        ("Support - Premium", 2000, 1, 2000),
        ("Minimum spend true-up", 7986, 1, 7986),
        ("Prepaid credit purchase", 9000, 1, 9000),
    ]
    assert items[1]["parameters"] == {
        "plan_name": "Support - Premium",
        "starts_at": FEBRUARY_START,
        "ends_at": FEBRUARY_LAST,
    }
    assert (items[3]["line_item_type"], items[3]["parameters"]) == ("prepaid_credit_purchase", {})


def test_integers_are_integers_and_fractions_exact(world: World) -> None:
    january = get(world, PREFIX)["invoices"][1]
    text = world.client.get(january["line_items_path"], headers={TS_HEADER: world.own}).text
    assert '"unit_price_cents":0.23148,"quantity":2880,"price_cents":667,' in text
    assert '"amount_cents":10000,' in text
    assert '"invoice_date":1772668800,' in text


def test_pages(world: World) -> None:
    first = get(world, PREFIX, page=1, per_page=1)
    second = get(world, PREFIX, page=2, per_page=1)
    third = get(world, PREFIX, page=3, per_page=1)
    everything = get(world, PREFIX, per_page=MAX_PER_PAGE)
    assert [first["total"], second["total"], third["total"], everything["total"]] == [2, 2, 2, 2]
    assert first["invoices"] + second["invoices"] == everything["invoices"]
    assert third["invoices"] == []
    far = get(world, PREFIX, page="1" + "0" * 25, per_page="01")
    assert (far["page"], far["per_page"], far["invoices"]) == (10**25, 1, [])


def test_beta_lists_only_its_own(world: World) -> None:
    listing = get(world, PREFIX, key=world.other)
    assert [i["number"] for i in listing["invoices"]] == [4, 3]
    assert {i["account"]["owner_name"] for i in listing["invoices"]} == {"Beta Search"}


# --- changes: payments, void, late usage ---------------------------------------------------


def _invoice_ids(world: World) -> tuple[str, str]:
    february, january = get(world, PREFIX)["invoices"]
    return january["id"], february["id"]


def test_payments_and_void(fresh: World) -> None:
    january, february = _invoice_ids(fresh)
    moment = datetime(2026, 3, 6, tzinfo=UTC)
    with fresh.database.transaction() as session:
        record_payment(session, january, amount=D("40.00"), now=moment)
        void_invoice(session, february, now=moment)
    listing = get(fresh, PREFIX)
    assert [
        (i["number"], i["status"], i["amount_cents"], i["payment"]) for i in listing["invoices"]
    ] == [
        # Void: its credits went back to the grant; the snapshot is the one taken at close.
        (
            2,
            "void",
            19000,
            {
                "paid_via_card_cents": 0,
                "paid_via_credits_cents": 0,
                "credit_balance_snapshot_cents": 0,
            },
        ),
        # amount_cents = paid_via_card_cents + paid_via_credits_cents once paid.
        (
            1,
            "paid",
            10000,
            {
                "paid_via_card_cents": 4000,
                "paid_via_credits_cents": 6000,
                "credit_balance_snapshot_cents": 0,
            },
        ),
    ]
    # WarpStream shows finalized, non-void periods only.
    response = fresh.client.post(
        "/api/v1/billing/invoices/get_past_invoice",
        json={"date_start": "2026-02-10"},
        headers={WS_HEADER: fresh.own},
    )
    assert error_code(response, 404) == "not_found"


def test_a_credit_note_is_paid_via_credits(fresh: World) -> None:
    """January: subtotal 100.00, credits 60.00, total 40.00. A payment of 30.00 and a credit
    note of 10.00 pay it: card 3000, credits 6000 + 1000 = 7000 cents, 10000 in all."""
    january, _ = _invoice_ids(fresh)
    moment = datetime(2026, 3, 6, tzinfo=UTC)
    with fresh.database.transaction() as session:
        record_payment(session, january, amount=D("30.00"), now=moment)
        issue_credit_note(session, january, amount=D("10"), reason="r", at=moment, now=moment)
    listing = get(fresh, PREFIX)
    paid = next(i for i in listing["invoices"] if i["id"] == january)
    assert (paid["status"], paid["amount_cents"]) == ("paid", 10000)
    assert paid["payment"]["paid_via_card_cents"] == 3000
    assert paid["payment"]["paid_via_credits_cents"] == 7000


def test_late_usage_shows_as_corrections(fresh: World) -> None:
    """10 more GiB on vci_a1 on 2026-01-20, after January was issued: January re-rated is
    tier 2 30 GiB = 1.50 (billed 1.00) and a true-up of 100 - 39.27 = 60.73 (billed 61.23),
    so March carries +0.50 for 10 GiB and -0.50 with quantity 0. March: 0.07 + 20.00 +
    79.93 + 0.50 - 0.50 = 100.00."""
    late = {
        "transaction_id": "late-1",
        "customer_id": ALPHA,
        "event_type": "produce",
        "timestamp": "2026-01-20T12:00:00Z",
        "properties": {"cluster_id": "vci_a1", "gib": 10},
    }
    ingest(fresh.database, [late], now=SMALL_CLOCK)
    with fresh.database.transaction() as session:
        issued = close_periods(session, as_of=datetime(2026, 4, 2, tzinfo=UTC)).issued
    assert [(v.customer.id, v.number) for v in issued] == [(ALPHA, 5)]
    march = get(fresh, PREFIX)["invoices"][0]
    assert (march["number"], march["amount_cents"], march["status"]) == (5, 10000, "due")
    items = get(fresh, march["line_items_path"])["line_items"]
    assert [
        (i["description"], i["unit_price_cents"], i["quantity"], i["price_cents"]) for i in items
    ] == [
        ("Cluster minutes", D("0.23148"), 30, 7),
        ("Support - Premium", 2000, 1, 2000),
        ("Minimum spend true-up", 7993, 1, 7993),
        ("Written -- vci_a1 (late usage, 2026-01-01)", 5, 10, 50),
        ("Minimum spend true-up (late usage, 2026-01-01)", -50, 0, -50),
    ]
    assert items[3]["parameters"] == A1
    # The same invoice through WarpStream: the correction sits on its cluster.
    warp = fresh.client.post(
        "/api/v1/billing/invoices/get_past_invoice",
        json={"date_start": "2026-03-31"},
        headers={WS_HEADER: fresh.own},
    )
    document = exact(warp)
    (cluster,) = document["tenants"][0]["workspaces"][0]["clusters"]
    assert [(c["product"], c["quantity"], c["total"]) for c in cluster["charges"]] == [
        ("Cluster minutes", 30, D("0.07")),
        ("Uncompressed GiB written - Tier 2 (late usage, 2026-01-01)", 10, D("0.50")),
    ]
    assert document["total"] == D("100.00")
    # January's breakdown shows the late event on its own day.
    days = fresh.client.post(
        "/api/v1/billing/invoices/get_invoice_breakdowns",
        json={"date_start": "2026-01-20", "date_end": "2026-01-21"},
        headers={WS_HEADER: fresh.own},
    )
    (a1,) = exact(days)["tenants"][0]["workspaces"][0]["clusters"]
    assert a1["charges"] == [
        {
            "product": "Uncompressed GiB written - Tier 2",
            "unit_price": D("0.05"),
            "breakdowns": [
                {
                    "date_from": "2026-01-20",
                    "date_to": "2026-01-21",
                    "quantity": 10,
                    "total": D("0.50"),
                }
            ],
        }
    ]


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PREFIX, f"{PREFIX}/{{invoice}}"])
def test_missing_bad_and_admin_keys_are_403(world: World, path: str) -> None:
    url = path.replace("{invoice}", _invoice_ids(world)[0])
    for headers, params in (
        ({}, {}),
        ({TS_HEADER: ""}, {}),
        ({TS_HEADER: "not-a-key"}, {}),
        ({}, {TS_HEADER: "not-a-key"}),
        ({TS_HEADER: world.revoked}, {}),
        ({TS_HEADER: world.admin}, {}),
        ({}, {TS_HEADER: world.admin}),
        ({"Authorization": f"Bearer {world.own}"}, {}),
        ({WS_HEADER: world.own}, {}),
    ):
        response = world.client.get(url, headers=headers, params=params)
        assert error_code(response, 403) == "forbidden"
        assert ALPHA_NAME not in response.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"per_page": "51"}, "per_page must be at most 50, got 51"),
        ({"per_page": "1000000"}, "per_page must be at most 50"),
        ({"per_page": "0"}, "per_page must be a positive integer"),
        ({"per_page": "-1"}, "per_page must be a positive integer"),
        ({"per_page": "ten"}, "per_page must be a positive integer"),
        ({"per_page": ""}, "per_page must be a positive integer"),
        ({"page": "0"}, "page must be a positive integer"),
        ({"page": "-2"}, "page must be a positive integer"),
        ({"page": "1.5"}, "page must be a positive integer"),
        ({"page": "abc"}, "page must be a positive integer"),
        ({"page": "+1"}, "page must be a positive integer"),
        ({"page": "١"}, "page must be a positive integer"),  # an Arabic-Indic digit one
        ({"page": "9" * 31}, "page must be a positive integer"),
    ],
)
def test_bad_pages_are_400(world: World, params: dict[str, str], message: str) -> None:
    response = world.client.get(PREFIX, params=params, headers={TS_HEADER: world.own})
    assert error_code(response, 400) == "invalid_request"
    assert message in response.json()["error"]["message"]


def test_unknown_foreign_and_draft_invoices_are_404(world: World) -> None:
    from meterbill.services.invoicing import customer_invoices

    with world.database.transaction() as session:
        views = customer_invoices(session, ALPHA, as_of=world.clock)
    (draft,) = [v.id for v in views if v.status == "draft"]
    beta_invoice = get(world, PREFIX, key=world.other)["invoices"][0]["id"]
    for invoice in (
        "inv_abc123def456",
        "00000000-0000-5000-8000-000000000000",
        draft,
        beta_invoice,
        "%2e%2e",
    ):
        response = world.client.get(f"{PREFIX}/{invoice}", headers={TS_HEADER: world.own})
        assert error_code(response, 404) == "not_found"
        assert response.json()["error"]["message"].endswith("not found")
        assert "Beta Search" not in response.text
