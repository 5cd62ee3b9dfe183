"""The example setup files under ``examples/`` apply through the CLI on SQLite and
PostgreSQL, take events and close; the Metronome-like one to hand-checked totals."""

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLOSE = "2026-02-02T00:00:00Z"


def event(txid: str, customer: str, event_type: str, when: str, **properties: object) -> str:
    return json.dumps(
        {
            "transaction_id": txid,
            "customer_id": customer,
            "event_type": event_type,
            "timestamp": when,
            "properties": properties,
        }
    )


def apply_ingest_close(db: str, tmp_path: Path, example: str, events: list[str]) -> Any:
    done = run(db, "apply", str(EXAMPLES / example))
    assert done.returncode == 0, done.stderr
    again = run(db, "apply", str(EXAMPLES / example))
    assert " 0 created, 0 updated" in again.stdout
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(events) + "\n")
    ingested = run(db, "ingest", str(path))
    assert ingested.returncode == 0, ingested.stderr
    closed = run(db, "close", "--as-of", CLOSE)
    assert closed.returncode == 0, closed.stderr
    return ingested


def invoices(db: str, customer: str) -> list[dict[str, Any]]:
    listed = run(db, "invoices", "list", "--customer", customer, "--json", "--as-of", CLOSE)
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)["data"]  # type: ignore[no-any-return]


def amounts(invoice: dict[str, Any]) -> dict[str, D]:
    """Amount by line name, with the group's values after a dash (``Seats``,
    ``Input tokens (per million) - large``)."""
    result: dict[str, D] = {}
    for line in invoice["lines"]:
        name = " - ".join([line["name"], *map(str, line["group"].values())])
        result[name] = D(line["amount"])
    return result


def test_metronome_like_example_to_hand_checked_totals(db_url: str, tmp_path: Path) -> None:
    c = "northwind-ai"
    events = [
        # Input tokens: large 2,000,000 + 1,000,000 (by alias), small 10,000,000.
        event(
            "t1",
            c,
            "tokens",
            "2026-01-03T10:00:00Z",
            model="large",
            direction="input",
            count=2_000_000,
        ),
        event(
            "t2",
            "ops@northwind.example",
            "tokens",
            "2026-01-10T10:00:00Z",
            model="large",
            direction="input",
            count=1_000_000,
        ),
        event(
            "t3",
            "nw-prod",
            "tokens",
            "2026-01-11T10:00:00Z",
            model="small",
            direction="input",
            count=10_000_000,
        ),
        # Output tokens: large 500,000; a "cached" direction is no meter's.
        event(
            "t4",
            c,
            "tokens",
            "2026-01-12T10:00:00Z",
            model="large",
            direction="output",
            count=500_000,
        ),
        event(
            "t5",
            c,
            "tokens",
            "2026-01-12T11:00:00Z",
            model="large",
            direction="cached",
            count=9_000_000,
        ),
        # Seats: the latest count is 8.
        event("s1", c, "seat_count", "2026-01-03T00:00:00Z", seats=5),
        event("s2", c, "seat_count", "2026-01-20T00:00:00Z", seats=8),
        # 150 images → 2 packages of 100.
        *(event(f"i{n}", c, "image_generation", "2026-01-15T12:00:00Z") for n in range(150)),
        # A retried event is a duplicate.
        event(
            "t1",
            c,
            "tokens",
            "2026-01-03T10:00:00Z",
            model="large",
            direction="input",
            count=2_000_000,
        ),
    ]
    ingested = apply_ingest_close(db_url, tmp_path, "metronome-like.yaml", events)
    assert ingested.stdout.strip() == "157 accepted, 1 duplicate, 0 rejected"
    january, february = invoices(db_url, c)
    assert february["status"] == "draft"
    assert january["number"] == 1
    assert amounts(january) == {
        # 3 million × 2.50, 10 million × 0.15, 0.5 million × 10.00
        "Input tokens (per million) - large": D("7.50"),
        "Input tokens (per million) - small": D("1.50"),
        "Output tokens (per million) - large": D("5.00"),
        "Images (per 100)": D("8.00"),  # ceil(150 / 100) = 2 × 4.00
        "Seats": D("160.00"),  # 8 × 20.00
        "Platform fee": D("250.00"),
        # 432.00 of usage and fees is below the 500.00 plan minimum.
        "Minimum spend true-up": D("68.00"),
        # 10 % of the token lines 14.00.
        "Discount launch": D("-1.40"),
    }
    assert D(january["subtotal"]) == D("498.60")
    assert D(january["credits_applied"]) == D("498.60")  # the commit pays it all
    assert D(january["total"]) == D("0")
    assert january["status"] == "paid"


@pytest.mark.parametrize(
    ("example", "customer", "events", "fee"),
    [
        (
            "warpstream-like.yaml",
            "acme-stream",
            [
                event(
                    "hb1",
                    "ti_acme",
                    "cluster_heartbeat",
                    "2026-01-05T10:00:00Z",
                    cluster_id="vci_events",
                    minutes=15,
                ),
                event(
                    "p1",
                    "ti_acme",
                    "produce",
                    "2026-01-05T10:00:00Z",
                    cluster_id="vci_events",
                    uncompressed_bytes=1_073_741_824,
                ),
                event(
                    "g1",
                    "ti_acme",
                    "storage_gauge",
                    "2026-01-05T10:00:00Z",
                    cluster_id="vci_events",
                    stored_gib=100,
                ),
                event("a1", "ti_acme", "api_call", "2026-01-05T10:00:00Z"),
            ],
            ("Support - Pro", D("1000.00")),
        ),
        (
            "typesense-like.yaml",
            "acme-search",
            [
                event(
                    "n1",
                    "acme-search",
                    "node_hour",
                    "2026-01-05T10:00:00Z",
                    cluster_id="0197kdlrfsubahw4p",
                    nodes=3,
                    memory_option="1_gb",
                    vcpu_option="2_vcpus",
                    region="oregon",
                ),
                event(
                    "b1",
                    "acme-search",
                    "bandwidth",
                    "2026-01-05T10:00:00Z",
                    cluster_id="0197kdlrfsubahw4p",
                    bytes_out=25_000_000_000,
                ),
            ],
            ("Typesense Cloud Support - Business Plan", D("500.00")),
        ),
    ],
)
def test_the_other_examples_apply_ingest_and_close(
    db_url: str,
    tmp_path: Path,
    example: str,
    customer: str,
    events: list[str],
    fee: tuple[str, D],
) -> None:
    ingested = apply_ingest_close(db_url, tmp_path, example, events)
    assert ingested.stdout.strip() == f"{len(events)} accepted, 0 duplicate, 0 rejected"
    january = invoices(db_url, customer)[0]
    assert january["number"] == 1
    assert amounts(january)[fee[0]] == fee[1]
