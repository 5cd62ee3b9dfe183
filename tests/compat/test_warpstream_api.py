"""The WarpStream API on the small setup of ``conftest_wt``: whole documents computed by
hand, GET and POST, and every error case (never a 500 or a traceback).

Alpha's January (computed from the setup's prices):

* vci_a1 (ti_alpha / wi_alpha): cluster minutes 2880 x 0.0023148 = 6.666624 -> 6.67;
  written 120 GiB: tier 1 100 x 0.10 = 10.00, tier 2 20 x 0.05 = 1.00 -> cluster 17.67;
* the requests line is grouped by workspace: wi_alpha with no cluster,
  3 requests = one package of 1000 at 0.50 (unit price 0.50 / 1000 = 0.0005) -> 0.50;
  workspace and tenant 17.67 + 0.50 = 18.17;
* vci_solo has no parent: tenant and workspace null, 5 GiB at tier 1 -> 0.50;
* vci_unknown is no resource: its 1 GiB (0.10) is an account charge, with support 20.00
  and the minimum true-up 100.00 - 38.77 = 61.23 (subtotal 100.00);
* credits: commit (priority 1) pays 50.00, then free 10.00 -> total 40.00.

February: vci_a1 60 minutes = 0.138888 -> 0.14; support 20.00; minimum 100 - 20.14 = 79.86;
the prepaid purchase 90.00; the prepaid grant pays 100.00 of the 100.00 payable (never the
purchase) -> total 90.00. March (draft): 30 minutes = 0.069444 -> 0.07, support 20.00,
minimum 79.93 -> 100.00, no credit left.
"""

import re
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest

from meterbill.api.warpstream import (
    MAX_BODY_BYTES,
    MAX_BREAKDOWN_DAYS,
    PREFIX,
    plain_decimal,
)
from meterbill.services.jsonio import dumps_numbers
from tests.compat.conftest_wt import (
    ALPHA_NAME,
    BACKENDS,
    COMPAT_WARNINGS,
    TS_HEADER,
    WS_HEADER,
    World,
    compat_database_url,
    error_code,
    exact,
    small_world,
)

pytestmark = COMPAT_WARNINGS


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    with small_world(compat_database_url(request, request.param)) as loaded:
        yield loaded


def post(world: World, name: str, body: object = None, *, key: str | None = None) -> Any:
    response = world.client.post(
        f"{PREFIX}/{name}", json=body, headers={WS_HEADER: key or world.own}
    )
    assert response.status_code == 200, response.text
    return exact(response)


def charge(product: str, unit: str | int, quantity: str | int, total: str) -> dict[str, object]:
    return {"product": product, "unit_price": D(unit), "quantity": D(quantity), "total": D(total)}


def day(start: str, end: str, quantity: str | int, total: str) -> dict[str, object]:
    return {"date_from": start, "date_to": end, "quantity": D(quantity), "total": D(total)}


TIER_1 = "Uncompressed GiB written - Tier 1"
TIER_2 = "Uncompressed GiB written - Tier 2"
JANUARY: dict[str, object] = {
    "date_from": "2026-01-01",
    "date_to": "2026-02-01",
    "tenants": [
        {
            "tenant_id": "ti_alpha",
            "workspaces": [
                {
                    "workspace_id": "wi_alpha",
                    "clusters": [
                        {
                            "virtual_cluster_id": "vci_a1",
                            "charges": [
                                charge("Cluster minutes", "0.0023148", 2880, "6.67"),
                                charge(TIER_1, "0.10", 100, "10.00"),
                                charge(TIER_2, "0.05", 20, "1.00"),
                            ],
                            "total": D("17.67"),
                        },
                        {
                            "virtual_cluster_id": None,
                            "charges": [charge("Requests", "0.0005", 3, "0.50")],
                            "total": D("0.50"),
                        },
                    ],
                    "total": D("18.17"),
                }
            ],
            "total": D("18.17"),
        },
        {
            "tenant_id": None,
            "workspaces": [
                {
                    "workspace_id": None,
                    "clusters": [
                        {
                            "virtual_cluster_id": "vci_solo",
                            "charges": [charge(TIER_1, "0.10", 5, "0.50")],
                            "total": D("0.50"),
                        }
                    ],
                    "total": D("0.50"),
                }
            ],
            "total": D("0.50"),
        },
    ],
    "account_charges": [
        charge(TIER_1, "0.10", 1, "0.10"),
        charge("Support - Premium", 20, 1, "20.00"),
        charge("Minimum spend true-up", "61.23", 1, "61.23"),
        charge("Free credits", -10, 1, "-10.00"),
        charge("Commit credits", -50, 1, "-50.00"),
    ],
    "total": D("40.00"),
}


def _only_vci_a1(minutes: int, amount: str) -> list[dict[str, object]]:
    cluster = {
        "virtual_cluster_id": "vci_a1",
        "charges": [charge("Cluster minutes", "0.0023148", minutes, amount)],
        "total": D(amount),
    }
    workspace = {"workspace_id": "wi_alpha", "clusters": [cluster], "total": D(amount)}
    return [{"tenant_id": "ti_alpha", "workspaces": [workspace], "total": D(amount)}]


def test_january_by_hand(world: World) -> None:
    assert post(world, "get_past_invoice", {"date_start": "2026-01-20"}) == JANUARY


def test_february_by_hand(world: World) -> None:
    assert post(world, "get_past_invoice", {"date_start": "2026-02-28"}) == {
        "date_from": "2026-02-01",
        "date_to": "2026-03-01",
        "tenants": _only_vci_a1(60, "0.14"),
        "account_charges": [
            charge("Support - Premium", 20, 1, "20.00"),
            charge("Minimum spend true-up", "79.86", 1, "79.86"),
            charge("Prepaid credit purchase", 90, 1, "90.00"),
            charge("Prepaid credits", -100, 1, "-100.00"),
        ],
        "total": D("90.00"),
    }


def test_the_pending_invoice_is_the_march_draft(world: World) -> None:
    expected = {
        "date_from": "2026-03-01",
        "date_to": "2026-04-01",
        "tenants": _only_vci_a1(30, "0.07"),
        "account_charges": [
            charge("Support - Premium", 20, 1, "20.00"),
            charge("Minimum spend true-up", "79.93", 1, "79.93"),
        ],
        "total": D("100.00"),
    }
    assert post(world, "get_pending_invoice") == expected
    assert post(world, "get_pending_invoice", {}) == expected
    assert post(world, "get_pending_invoice", {"ignored": True}) == expected


def test_get_with_a_body_answers_like_post(world: World) -> None:
    for name, body in (
        ("get_pending_invoice", None),
        ("get_past_invoice", {"date_start": "2026-01-01"}),
        ("get_invoice_breakdowns", {"date_start": "2026-01-01", "date_end": "2026-01-03"}),
    ):
        got = world.client.request(
            "GET", f"{PREFIX}/{name}", json=body, headers={WS_HEADER: world.own}
        )
        assert got.status_code == 200, got.text
        assert exact(got) == post(world, name, body)
    # A body sent as text/plain (curl -d without a header) is read the same way.
    plain = world.client.post(
        f"{PREFIX}/get_past_invoice",
        content=b'{"date_start": "2026-01-31"}',
        headers={WS_HEADER: world.own, "Content-Type": "text/plain"},
    )
    assert exact(plain) == JANUARY


def test_money_is_written_as_exact_numbers(world: World) -> None:
    text = world.client.post(
        f"{PREFIX}/get_past_invoice",
        json={"date_start": "2026-01-01"},
        headers={WS_HEADER: world.own},
    ).text
    assert '"unit_price":0.0023148,"quantity":2880,"total":6.67}' in text
    assert '"unit_price":0.1,"quantity":100,"total":10.00}' in text
    assert '"product":"Commit credits","unit_price":-50,"quantity":1,"total":-50.00}' in text
    assert text.endswith('"total":40.00}')
    assert re.search(r"\d[eE][+-]?\d", text) is None  # never an exponent


def test_breakdowns_by_hand(world: World) -> None:
    """January 1 and 2. Each line's rounded amount is split over the month's 31 windows by
    largest remainder: cluster minutes 6.67 = 3.333312 + 3.333312 exact -> 3.34 + 3.33 (the
    tie goes to the earlier day); written 80 GiB then 40 (20 in tier 1, 20 in tier 2);
    support 20.00 / 31 = 0.645.. -> the first 16 days 0.65; the true-up 61.23 / 31 ->
    the first 16 days 1.98. vci_solo, vci_unknown and the requests have no usage before
    January 3, so they are absent."""
    body = {"date_start": "2026-01-01", "date_end": "2026-01-03"}
    assert post(world, "get_invoice_breakdowns", body) == {
        "date_from": "2026-01-01",
        "date_to": "2026-01-03",
        "tenants": [
            {
                "tenant_id": "ti_alpha",
                "workspaces": [
                    {
                        "workspace_id": "wi_alpha",
                        "workspace_name": "prod",
                        "clusters": [
                            {
                                "virtual_cluster_id": "vci_a1",
                                "cluster_name": "vcn_a1",
                                "cluster_regions": ["us-east-1"],
                                "charges": [
                                    {
                                        "product": "Cluster minutes",
                                        "unit_price": D("0.0023148"),
                                        "breakdowns": [
                                            day("2026-01-01", "2026-01-02", 1440, "3.34"),
                                            day("2026-01-02", "2026-01-03", 1440, "3.33"),
                                        ],
                                    },
                                    {
                                        "product": TIER_1,
                                        "unit_price": D("0.1"),
                                        "breakdowns": [
                                            day("2026-01-01", "2026-01-02", 80, "8.00"),
                                            day("2026-01-02", "2026-01-03", 20, "2.00"),
                                        ],
                                    },
                                    {
                                        "product": TIER_2,
                                        "unit_price": D("0.05"),
                                        "breakdowns": [day("2026-01-02", "2026-01-03", 20, "1.00")],
                                    },
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
        "account_charges": [
            {
                "product": "Support - Premium",
                "unit_price": 20,
                "breakdowns": [
                    day("2026-01-01", "2026-01-02", 1, "0.65"),
                    day("2026-01-02", "2026-01-03", 1, "0.65"),
                ],
            },
            {
                "product": "Minimum spend true-up",
                "unit_price": D("61.23"),
                "breakdowns": [
                    day("2026-01-01", "2026-01-02", 1, "1.98"),
                    day("2026-01-02", "2026-01-03", 1, "1.98"),
                ],
            },
        ],
    }


def test_breakdowns_across_two_invoices_by_hand(world: World) -> None:
    """January 31 and February 1: support keeps one charge (same name and unit price):
    0.64 (January's 17th-31st days) then 20.00 / 28 -> the first 12 days 0.72; the two
    true-ups differ in unit price (61.23, 79.86 / 28 -> the first 6 days 2.86); the purchase
    90.00 / 28 -> the first 12 days 3.22. No usage on either day."""
    body = {"date_start": "2026-01-31", "date_end": "2026-02-02"}
    assert post(world, "get_invoice_breakdowns", body) == {
        "date_from": "2026-01-31",
        "date_to": "2026-02-02",
        "tenants": [],
        "account_charges": [
            {
                "product": "Support - Premium",
                "unit_price": 20,
                "breakdowns": [
                    day("2026-01-31", "2026-02-01", 1, "0.64"),
                    day("2026-02-01", "2026-02-02", 1, "0.72"),
                ],
            },
            {
                "product": "Minimum spend true-up",
                "unit_price": D("61.23"),
                "breakdowns": [day("2026-01-31", "2026-02-01", 1, "1.97")],
            },
            {
                "product": "Minimum spend true-up",
                "unit_price": D("79.86"),
                "breakdowns": [day("2026-02-01", "2026-02-02", 1, "2.86")],
            },
            {
                "product": "Prepaid credit purchase",
                "unit_price": 90,
                "breakdowns": [day("2026-02-01", "2026-02-02", 1, "3.22")],
            },
        ],
    }


def test_breakdowns_of_a_whole_month_add_up_to_its_lines(world: World) -> None:
    document = post(
        world, "get_invoice_breakdowns", {"date_start": "2026-01-01", "date_end": "2026-02-01"}
    )
    per_product: dict[tuple[str | None, str, D], D] = {}
    for tenant in document["tenants"]:
        for workspace in tenant["workspaces"]:
            for cluster in workspace["clusters"]:
                for item in cluster["charges"]:
                    key = (cluster["virtual_cluster_id"], item["product"], D(item["unit_price"]))
                    per_product[key] = sum((d["total"] for d in item["breakdowns"]), D(0))
    for item in document["account_charges"]:
        key = (None, item["product"], D(item["unit_price"]))
        per_product[key] = sum((d["total"] for d in item["breakdowns"]), D(0))
    invoice: dict[tuple[str | None, str, D], D] = {}
    for tenant in JANUARY["tenants"]:  # type: ignore[attr-defined]
        for workspace in tenant["workspaces"]:
            for cluster in workspace["clusters"]:
                for item in cluster["charges"]:
                    invoice[
                        (cluster["virtual_cluster_id"], item["product"], item["unit_price"])
                    ] = item["total"]
    for item in JANUARY["account_charges"]:  # type: ignore[attr-defined]
        if not str(item["product"]).endswith(" credits"):
            invoice[(None, item["product"], item["unit_price"])] = item["total"]
    assert per_product == invoice
    assert sum(per_product.values(), D(0)) == D("100.00")


def test_an_empty_range_is_empty(world: World) -> None:
    body = {"date_start": "2026-01-10", "date_end": "2026-01-10"}
    assert post(world, "get_invoice_breakdowns", body) == {
        "date_from": "2026-01-10",
        "date_to": "2026-01-10",
        "tenants": [],
        "account_charges": [],
    }


def test_another_account_sees_its_own_invoice(world: World) -> None:
    """Beta: 15 minutes = 0.034722 -> 0.03 on vci_beta (no tenant, no workspace); support
    20.00, true-up 79.97; no credit -> 100.00."""
    assert post(world, "get_past_invoice", {"date_start": "2026-01-01"}, key=world.other) == {
        "date_from": "2026-01-01",
        "date_to": "2026-02-01",
        "tenants": [
            {
                "tenant_id": None,
                "workspaces": [
                    {
                        "workspace_id": None,
                        "clusters": [
                            {
                                "virtual_cluster_id": "vci_beta",
                                "charges": [charge("Cluster minutes", "0.0023148", 15, "0.03")],
                                "total": D("0.03"),
                            }
                        ],
                        "total": D("0.03"),
                    }
                ],
                "total": D("0.03"),
            }
        ],
        "account_charges": [
            charge("Support - Premium", 20, 1, "20.00"),
            charge("Minimum spend true-up", "79.97", 1, "79.97"),
        ],
        "total": D("100.00"),
    }


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["get_pending_invoice", "get_past_invoice", "get_invoice_breakdowns"]
)
def test_missing_bad_and_admin_keys_are_401(world: World, name: str) -> None:
    body = {"date_start": "2026-01-01", "date_end": "2026-01-02"}
    for headers in (
        {},
        {WS_HEADER: ""},
        {WS_HEADER: "aks_0123456789abcdef"},
        {WS_HEADER: world.revoked},
        {WS_HEADER: world.admin},
        {WS_HEADER: world.own + "x"},
        {"Authorization": f"Bearer {world.own}"},
        {TS_HEADER: world.own},
    ):
        for method in ("GET", "POST"):
            response = world.client.request(method, f"{PREFIX}/{name}", json=body, headers=headers)
            assert error_code(response, 401) == "invalid_api_key"
            assert "invalid_api_key" in response.text
            assert ALPHA_NAME not in response.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "date_start is required"),
        (None, "date_start is required"),
        ({"date_start": None}, "date_start is required"),
        ({"date_start": "2026-1-05"}, 'date_start must be a date "YYYY-MM-DD"'),
        ({"date_start": "2026-01-05T00:00:00Z"}, 'date_start must be a date "YYYY-MM-DD"'),
        ({"date_start": "20260105"}, 'date_start must be a date "YYYY-MM-DD"'),
        ({"date_start": 20260105}, 'date_start must be a date "YYYY-MM-DD"'),
        ({"date_start": ["2026-01-05"]}, 'date_start must be a date "YYYY-MM-DD"'),
        ({"date_start": "2026-02-30"}, "is not a valid calendar date"),
        ({"date_start": "2026-13-01"}, "is not a valid calendar date"),
        ({"date_start": "0000-01-01"}, "is not a valid calendar date"),
        (["2026-01-05"], "body must be a JSON object"),
        ("2026-01-05", "body must be a JSON object"),
    ],
)
def test_malformed_dates_are_400(world: World, body: object, message: str) -> None:
    response = world.client.post(
        f"{PREFIX}/get_past_invoice", json=body, headers={WS_HEADER: world.own}
    )
    assert error_code(response, 400) == "invalid_request"
    assert message in response.json()["error"]["message"]


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"date_start": NaN}', b"\xff\xfe"])
def test_a_body_that_is_not_json_is_400(world: World, raw: bytes) -> None:
    for name in ("get_pending_invoice", "get_past_invoice", "get_invoice_breakdowns"):
        response = world.client.post(
            f"{PREFIX}/{name}", content=raw, headers={WS_HEADER: world.own}
        )
        assert error_code(response, 400) == "invalid_request"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"date_start": "2026-01-02", "date_end": "2026-01-01"}, "date_end must not be before"),
        ({"date_start": "2026-01-02"}, "date_end is required"),
        ({"date_end": "2026-01-02"}, "date_start is required"),
        ({"date_start": "2026-01-02", "date_end": "2026/01/03"}, "date_end must be a date"),
        (
            {"date_start": "2025-01-01", "date_end": "2026-02-06"},
            f"at most {MAX_BREAKDOWN_DAYS} days",
        ),
        (
            {"date_start": "0001-01-01", "date_end": "9999-12-31"},
            f"at most {MAX_BREAKDOWN_DAYS} days",
        ),
    ],
)
def test_bad_breakdown_ranges_are_400(world: World, body: object, message: str) -> None:
    response = world.client.post(
        f"{PREFIX}/get_invoice_breakdowns", json=body, headers={WS_HEADER: world.own}
    )
    assert error_code(response, 400) == "invalid_request"
    assert message in response.json()["error"]["message"]


def test_the_longest_range_is_served(world: World) -> None:
    # 2025-12-01 → 2027-01-05: 31 + 365 + 4 = 400 days, the most one request may ask for.
    assert MAX_BREAKDOWN_DAYS == 400
    body = {"date_start": "2025-12-01", "date_end": "2027-01-05"}
    document = post(world, "get_invoice_breakdowns", body)
    assert document["date_to"] == "2027-01-05"


@pytest.mark.parametrize(
    "day",
    [
        "2025-12-31",  # before the subscription
        "2026-03-01",  # the March draft: not finalized
        "2026-03-05",
        "2030-01-01",
        "9999-12-31",
    ],
)
def test_no_finalized_period_is_404(world: World, day: str) -> None:
    response = world.client.post(
        f"{PREFIX}/get_past_invoice", json={"date_start": day}, headers={WS_HEADER: world.own}
    )
    assert error_code(response, 404) == "not_found"
    assert day in response.json()["error"]["message"]


def test_no_period_in_progress_is_404(world: World) -> None:
    # Beta's subscription ended on 2026-03-01: nothing accrues at the clock (2026-03-05).
    response = world.client.post(f"{PREFIX}/get_pending_invoice", headers={WS_HEADER: world.other})
    assert error_code(response, 404) == "not_found"


def test_a_body_over_the_limit_is_413(world: World) -> None:
    padding = "x" * MAX_BODY_BYTES
    response = world.client.post(
        f"{PREFIX}/get_past_invoice",
        json={"date_start": "2026-01-01", "padding": padding},
        headers={WS_HEADER: world.own},
    )
    assert error_code(response, 413) == "too_large"
    refused = world.client.post(f"{PREFIX}/get_past_invoice", json={"padding": padding})
    assert error_code(refused, 401) == "invalid_api_key"


def test_non_ascii_digits_are_not_dates(world: World) -> None:
    response = world.client.post(
        f"{PREFIX}/get_past_invoice",
        json={"date_start": "２０２６-01-05"},
        headers={WS_HEADER: world.own},
    )
    assert error_code(response, 400) == "invalid_request"


# --- the exact JSON encoder (no database) --------------------------------------------------


def test_exact_json_keeps_every_digit() -> None:
    thirty = D("1234567890.12345678901234567890")  # 30 significant digits
    assert dumps_numbers({"q": thirty}) == b'{"q":1234567890.12345678901234567890}'
    assert plain_decimal(thirty) == thirty
    assert str(plain_decimal(D("2880.000"))) == "2880"
    assert str(plain_decimal(D("1E+3"))) == "1000"
    assert str(plain_decimal(D("-0.00"))) == "0"
    assert dumps_numbers([D("-0.00"), D("0.10"), D("1E-7")]) == b"[0.00,0.10,0.0000001]"
    assert dumps_numbers({"a": None, "b": True, "c": "é\n", "d": [1, -2]}) == (
        '{"a":null,"b":true,"c":"é\\n","d":[1,-2]}'.encode()
    )


@pytest.mark.parametrize("value", [D("NaN"), D("Infinity"), {1: "x"}, object()])
def test_exact_json_refuses_what_it_cannot_write_exactly(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        dumps_numbers({"value": value})
