"""Tier flat amounts and free quantity (spec 6.1, 6.2) through every surface, on SQLite and
PostgreSQL: the setup read back, the native invoices and breakdowns, the WarpStream and
Typesense APIs, the invoice page and the CLI's --json.

Hand-computed. ``egress`` (GB, by region) is graduated: up to 500 at 0.09 + 5.00 flat, up to
2,000 at 0.07 + 20.00 flat, then 0.05; the first 50 GB of each region and period are free.
``seats`` is volume: up to 10 at 5 + 2.00, more at 4 + 10.00; the first 2 seats are free.

January:

* eu-west: 30 GB on the 2nd (free), 40 on the 5th (cumulative 70: 20 charged, 1.80 + 5.00
  = 6.80), 500 on the 10th (cumulative 570: charged 20 → 520, 480 x 0.09 = 43.20 on tier 1,
  20 x 0.07 + 20.00 = 21.40 on tier 2). Lines: Tier 1 550 GB 50.00 (500 x 0.09 + 5.00),
  Tier 2 20 GB 21.40.
* us-east: 20 GB on the 3rd, wholly free: one Tier 1 line of 20 GB, 0.
* seats: 5 on the 4th, 8 on the 6th = 13, 11 charged at tier 2: 44 + 10.00 = 54.00. By day,
  in proportion to the charged seats 3 and 8: 14.7272... and 39.2727... → 14.73 and 39.27.
* subtotal 50.00 + 21.40 + 0 + 54.00 = 125.40.

A late 10 GB in eu-west on 20 January, ingested after January was issued, is all tier 2:
the March draft gets "Egress (GB) - Tier 2 (late usage, 2026-01-01)", 10 GB, 0.70. March
also has 60 GB in eu-west: 10 charged, 0.90 + 5.00 = 5.90.
"""

import json
import re
import subprocess
import sys
from decimal import Decimal
from typing import Any

import yaml

from meterbill.api.typesense import PREFIX as TYPESENSE
from meterbill.api.warpstream import PREFIX as WARPSTREAM
from meterbill.db.database import Database
from meterbill.services.invoicing import close_periods
from meterbill.services.keys import create_key
from meterbill.services.links import invoice_link_token, link_secret
from tests.api.support import (
    FIXED,
    TestClient,
    error_of,
    ingest,
    invoices_of,
    json_list,
    json_object,
)

SETUP = """\
meters:
  - {key: egress_gb, name: Egress GB, event_type: egress, aggregation: sum, property: gb,
     group_by: [region]}
  - {key: seats, name: Seats, event_type: seats, aggregation: sum, property: n}
products:
  - key: egress
    name: Egress (GB)
    meter: egress_gb
    free_quantity: "50"
    price:
      model: graduated
      tiers:
        - {up_to: "500", unit_price: "0.09", flat_amount: "5.00"}
        - {up_to: "2000", unit_price: "0.07", flat_amount: "20.00"}
        - {unit_price: "0.05"}
  - key: seats
    name: Seats
    meter: seats
    free_quantity: "2"
    price:
      model: volume
      tiers:
        - {up_to: "10", unit_price: "5", flat_amount: "2.00"}
        - {unit_price: "4", flat_amount: "10.00"}
plans:
  - {key: monthly, name: Monthly, interval: month, products: [egress, seats]}
customers:
  - id: acme
    name: Acme
    subscriptions: [{plan: monthly, starts_at: "2026-01-01T00:00:00Z"}]
"""


def egress(txn: str, when: str, region: str, gb: str) -> dict[str, object]:
    return {
        "transaction_id": txn,
        "customer_id": "acme",
        "event_type": "egress",
        "timestamp": f"{when}T12:00:00Z",
        "properties": {"region": region, "gb": gb},
    }


def seats(txn: str, when: str, n: str) -> dict[str, object]:
    return {
        "transaction_id": txn,
        "customer_id": "acme",
        "event_type": "seats",
        "timestamp": f"{when}T12:00:00Z",
        "properties": {"n": n},
    }


EVENTS = [
    egress("e1", "2026-01-02", "eu-west", "30"),
    egress("e2", "2026-01-05", "eu-west", "40"),
    egress("e3", "2026-01-10", "eu-west", "500"),
    egress("e4", "2026-01-03", "us-east", "20"),
    seats("s1", "2026-01-04", "5"),
    seats("s2", "2026-01-06", "8"),
    egress("e5", "2026-03-02", "eu-west", "60"),
]

JANUARY_LINES = [
    ("Egress (GB) - Tier 1", {"region": "eu-west"}, "550", "0.09", "50.00"),
    ("Egress (GB) - Tier 2", {"region": "eu-west"}, "20", "0.07", "21.40"),
    ("Egress (GB) - Tier 1", {"region": "us-east"}, "20", "0.09", "0.00"),
    ("Seats", {}, "13", "4", "54.00"),
]


def lines_of(invoice: dict[str, Any]) -> list[tuple[str, object, str, str, str]]:
    return [
        (line["name"], line["group"], line["quantity"], line["unit_price"], line["amount"])
        for line in json_list(invoice["lines"])
    ]


def test_flat_amounts_and_free_quantity_on_every_surface(
    database: Database, client: TestClient, db_url: str
) -> None:
    with database.transaction() as session:
        _, admin_key = create_key(session, customer_id=None, now=FIXED, name="admin")
    admin = {"Authorization": f"Bearer {admin_key}"}
    yaml_type = {"Content-Type": "application/yaml"}

    # A negative flat amount is refused with its path, and nothing is applied.
    bad = SETUP.replace('flat_amount: "20.00"', 'flat_amount: "-20.00"')
    refused = client.put("/v1/setup", content=bad, headers={**admin, **yaml_type})
    assert "products[0].price.tiers[1].flat_amount" in json.dumps(error_of(refused, 400))
    applied = client.put("/v1/setup", content=SETUP, headers={**admin, **yaml_type})
    assert applied.status_code == 200, applied.text
    with database.transaction() as session:
        _, acme_key = create_key(session, customer_id="acme", now=FIXED, name="acme")

    # GET /v1/setup gives the fields back, and re-applying it changes nothing.
    current = client.get("/v1/setup", headers=admin)
    products = json_list(json_object(current)["products"])
    assert products == yaml.safe_load(SETUP)["products"]
    again = client.put("/v1/setup", json=json_object(current), headers=admin)
    assert json_object(again)["updated"] == []

    ingest(client, admin, EVENTS)
    with database.transaction() as session:
        close_periods(session, as_of=FIXED)
    ingest(client, admin, [egress("late", "2026-01-20", "eu-west", "10")])

    # Native API: January (issued) and the March draft with the late-usage correction.
    january, february, march = invoices_of(client, admin, "acme")
    assert (january["status"], january["subtotal"]) == ("issued", "125.40")
    assert lines_of(january) == JANUARY_LINES
    assert february["lines"] == []
    assert lines_of(march) == [
        ("Egress (GB) - Tier 1", {"region": "eu-west"}, "60", "0.09", "5.90"),
        (
            "Egress (GB) - Tier 2 (late usage, 2026-01-01)",
            {"region": "eu-west"},
            "10",
            "0.07",
            "0.70",
        ),
    ]
    assert march["subtotal"] == "6.60"

    # Native breakdowns: free units first, each tier's flat amount on the day it is entered.
    response = client.get(
        "/v1/customers/acme/breakdowns",
        params={
            "window_size": "day",
            "starting_on": "2026-01-01T00:00:00Z",
            "ending_before": "2026-02-01T00:00:00Z",
            "skip_zero_qty_line_items": "true",
            "limit": "100",
        },
        headers=admin,
    )
    assert response.status_code == 200, response.text
    shown = [
        (window["start"][:10], line["name"], line["group"], line["quantity"], line["amount"])
        for window in json_list(json_object(response)["data"])
        for line in json_list(window["lines"])
    ]
    assert shown == [
        ("2026-01-02", "Egress (GB) - Tier 1", {"region": "eu-west"}, "30", "0.00"),
        ("2026-01-03", "Egress (GB) - Tier 1", {"region": "us-east"}, "20", "0.00"),
        ("2026-01-04", "Seats", {}, "5", "14.73"),
        ("2026-01-05", "Egress (GB) - Tier 1", {"region": "eu-west"}, "40", "6.80"),
        ("2026-01-06", "Seats", {}, "8", "39.27"),
        ("2026-01-10", "Egress (GB) - Tier 1", {"region": "eu-west"}, "480", "43.20"),
        ("2026-01-10", "Egress (GB) - Tier 2", {"region": "eu-west"}, "20", "21.40"),
        # Breakdowns show all usage (spec 4.7): the late 10 GB at 0.07.
        ("2026-01-20", "Egress (GB) - Tier 2", {"region": "eu-west"}, "10", "0.70"),
    ]

    # WarpStream: January's charges by line name and unit price (both regions' Tier 1).
    past = client.post(
        f"{WARPSTREAM}/get_past_invoice",
        json={"date_start": "2026-01-01"},
        headers={"warpstream-api-key": acme_key},
    )
    assert past.status_code == 200, past.text
    assert json.loads(past.text, parse_float=Decimal)["account_charges"] == [
        {
            "product": "Egress (GB) - Tier 1",
            "unit_price": Decimal("0.09"),
            "quantity": 570,
            "total": Decimal("50.00"),
        },
        {
            "product": "Egress (GB) - Tier 2",
            "unit_price": Decimal("0.07"),
            "quantity": 20,
            "total": Decimal("21.40"),
        },
        {"product": "Seats", "unit_price": 4, "quantity": 13, "total": Decimal("54.00")},
    ]

    # Typesense: the issued invoice's line items in cents.
    typesense = client.get(
        f"{TYPESENSE}/{january['id']}", headers={"X-TYPESENSE-CLOUD-MANAGEMENT-API-KEY": acme_key}
    )
    assert typesense.status_code == 200, typesense.text
    assert [
        (item["description"], item["quantity"], item["unit_price_cents"], item["price_cents"])
        for item in json_list(json_object(typesense)["line_items"])
    ] == [
        ("Egress (GB) - Tier 1", 550, 9, 5000),
        ("Egress (GB) - Tier 2", 20, 7, 2140),
        ("Egress (GB) - Tier 1", 20, 9, 0),
        ("Seats", 13, 400, 5400),
    ]

    # The invoice page.
    with database.transaction() as session:
        token = invoice_link_token(link_secret(session), str(january["id"]))
    page = client.get(f"/invoices/{token}")
    assert page.status_code == 200, page.text
    rows = re.findall(
        r'data-testid="line-name">([^<]*)<.*?data-testid="line-quantity" data-value="([^"]*)"'
        r'.*?data-testid="line-amount" data-value="([^"]*)"',
        page.text,
        flags=re.S,
    )
    assert rows == [
        ("Egress (GB) - Tier 1", "550", "50.00"),
        ("Egress (GB) - Tier 2", "20", "21.40"),
        ("Egress (GB) - Tier 1", "20", "0.00"),
        ("Seats", "13", "54.00"),
    ]

    # The CLI's --json, on the same database.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "meterbill",
            "--database",
            db_url,
            "invoices",
            "show",
            str(january["id"]),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert lines_of(json.loads(done.stdout)["data"]) == JANUARY_LINES
