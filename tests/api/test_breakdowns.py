"""GET /v1/customers/{id}/breakdowns: day and hour windows that add up to the cent.

Hand-computed for alpha's January (subtotal 62.50):
* Support 50.00 over 31 days is 161.29 cents a day: 161 each and the 9 cents left to the
  first 9 days (equal remainders go to the earliest), so 1.62 on Jan 1-9, 1.61 after. Over
  744 hours it is 6.72 cents an hour: 7 cents for the first 536 hours (up to Jan 23 07:00),
  6 after.
* Data written on c1: 60 on Jan 10 01:30 (tier 1: 6.00), 70 on Jan 20 05:00 of which 40 end
  tier 1 (4.00) and 30 start tier 2 (1.50).
* API calls: two on Jan 2, one on Jan 3, one at Jan 31 23:59:59.999999 (0.25 each).
"""

from decimal import Decimal
from typing import Any

from tests.api.support import (
    ALPHA,
    Billed,
    Keys,
    TestClient,
    error_of,
    event,
    ingest,
    invoices_of,
    json_list,
    json_object,
    money,
    walk_pages,
)

URL = f"/v1/customers/{ALPHA}/breakdowns"
JANUARY = {"starting_on": "2026-01-01T00:00:00Z", "ending_before": "2026-02-01T00:00:00Z"}


def windows(client: TestClient, keys: Keys, **params: str) -> list[dict[str, Any]]:
    response = client.get(URL, params={"limit": "1000", **params}, headers=keys.admin)
    assert response.status_code == 200, response.text
    body = json_object(response)
    assert body["next_cursor"] is None
    return json_list(body["data"])


def shown(window: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(name, group, quantity, amount) of each line of a window."""
    return [
        (
            line["name"],
            ",".join(f"{k}={v}" for k, v in sorted(line["group"].items())),
            line["quantity"],
            line["amount"],
        )
        for line in json_list(window["lines"])
    ]


def total_of(items: list[dict[str, Any]]) -> Decimal:
    return sum((money(w["total"]) for w in items), Decimal(0))


def test_day_windows_of_january_with_and_without_zero_lines(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    days = windows(client, keys, window_size="day", **JANUARY)
    assert [w["start"] for w in days] == [f"2026-01-{d:02d}T00:00:00Z" for d in range(1, 32)]
    assert days[-1]["end"] == "2026-02-01T00:00:00Z"
    assert {(w["invoice_id"], w["status"]) for w in days} == {(billed.alpha_jan, "issued")}
    for window in days:
        assert money(window["total"]) == sum((money(a) for *_, a in shown(window)), Decimal(0))
    assert shown(days[0]) == [
        ("Data written - Tier 1", "cluster_id=c1", "0", "0.00"),
        ("Data written - Tier 2", "cluster_id=c1", "0", "0.00"),
        ("API calls", "", "0", "0.00"),
        ("Support", "", "1", "1.62"),
    ]
    assert shown(days[1])[2:] == [("API calls", "", "2", "0.50"), ("Support", "", "1", "1.62")]
    assert shown(days[9]) == [
        ("Data written - Tier 1", "cluster_id=c1", "60", "6.00"),
        ("Data written - Tier 2", "cluster_id=c1", "0", "0.00"),
        ("API calls", "", "0", "0.00"),
        ("Support", "", "1", "1.61"),
    ]
    assert shown(days[19])[:2] == [
        ("Data written - Tier 1", "cluster_id=c1", "40", "4.00"),
        ("Data written - Tier 2", "cluster_id=c1", "30", "1.50"),
    ]
    assert shown(days[30])[2] == ("API calls", "", "1", "0.25")
    assert [w["total"] for w in days[:3]] == ["1.62", "2.12", "1.87"]
    assert total_of(days) == Decimal("62.50")
    # Alpha's own key sees the same windows.
    own = client.get(URL, params={"window_size": "day", **JANUARY}, headers=keys.alpha)
    assert json_object(own)["data"] == days

    # Without the zero-quantity lines; a window's total is still all of its lines.
    shorter = windows(client, keys, window_size="day", skip_zero_qty_line_items="true", **JANUARY)
    assert len(shorter) == 31
    assert shown(shorter[0]) == [("Support", "", "1", "1.62")]
    assert shown(shorter[19]) == [
        ("Data written - Tier 1", "cluster_id=c1", "40", "4.00"),
        ("Data written - Tier 2", "cluster_id=c1", "30", "1.50"),
        ("Support", "", "1", "1.61"),
    ]
    assert [w["total"] for w in shorter] == [w["total"] for w in days]
    assert shorter[19]["total"] == "7.11"


def test_hour_windows(client: TestClient, keys: Keys, billed: Billed) -> None:
    hours = windows(
        client,
        keys,
        window_size="hour",
        skip_zero_qty_line_items="true",
        starting_on="2026-01-20T00:00:00Z",
        ending_before="2026-01-21T00:00:00Z",
    )
    assert [w["start"] for w in hours] == [f"2026-01-20T{h:02d}:00:00Z" for h in range(24)]
    assert all(shown(w) == [("Support", "", "1", "0.07")] for i, w in enumerate(hours) if i != 5)
    assert shown(hours[5]) == [
        ("Data written - Tier 1", "cluster_id=c1", "40", "4.00"),
        ("Data written - Tier 2", "cluster_id=c1", "30", "1.50"),
        ("Support", "", "1", "0.07"),
    ]
    assert total_of(hours) == Decimal("7.18")
    # Hour 536 of the month is the first with 6 cents of support.
    boundary = windows(
        client,
        keys,
        window_size="hour",
        starting_on="2026-01-23T07:00:00Z",
        ending_before="2026-01-23T09:00:00Z",
    )
    assert [(w["start"], w["total"]) for w in boundary] == [
        ("2026-01-23T07:00:00Z", "0.07"),
        ("2026-01-23T08:00:00Z", "0.06"),
    ]


def test_a_cursor_walk_over_the_hours_of_january(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    items, pages = walk_pages(
        client, URL, keys.admin, {"window_size": "hour", "limit": 100, **JANUARY}
    )
    assert pages == 8
    starts = [w["start"] for w in items]
    assert len(starts) == 744 == len(set(starts))
    assert starts == sorted(starts)
    assert total_of(items) == Decimal("62.50")
    api_calls = [
        (w["start"], line["quantity"])
        for w in items
        for line in json_list(w["lines"])
        if line["name"] == "API calls" and line["quantity"] != "0"
    ]
    assert api_calls == [
        ("2026-01-02T00:00:00Z", "1"),
        ("2026-01-02T23:00:00Z", "1"),
        ("2026-01-03T12:00:00Z", "1"),
        ("2026-01-31T23:00:00Z", "1"),
    ]


def test_the_windows_of_each_invoice_add_up_to_its_subtotal(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    for invoice in invoices_of(client, keys.admin, ALPHA):
        for size in ("day", "hour"):
            found = windows(
                client,
                keys,
                window_size=size,
                starting_on=invoice["period_start"],
                ending_before=invoice["period_end"],
            )
            assert {w["invoice_id"] for w in found} == {invoice["id"]}
            assert total_of(found) == money(invoice["subtotal"]), (invoice["period_start"], size)
            per_line: dict[tuple[str, str], Decimal] = {}
            for window in found:
                for name, group, _, amount in shown(window):
                    per_line[(name, group)] = per_line.get((name, group), Decimal(0)) + money(
                        amount
                    )
            assert per_line == {
                (line["name"], ",".join(f"{k}={v}" for k, v in sorted(line["group"].items()))): (
                    money(line["amount"])
                )
                for line in json_list(invoice["lines"])
            }


def test_ranges_across_invoices_and_inside_windows(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    days = windows(
        client,
        keys,
        window_size="day",
        skip_zero_qty_line_items="true",
        starting_on="2026-01-30T00:00:00Z",
        ending_before="2026-02-03T00:00:00Z",
    )
    assert [(w["start"][:10], w["invoice_id"]) for w in days] == [
        ("2026-01-30", billed.alpha_jan),
        ("2026-01-31", billed.alpha_jan),
        ("2026-02-01", billed.alpha_feb),
        ("2026-02-02", billed.alpha_feb),
    ]
    # February: support 50.00 / 28 days (1.79 for the first 16), the 80.00 purchase / 28
    # (2.86 for the first 20).
    assert shown(days[2]) == [
        ("Support", "", "1", "1.79"),
        ("Prepaid credit purchase", "", "1", "2.86"),
    ]
    assert [w["total"] for w in days] == ["1.61", "1.86", "4.65", "4.65"]
    # Only the windows wholly inside the range.
    inside = windows(
        client,
        keys,
        window_size="day",
        starting_on="2026-01-10T12:00:00Z",
        ending_before="2026-01-12T12:00:00Z",
    )
    assert [w["start"] for w in inside] == ["2026-01-11T00:00:00Z"]


BAD_PARAMETERS: dict[str, dict[str, str]] = {
    "empty range": {"starting_on": "2026-01-02T00:00:00Z", "ending_before": "2026-01-02T00:00:00Z"},
    "reversed": {"starting_on": "2026-01-02T00:00:00Z", "ending_before": "2026-01-01T00:00:00Z"},
    "reversed by the offset": {
        "starting_on": "2026-01-02T01:00:00+01:00",
        "ending_before": "2026-01-02T00:00:00Z",
    },
    "date only": {"starting_on": "2026-01-01", "ending_before": "2026-01-02T00:00:00Z"},
    "a word": {"starting_on": "2026-01-01T00:00:00Z", "ending_before": "yesterday"},
    "month 13": {"starting_on": "2026-13-01T00:00:00Z", "ending_before": "2026-12-02T00:00:00Z"},
    "no offset": {"starting_on": "2026-01-01T00:00:00", "ending_before": "2026-01-02T00:00:00Z"},
    "no start": {"ending_before": "2026-01-02T00:00:00Z"},
    "no end": {"starting_on": "2026-01-01T00:00:00Z"},
    "week windows": {**JANUARY, "window_size": "week"},
    "flag not a boolean": {**JANUARY, "skip_zero_qty_line_items": "maybe"},
    "limit 0": {**JANUARY, "limit": "0"},
    "bad cursor": {**JANUARY, "cursor": "not-a-cursor"},
    # 401 days of hours: just over the 9,600 windows one request may span.
    "too many windows": {
        "starting_on": "2026-01-01T00:00:00Z",
        "ending_before": "2027-02-06T00:00:00Z",
        "window_size": "hour",
    },
}


def test_bad_parameters_are_a_400(client: TestClient, keys: Keys) -> None:
    problems = []
    for label, params in BAD_PARAMETERS.items():
        response = client.get(URL, params=params, headers=keys.admin)
        if response.status_code != 400:
            problems.append(f"{label}: {response.status_code} {response.text[:200]}")
        else:
            assert error_of(response, 400)["code"] == "invalid_request"
    assert problems == []


def test_late_usage_is_billed_once_and_broken_down_in_its_own_period(
    client: TestClient, keys: Keys, billed: Billed
) -> None:
    # After January and February were issued: one API call on Jan 15, 100 bytes on Feb 10.
    late = ingest(
        client,
        keys.admin,
        [
            event("late-1", ALPHA, "api_call", "2026-01-15T00:00:00Z"),
            event("late-2", ALPHA, "produce", "2026-02-10T00:00:00Z", cluster_id="c1", bytes=100),
        ],
    )
    assert late["accepted"] == 2
    jan, feb, mar = invoices_of(client, keys.admin, ALPHA)
    # Issued invoices do not change.
    assert (jan["subtotal"], feb["subtotal"]) == ("62.50", "137.00")
    # March carries the differences: +1 call (0.25); February re-rated with 140 bytes is
    # 100 at 0.10 and 40 at 0.05, billed was 40 at 0.10: +60 at 0.10 and +40 at 0.05.
    corrections = {
        (line["name"], line["quantity"], line["amount"], line["corrects_period_start"])
        for line in json_list(mar["lines"])
        if "corrects_period_start" in line
    }
    assert corrections == {
        ("API calls (late usage, 2026-01-01)", "1", "0.25", "2026-01-01T00:00:00Z"),
        ("Data written - Tier 1 (late usage, 2026-02-01)", "60", "6.00", "2026-02-01T00:00:00Z"),
        ("Data written - Tier 2 (late usage, 2026-02-01)", "40", "2.00", "2026-02-01T00:00:00Z"),
    }
    assert (mar["subtotal"], mar["credits_applied"], mar["total"]) == ("59.75", "43.00", "16.75")
    # The late call shows in January's windows, on its day.
    day = windows(
        client,
        keys,
        skip_zero_qty_line_items="true",
        starting_on="2026-01-15T00:00:00Z",
        ending_before="2026-01-16T00:00:00Z",
    )
    assert shown(day[0]) == [("API calls", "", "1", "0.25"), ("Support", "", "1", "1.61")]
    # Each period's windows hold all of its usage (62.75, 145.00); the correction lines are
    # not broken down again (51.50), so every cent billed is in exactly one window.
    totals = [
        total_of(windows(client, keys, starting_on=start, ending_before=end))
        for start, end in (
            ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
            ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"),
            ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
        )
    ]
    assert totals == [Decimal("62.75"), Decimal("145"), Decimal("51.5")]
    assert sum(totals) == sum(money(i["subtotal"]) for i in (jan, feb, mar))
