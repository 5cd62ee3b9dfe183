"""Product maximum, discount and tax lines on the three compatible APIs and the native one
(spec 6; differences in docs/compat.md), on SQLite and PostgreSQL.

acme's January, by hand: CPU 1000 h × 0.05 = 50.00; maximum 40.00 → "CPU - maximum"
−10.00; Support 10.00 (tax exempt); "Discount launch" 10 % of 50 − 10 + 10 = 50.00 →
−5.00; subtotal 45.00; VAT 20 % of 50 − 10 − 5 = 35.00 → 7.00 (the discount over all lines
is taxable, support is not); the 5.00 credit pays the taxed amount: total 47.00.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from meterbill.api.typesense import PREFIX as TS_PREFIX
from meterbill.api.warpstream import PREFIX as WS_PREFIX
from meterbill.services.keys import create_key
from tests.compat.conftest_wt import COMPAT_WARNINGS, TS_HEADER, WS_HEADER
from tests.compat.metronome_support import (
    BASE,
    MetronomeEnv,
    close,
    event,
    exact,
    ingest_events,
    metronome_env,
)

pytestmark = COMPAT_WARNINGS

SETUP = """\
settings:
  grace_period_hours: 24
  taxes: [{key: vat20, name: "VAT 20%", rate: "0.20"}]
  seller: {name: Cloudworks Ltd, tax_id: GB123456789}
meters:
  - {key: cpu_hours, name: CPU hours, event_type: cpu_usage, aggregation: sum,
     property: cpu_hours}
products:
  - {key: cpu, name: CPU, meter: cpu_hours, maximum: "40.00",
     price: {model: per_unit, unit_price: "0.05"}}
  - {key: support, name: Support, tax_exempt: true, price: {model: flat, amount: "10.00"}}
plans:
  - {key: std, name: Standard, interval: month, products: [cpu, support]}
customers:
  - id: acme
    name: Acme Rockets Ltd
    subscriptions: [{plan: std, starts_at: "2026-01-01T00:00:00Z"}]
    credits: [{key: welcome, kind: free, amount: "5.00", starts_at: "2026-01-01T00:00:00Z"}]
    discounts: [{key: launch, percent: "10", starts_at: "2026-01-01T00:00:00Z", periods: 1}]
    taxes: [vat20]
  - id: globex
    name: Globex
    subscriptions: [{plan: std, starts_at: "2026-01-01T00:00:00Z"}]
"""
NOW = datetime(2026, 2, 10, tzinfo=UTC)


@pytest.fixture
def env(db_url: str) -> Iterator[tuple[MetronomeEnv, str]]:
    with metronome_env(db_url, setup=SETUP) as loaded:
        ingest_events(
            loaded.database,
            [event("c1", "acme", "cpu_usage", "2026-01-10T00:00:00Z", cpu_hours="1000")],
            now=NOW,
        )
        close(loaded.database, datetime(2026, 2, 2, tzinfo=UTC))
        with loaded.database.transaction() as session:
            _, secret = create_key(session, customer_id="acme", now=NOW)
        yield loaded, secret


def test_every_api_shows_the_adjustment_lines_and_the_tax(env: tuple[MetronomeEnv, str]) -> None:
    world, secret = env
    client = world.client

    # Native API: tax on the invoice, the new line types.
    native = client.get("/v1/customers/acme/invoices", headers=world.admin).json()["data"][0]
    assert [(li["name"], li["type"], li["product"], li["amount"]) for li in native["lines"]] == [
        ("CPU", "usage", "cpu", "50.00"),
        ("Support", "flat", "support", "10.00"),
        ("CPU - maximum", "maximum", "cpu", "-10.00"),
        ("Discount launch", "discount", None, "-5.00"),
        ("VAT 20%", "tax", None, "7.00"),
    ]
    assert (native["subtotal"], native["tax"], native["credits_applied"], native["total"]) == (
        "45.00",
        "7.00",
        "5.00",
        "47.00",
    )
    assert "unit_price" not in native["lines"][2]

    # Typesense: amount_cents includes the tax; each adjustment is a line item of its type.
    [listed] = exact(client.get(TS_PREFIX, headers={TS_HEADER: secret}))["invoices"]
    assert listed["amount_cents"] == 5200
    invoice = exact(client.get(f"{TS_PREFIX}/{listed['id']}", headers={TS_HEADER: secret}))
    assert [
        (i["description"], i["line_item_type"], i["price_cents"], i["unit_price_cents"])
        for i in invoice["line_items"]
    ] == [
        ("CPU", "usage", 5000, 5),
        ("Support", "flat", 1000, 1000),
        ("CPU - maximum", "maximum", -1000, -1000),
        ("Discount launch", "discount", -500, -500),
        ("VAT 20%", "tax", 700, 700),
    ]
    assert [i["parameters"] for i in invoice["line_items"][2:]] == [{}, {}, {}]

    # WarpStream: adjustments are account charges; the total is subtotal + tax − credits.
    past = exact(
        client.post(
            f"{WS_PREFIX}/get_past_invoice",
            json={"date_start": "2026-01-15"},
            headers={WS_HEADER: secret},
        )
    )
    charges = [(c["product"], c["unit_price"], c["total"]) for c in past["account_charges"]]
    assert charges == [
        ("CPU", D("0.05"), D("50.00")),
        ("Support", D(10), D("10.00")),
        ("CPU - maximum", D(-10), D("-10.00")),
        ("Discount launch", D(-5), D("-5.00")),
        ("VAT 20%", D(7), D("7.00")),
        ("Free credits", D(-5), D("-5.00")),
    ]
    assert past["total"] == D("47.00")

    # Metronome: the new types, product ids on the product maximum, subtotal with tax.
    response = client.get(f"{BASE}/customers/{world.acme}/invoices", headers=world.admin)
    january = exact(response)["data"][0]
    items = [(i["name"], i["type"], i["total"], "product_id" in i) for i in january["line_items"]]
    assert items == [
        ("CPU", "usage", 5000, True),
        ("Support", "subscription", 1000, True),
        ("CPU - maximum", "maximum", -1000, True),
        ("Discount launch", "discount", -500, False),
        ("VAT 20%", "tax", 700, False),
        ("welcome (free credit)", "applied_commit_or_credit", -500, False),
    ]
    assert (january["subtotal"], january["total"]) == (5200, 4700)
    discount = january["line_items"][3]
    assert discount["custom_fields"]["meterbill_discount"] == "launch"
    assert len(discount["discount_id"]) == 36
    fields = january["custom_fields"]
    assert (fields["meterbill_subtotal"], fields["meterbill_tax"]) == (4500, 700)


def test_the_invoice_page_shows_the_seller_and_the_tax(env: tuple[MetronomeEnv, str]) -> None:
    world, secret = env
    [listed] = exact(world.client.get(TS_PREFIX, headers={TS_HEADER: secret}))["invoices"]
    page = world.client.get(str(listed["invoice_html_url"]).split("testserver")[-1])
    assert page.status_code == 200
    html = page.text
    assert "Cloudworks Ltd" in html
    assert "Tax ID GB123456789" in html
    assert 'data-testid="invoice-tax" data-value="7.00"' in html
    assert "Discount launch" in html
    assert "meterbill</p>" not in html
