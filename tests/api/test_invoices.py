"""Invoices: listing with filters and cursors, one invoice, ``as_of``, void and payments.

The ``billed`` story (tests/api/support.py) at the clock 2026-03-05: alpha's January and
February are issued, March is a live draft.
"""

from typing import Any

from tests.api.support import (
    ALPHA,
    BETA,
    FIXED_TEXT,
    STANDARD_EVENTS,
    Billed,
    Keys,
    TestClient,
    error_of,
    ingest,
    invoice_for,
    invoices_of,
    json_list,
    json_object,
    line_figures,
    walk_pages,
)

JAN, FEB, MAR = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"
APR = "2026-04-01T00:00:00Z"


def get_invoice(client: TestClient, keys: Keys, invoice_id: str, **params: str) -> Any:
    response = client.get(f"/v1/invoices/{invoice_id}", params=params, headers=keys.admin)
    assert response.status_code == 200, response.text
    return json_object(response)["data"]


def pay(client: TestClient, keys: Keys, invoice_id: str, amount: object) -> Any:
    return client.post(
        f"/v1/invoices/{invoice_id}/payments", json={"amount": amount}, headers=keys.admin
    )


def summary(invoice: dict[str, Any]) -> tuple[object, ...]:
    return (
        invoice["period_start"],
        invoice["status"],
        invoice["subtotal"],
        invoice["credits_applied"],
        invoice["total"],
        invoice["payments"],
        invoice["amount_due"],
    )


def test_alphas_invoices_hold_the_hand_computed_figures(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    jan, feb, mar = invoices_of(client, keys.admin, ALPHA)
    assert [summary(i) for i in (jan, feb, mar)] == [
        (JAN, "issued", "62.50", "30.00", "32.50", "0.00", "32.50"),
        (FEB, "issued", "137.00", "57.00", "80.00", "0.00", "80.00"),
        (MAR, "draft", "51.50", "43.00", "8.50", "0.00", "8.50"),
    ]
    assert [i["id"] for i in (jan, feb, mar)] == [
        billed.alpha_jan,
        billed.alpha_feb,
        billed.alpha_mar,
    ]
    assert line_figures(jan) == {
        ("Data written - Tier 1", "cluster_id=c1"): ("100", "10.00"),
        ("Data written - Tier 2", "cluster_id=c1"): ("30", "1.50"),
        ("API calls", ""): ("4", "1.00"),
        ("Support", ""): ("1", "50.00"),
    }
    assert line_figures(feb) == {
        ("Data written - Tier 1", "cluster_id=c1"): ("40", "4.00"),
        ("Storage", ""): ("1.5", "3.00"),
        ("Support", ""): ("1", "50.00"),
        ("Prepaid credit purchase", ""): ("1", "80.00"),
    }
    assert line_figures(mar) == {
        ("Data written - Tier 1", "cluster_id=c1"): ("10", "1.00"),
        ("Data written - Tier 1", "cluster_id=c2"): ("5", "0.50"),
        ("Support", ""): ("1", "50.00"),
    }
    assert jan["credits"] == [{"credit": "welcome", "kind": "free", "amount": "30.00"}]
    assert feb["credits"] == [{"credit": "prepay", "kind": "prepaid", "amount": "57.00"}]
    assert mar["credits"] == [{"credit": "prepay", "kind": "prepaid", "amount": "43.00"}]
    assert (feb["credit_balance_after"], mar["credit_balance_after"]) == ("43.00", "0.00")
    assert (jan["issued_at"], feb["issued_at"], mar["issued_at"]) == (FIXED_TEXT, FIXED_TEXT, None)
    assert (jan["period_end"], feb["period_end"], mar["period_end"]) == (FEB, MAR, APR)
    assert {i["customer_id"] for i in (jan, feb, mar)} == {ALPHA}
    assert mar["number"] is None
    beta = invoices_of(client, keys.admin, BETA)
    assert [summary(i) for i in beta] == [
        (JAN, "issued", "50.50", "10.00", "40.50", "0.00", "40.50"),
        (FEB, "issued", "50.00", "0.00", "50.00", "0.00", "50.00"),
        (MAR, "draft", "50.00", "0.00", "50.00", "0.00", "50.00"),
    ]
    # One gap-free sequence for the installation, in period order per customer.
    numbers = [jan["number"], feb["number"], beta[0]["number"], beta[1]["number"]]
    assert sorted(numbers) == [1, 2, 3, 4]
    assert jan["number"] < feb["number"]
    assert beta[0]["number"] < beta[1]["number"]


FILTERS: list[tuple[dict[str, str | list[str]], list[str]]] = [
    ({"status": ["issued"]}, [JAN, FEB]),
    ({"status": ["draft"]}, [MAR]),
    ({"status": ["draft", "issued"]}, [JAN, FEB, MAR]),
    ({"status": ["paid", "void"]}, []),
    ({"period_start_from": FEB}, [FEB, MAR]),
    ({"period_start_before": FEB}, [JAN]),
    ({"period_start_from": FEB, "period_start_before": MAR}, [FEB]),
    ({"period_start_from": "2026-02-01T01:00:00+01:00"}, [FEB, MAR]),
    ({"period_start_from": "2026-02-01T00:00:00.000001Z"}, [MAR]),
    ({"period_start_before": "2026-01-01T00:00:00.000001Z"}, [JAN]),
    ({"status": ["issued"], "period_start_from": FEB}, [FEB]),
]


def test_status_and_period_filters(client: TestClient, keys: Keys, billed: Billed) -> None:
    found = []
    for params, _ in FILTERS:
        response = client.get(f"/v1/customers/{ALPHA}/invoices", params=params, headers=keys.admin)
        assert response.status_code == 200, response.text
        found.append([i["period_start"] for i in json_list(json_object(response)["data"])])
    assert found == [periods for _, periods in FILTERS]


def test_a_cursor_walk_collects_every_invoice_once(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    items, pages = walk_pages(client, f"/v1/customers/{ALPHA}/invoices", keys.admin, {"limit": 1})
    assert pages == 3
    assert [i["id"] for i in items] == [billed.alpha_jan, billed.alpha_feb, billed.alpha_mar]
    two, pages = walk_pages(client, f"/v1/customers/{ALPHA}/invoices", keys.admin, {"limit": 2})
    assert (pages, [i["id"] for i in two]) == (2, [i["id"] for i in items])
    filtered, pages = walk_pages(
        client, f"/v1/customers/{ALPHA}/invoices", keys.admin, {"limit": 1, "status": "issued"}
    )
    assert (pages, [i["id"] for i in filtered]) == (2, [billed.alpha_jan, billed.alpha_feb])
    customers, pages = walk_pages(client, "/v1/customers", keys.admin, {"limit": 1})
    assert (pages, [c["id"] for c in customers]) == (2, [ALPHA, BETA])


def test_one_invoice_is_the_listed_one_at_any_as_of(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    listed = invoices_of(client, keys.admin, ALPHA)
    for invoice in listed:
        assert get_invoice(client, keys, invoice["id"]) == invoice
    own = client.get(f"/v1/invoices/{billed.alpha_mar}", headers=keys.alpha)
    assert json_object(own)["data"] == listed[2]
    # An issued invoice stays what it is whatever as_of asks; later drafts do not exist yet.
    early = invoices_of(client, keys.admin, ALPHA, as_of="2026-01-15T00:00:00Z")
    assert early == listed[:2]
    assert get_invoice(client, keys, billed.alpha_jan, as_of="2026-01-15T00:00:00Z") == early[0]


def test_as_of_shows_the_drafts_of_that_time(client: TestClient, keys: Keys) -> None:
    ingest(client, keys.admin, STANDARD_EVENTS)
    assert [i["period_start"] for i in invoices_of(client, keys.admin, ALPHA)] == [JAN, FEB, MAR]
    mid_january = invoices_of(client, keys.admin, ALPHA, as_of="2026-01-15T00:00:00Z")
    assert [summary(i) for i in mid_january] == [
        (JAN, "draft", "62.50", "30.00", "32.50", "0.00", "32.50")
    ]
    # A period has started at its first instant.
    at_february = invoices_of(client, keys.admin, ALPHA, as_of=FEB)
    assert [i["period_start"] for i in at_february] == [JAN, FEB]
    march_id = invoices_of(client, keys.admin, ALPHA)[2]["id"]
    early = client.get(
        f"/v1/invoices/{march_id}", params={"as_of": "2026-02-15T00:00:00Z"}, headers=keys.admin
    )
    assert error_of(early, 404)["code"] == "not_found"
    assert get_invoice(client, keys, march_id, as_of=MAR)["subtotal"] == "51.50"
    assert invoices_of(client, keys.admin, ALPHA, as_of="2025-12-31T23:59:59Z") == []


def test_void_an_issued_unpaid_invoice_but_not_a_draft(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    response = client.post(f"/v1/invoices/{billed.alpha_feb}/void", headers=keys.admin)
    assert response.status_code == 200, response.text
    voided = json_object(response)["data"]
    assert (voided["status"], voided["voided_at"], voided["amount_due"]) == (
        "void",
        FIXED_TEXT,
        "0.00",
    )
    assert get_invoice(client, keys, billed.alpha_feb)["status"] == "void"
    # February returns to draft (spec 5.6): the draft replacing #N draws the 57.00 of credit
    # the void gave back, so March's draft is unchanged.
    listed = invoices_of(client, keys.admin, ALPHA)
    assert [(i["period_start"], i["status"], i["replaces"]) for i in listed] == [
        (JAN, "issued", None),
        (FEB, "void", None),
        (FEB, "draft", voided["number"]),
        (MAR, "draft", None),
    ]
    assert listed[2]["id"] != billed.alpha_feb
    assert summary(listed[2]) == (FEB, "draft", "137.00", "57.00", "80.00", "0.00", "80.00")
    march = invoice_for(client, keys.admin, ALPHA, MAR)
    assert (march["credits_applied"], march["total"]) == ("43.00", "8.50")
    again = client.post(f"/v1/invoices/{billed.alpha_feb}/void", headers=keys.admin)
    assert error_of(again, 409)["code"] == "conflict"
    assert error_of(pay(client, keys, billed.alpha_feb, "1.00"), 409)["code"] == "conflict"
    # The credits endpoint agrees: no issued invoice used prepay; the drafts will.
    response = client.get(f"/v1/customers/{ALPHA}/credits", headers=keys.admin)
    prepay = json_list(json_object(response)["data"])[1]
    assert prepay["used"] == "0.00"
    # A draft is not an invoice one can void or pay: as if missing.
    void = client.post(f"/v1/invoices/{billed.alpha_mar}/void", headers=keys.admin)
    assert error_of(void, 404)["code"] == "not_found"
    assert error_of(pay(client, keys, billed.alpha_mar, "1.00"), 404)["code"] == "not_found"
    assert get_invoice(client, keys, billed.alpha_mar)["status"] == "draft"


def test_payments_partial_then_complete(client: TestClient, keys: Keys, billed: Billed) -> None:
    first = pay(client, keys, billed.alpha_jan, "10.50")
    assert first.status_code == 200, first.text
    partial = json_object(first)["data"]
    assert (partial["status"], partial["payments"], partial["amount_due"], partial["paid_at"]) == (
        "issued",
        "10.50",
        "22.00",
        None,
    )
    rest = pay(client, keys, billed.alpha_jan, "22.00")
    assert rest.status_code == 200, rest.text
    paid = json_object(rest)["data"]
    assert (paid["status"], paid["payments"], paid["amount_due"], paid["paid_at"]) == (
        "paid",
        "32.50",
        "0.00",
        FIXED_TEXT,
    )
    assert get_invoice(client, keys, billed.alpha_jan) == paid
    # A paid invoice takes no more payments and cannot be voided.
    assert error_of(pay(client, keys, billed.alpha_jan, "1.00"), 409)["code"] == "conflict"
    void = client.post(f"/v1/invoices/{billed.alpha_jan}/void", headers=keys.admin)
    assert error_of(void, 409)["code"] == "conflict"
    listed = invoices_of(client, keys.admin, ALPHA, status="paid")
    assert [i["id"] for i in listed] == [billed.alpha_jan]
    # Nor can a partly paid one be voided.
    assert pay(client, keys, billed.alpha_feb, "0.01").status_code == 200
    void = client.post(f"/v1/invoices/{billed.alpha_feb}/void", headers=keys.admin)
    assert error_of(void, 409)["code"] == "conflict"
    assert get_invoice(client, keys, billed.alpha_feb)["amount_due"] == "79.99"


BAD_AMOUNTS: list[object] = [
    "abc",
    "",
    "-1",
    "0",
    "0.00",
    "1.001",
    "NaN",
    "Infinity",
    "1_0",
    "1e999999999",
    "9" * 20,
    "9" * 32,
    "1000000000000.01",
    12.5,
    None,
    ["1"],
]


def test_bad_payment_amounts_are_a_400(client: TestClient, keys: Keys, billed: Billed) -> None:
    problems = []
    for amount in BAD_AMOUNTS:
        response = pay(client, keys, billed.alpha_jan, amount)
        if response.status_code != 400:
            problems.append(f"{amount!r}: {response.status_code} {response.text}")
        else:
            error_of(response, 400)
    missing = client.post(f"/v1/invoices/{billed.alpha_jan}/payments", json={}, headers=keys.admin)
    assert error_of(missing, 400)["code"] == "invalid_request"
    assert problems == []
    assert get_invoice(client, keys, billed.alpha_jan)["payments"] == "0.00"


def credit_note(client: TestClient, keys: Keys, invoice_id: str, amount: str, **extra: str) -> Any:
    return client.post(
        f"/v1/invoices/{invoice_id}/credit_notes",
        json={"amount": amount, "reason": "goodwill", **extra},
        headers=keys.admin,
    )


def test_credit_notes_reduce_the_amount_due_then_become_a_grant(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    # January: total 32.50 unpaid. 10.00 comes off the amount due.
    response = credit_note(client, keys, billed.alpha_jan, "10")
    assert response.status_code == 201, response.text
    first = json_object(response)["data"]
    assert (first["number"], first["off_due"], first["granted"], first["grant"]) == (
        1,
        "10.00",
        "0.00",
        None,
    )
    jan = get_invoice(client, keys, billed.alpha_jan)
    assert (jan["status"], jan["credit_notes"], jan["amount_due"], jan["tax"]) == (
        "issued",
        "10.00",
        "22.50",
        "0.00",
    )
    assert pay(client, keys, billed.alpha_jan, "22.5").status_code == 200
    # Refused: above what the invoice still allows (32.50 - 10), 0, on a draft; no number.
    above = credit_note(client, keys, billed.alpha_jan, "22.51")
    assert "above what the invoice still allows, 22.50 USD" in error_of(above, 422)["message"]
    assert error_of(credit_note(client, keys, billed.alpha_jan, "0"), 422)["code"]
    assert error_of(credit_note(client, keys, billed.alpha_mar, "1"), 404)["code"] == "not_found"
    customer = client.post(
        f"/v1/invoices/{billed.alpha_jan}/credit_notes",
        json={"amount": "1", "reason": "r"},
        headers=keys.alpha,
    )
    assert customer.status_code == 403
    # January is paid: all of it becomes the grant credit-note-2, dated 5 March.
    response = credit_note(client, keys, billed.alpha_jan, "22.5", at="2026-03-05T00:00:00Z")
    second = json_object(response)["data"]
    assert (second["number"], second["off_due"], second["granted"], second["grant"]) == (
        2,
        "0.00",
        "22.50",
        "credit-note-2",
    )
    listed = client.get(f"/v1/invoices/{billed.alpha_jan}/credit_notes", headers=keys.admin)
    assert [n["number"] for n in json_list(json_object(listed)["data"])] == [1, 2]
    jan = get_invoice(client, keys, billed.alpha_jan)
    assert (jan["status"], jan["credit_notes"], jan["amount_due"]) == ("paid", "32.50", "0.00")
    # March's draft draws the credit-note grant first (priority 0).
    march = invoice_for(client, keys.admin, ALPHA, MAR)
    assert march["credits"][0] == {
        "credit": "credit-note-2",
        "kind": "credit_note",
        "amount": "22.50",
    }


def test_void_with_write_off_leaves_no_draft(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    response = client.post(
        f"/v1/invoices/{billed.alpha_feb}/void", json={"write_off": True}, headers=keys.admin
    )
    assert response.status_code == 200, response.text
    voided = json_object(response)["data"]
    assert (voided["status"], voided["written_off"], voided["replaced_by"]) == ("void", True, None)
    periods = [(i["period_start"], i["status"]) for i in invoices_of(client, keys.admin, ALPHA)]
    assert periods == [(JAN, "issued"), (FEB, "void"), (MAR, "draft")]
