"""Issue 7 through the native API: no overpayment, reads never follow a stored clock, and
``as_of`` is bounded.

The ``billed`` story (tests/api/support.py) at the clock 2026-03-05: alpha's January (32.50)
and February (80.00) are issued, March is a live draft.
"""

from datetime import UTC, datetime

from meterbill.db.database import Database
from meterbill.services.invoicing import close_periods
from tests.api.support import ALPHA, Billed, Keys, TestClient, error_of, invoices_of, json_object

JAN, FEB, MAR = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"


def test_a_payment_above_the_amount_due_is_refused(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    refused = client.post(
        f"/v1/invoices/{billed.alpha_jan}/payments",
        json={"amount": "999999.00"},
        headers=keys.admin,
    )
    error = error_of(refused, 422)
    assert error["code"] == "out_of_range"
    assert "above the amount due, 32.50 USD" in error["message"]
    # Nothing was recorded; paying exactly what is due (in two steps) is accepted.
    invoice = client.get(f"/v1/invoices/{billed.alpha_jan}", headers=keys.admin)
    assert json_object(invoice)["data"]["payments"] == "0.00"
    first = client.post(
        f"/v1/invoices/{billed.alpha_jan}/payments", json={"amount": "30.00"}, headers=keys.admin
    )
    assert first.status_code == 200, first.text
    over = client.post(
        f"/v1/invoices/{billed.alpha_jan}/payments", json={"amount": "2.51"}, headers=keys.admin
    )
    assert "above the amount due, 2.50 USD" in error_of(over, 422)["message"]
    rest = client.post(
        f"/v1/invoices/{billed.alpha_jan}/payments", json={"amount": "2.50"}, headers=keys.admin
    )
    assert json_object(rest)["data"]["status"] == "paid"


def test_reads_default_to_now_not_to_the_last_close(
    database: Database, client: TestClient, keys: Keys, billed: Billed
) -> None:
    # A close "as of" mid-January (earlier than the clock, 2026-03-05) must not move reads.
    with database.transaction() as session:
        assert close_periods(session, as_of=datetime(2026, 1, 15, tzinfo=UTC)).issued == []
    listed = invoices_of(client, keys.admin, ALPHA)
    assert [(i["period_start"], i["status"]) for i in listed] == [
        (JAN, "issued"),
        (FEB, "issued"),
        (MAR, "draft"),
    ]
    # An explicit as_of still shows the state then.
    earlier = invoices_of(client, keys.admin, ALPHA, as_of="2026-02-15T00:00:00Z")
    assert [i["period_start"] for i in earlier] == [JAN, FEB]


def test_as_of_may_look_at_most_366_days_ahead(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    url = f"/v1/customers/{ALPHA}/invoices"
    far = client.get(url, params={"as_of": "2099-12-01T00:00:00Z"}, headers=keys.alpha)
    error = error_of(far, 422)
    assert error["code"] == "out_of_range"
    assert "as_of 2099-12-01T00:00:00Z is too far ahead" in error["message"]
    assert "2027-03-06T00:00:00Z" in error["message"]
    # The limit itself is accepted: 366 days after the clock.
    edge = client.get(url, params={"as_of": "2027-03-06T00:00:00Z"}, headers=keys.alpha)
    assert edge.status_code == 200, edge.text
    assert len(json_object(edge)["data"]) == 15  # January 2026 … March 2027
    for path in (
        f"/v1/invoices/{billed.alpha_mar}",
        f"/v1/customers/{ALPHA}/credits",
        f"/v1/customers/{ALPHA}/breakdowns",
    ):
        params = {"as_of": "2030-01-01T00:00:00Z"}
        if path.endswith("breakdowns"):
            params |= {"starting_on": JAN, "ending_before": MAR}
        answer = client.get(path, params=params, headers=keys.admin)
        assert error_of(answer, 422)["code"] == "out_of_range", path
