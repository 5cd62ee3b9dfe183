"""The usage dashboard in a real browser: what it shows is what the API answers.

Signed in through the form with the customer's key, and through a signed link from
``meterbill links dashboard``; the draft total, the invoice list, the daily cost chart and
the breakdown CSV are each compared with the JSON API (read with the admin key)."""

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal

from playwright.sync_api import Page, expect

from tests.browser.browsing import dashboard_link, download, listed_invoices, sign_in
from tests.browser.support import (
    CUSTOMER,
    SCREENSHOTS,
    ApiClient,
    DemoServer,
    Json,
    group_key,
    parse_decimal,
    parse_money,
    read_csv,
)

CSV_COLUMNS = {"window_start", "window_end", "invoice_id", "line", "group", "quantity", "amount"}


def _check_draft_and_invoice_list(page: Page, api: ApiClient) -> None:
    invoices = api.invoices(CUSTOMER)
    assert {invoice["currency"] for invoice in invoices} == {"USD"}
    drafts = [invoice for invoice in invoices if invoice["status"] == "draft"]
    assert len(drafts) == 1, f"the demo should have one live draft, the API lists {len(drafts)}"

    shown = page.get_by_test_id("draft-total")
    expect(shown).to_have_count(1)
    assert parse_money(shown.inner_text()) == parse_decimal(drafts[0]["total"])

    listed = listed_invoices(page)
    assert len(listed) == len(invoices), [row.text for row in listed]
    for invoice in invoices:
        total = parse_decimal(invoice["total"])
        if invoice["status"] == "draft":
            rows = [row for row in listed if row.link is None and "draft" in row.text.lower()]
            what = "the draft"
        else:
            rows = [row for row in listed if row.invoice_id == invoice["id"]]
            what = f"invoice {invoice['number']} ({invoice['id']})"
        assert len(rows) == 1, f"{what} should be one row of the invoice list: {listed}"
        row = rows[0]
        if invoice["number"] is not None:
            assert str(invoice["number"]) in row.text.split(), f"{what}: {row.text!r}"
        assert total in row.amounts, f"{what} should show its total {total}: {row.text!r}"


def test_sign_in_shows_the_api_figures(page: Page, server: DemoServer, api: ApiClient) -> None:
    sign_in(page, server.customer_key)
    _check_draft_and_invoice_list(page, api)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "dashboard.png", full_page=True)


def test_signed_link_shows_the_api_figures(page: Page, server: DemoServer, api: ApiClient) -> None:
    response = page.goto(dashboard_link(server))
    assert response is not None
    assert response.status == 200
    _check_draft_and_invoice_list(page, api)


def test_daily_cost_chart_adds_up_to_the_breakdown(
    page: Page, server: DemoServer, api: ApiClient
) -> None:
    sign_in(page, server.customer_key)
    chart = page.get_by_test_id("daily-cost-chart")
    expect(chart).to_have_count(1)
    assert chart.evaluate("element => element.tagName.toLowerCase()") == "svg"
    bars = chart.locator("rect[data-testid=bar]")
    assert bars.count() >= 1, "the chart has no bar"
    shown: defaultdict[date, Decimal] = defaultdict(Decimal)
    for day, amount in bars.evaluate_all(
        "bars => bars.map(bar => [bar.dataset.day, bar.dataset.amount])"
    ):
        shown[date.fromisoformat(day)] += parse_decimal(amount)

    first, last = min(shown), max(shown)
    windows = api.breakdowns(
        CUSTOMER,
        f"{first.isoformat()}T00:00:00Z",
        f"{(last + timedelta(days=1)).isoformat()}T00:00:00Z",
        "day",
    )
    expected: defaultdict[date, Decimal] = defaultdict(Decimal)
    for window in windows:
        expected[date.fromisoformat(window["start"][:10])] += parse_decimal(window["total"])
    # Every day with a bar (so at least one day): its bars add up to the breakdown's total.
    for day, amount in sorted(shown.items()):
        assert amount == expected[day], (
            f"{day}: the bars add up to {amount}, the API to {expected[day]}"
        )
    # And no day the API bills is missing from the chart.
    missing = {day: total for day, total in expected.items() if total and day not in shown}
    assert not missing, f"days billed by the API without a bar: {missing}"


def _line_key(invoice_id: str, name: str, group: object) -> tuple[str, str, str]:
    return invoice_id, name, group_key(group)


def _nonzero(sums: Mapping[tuple[str, str, str], Decimal]) -> dict[tuple[str, str, str], Decimal]:
    return {key: total for key, total in sums.items() if total}


def _csv_rows(text: str) -> list[dict[str, str]]:
    rows = read_csv(text)
    assert rows, f"the CSV has no row:\n{text[:500]}"
    assert set(rows[0]) >= CSV_COLUMNS, f"the CSV's columns: {sorted(rows[0])}"
    return rows


def test_breakdown_csv_adds_up_to_the_api_breakdown(
    page: Page, server: DemoServer, api: ApiClient
) -> None:
    sign_in(page, server.customer_key)
    name, data = download(page, page.get_by_test_id("download-csv"))
    assert name.endswith(".csv"), name
    rows = _csv_rows(data.decode("utf-8-sig"))

    start = min(row["window_start"] for row in rows)
    end = max(row["window_end"] for row in rows)
    windows = api.breakdowns(CUSTOMER, start, end, "day")
    in_csv = {row["invoice_id"] for row in rows}

    csv_sums: defaultdict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        csv_sums[_line_key(row["invoice_id"], row["line"], row["group"])] += parse_decimal(
            row["amount"]
        )
    api_sums: defaultdict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    api_rows: list[tuple[str, str, str, str, Decimal, Decimal]] = []
    for window in windows:
        if window["invoice_id"] not in in_csv:
            continue
        for line in window["lines"]:
            key = _line_key(window["invoice_id"], line["name"], line["group"])
            amount, quantity = parse_decimal(line["amount"]), parse_decimal(line["quantity"])
            api_sums[key] += amount
            if amount or quantity:
                api_rows.append((window["start"], *key, quantity, amount))
    assert _nonzero(csv_sums) == _nonzero(api_sums)

    # Each line's windows add up to the line on its invoice.
    for invoice_id in in_csv:
        invoice: Json = api.invoice(invoice_id)
        on_invoice: defaultdict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        for line in invoice["lines"]:
            on_invoice[_line_key(invoice_id, line["name"], line["group"])] += parse_decimal(
                line["amount"]
            )
        from_csv = {key: total for key, total in csv_sums.items() if key[0] == invoice_id}
        assert _nonzero(from_csv) == _nonzero(on_invoice), f"invoice {invoice_id}"

    # Row by row, the CSV is the API's breakdown without its all-zero rows.
    csv_rows = [
        (
            row["window_start"],
            *_line_key(row["invoice_id"], row["line"], row["group"]),
            parse_decimal(row["quantity"]),
            parse_decimal(row["amount"]),
        )
        for row in rows
    ]
    assert sorted(csv_rows) == sorted(api_rows)
