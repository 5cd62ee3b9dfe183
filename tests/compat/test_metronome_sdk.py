"""The official Metronome Python client against a real ``meterbill serve``.

The server runs in a subprocess (SQLite file or the PostgreSQL test database, port on
127.0.0.1, no background closer) and the pinned ``metronome-sdk`` talks to it with strict
response validation, so every response must match the client's models exactly.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from metronome import AuthenticationError, BadRequestError, ConflictError, Metronome, NotFoundError
from metronome.types.v1.usage_ingest_params import Usage

from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup
from meterbill.services.ingest import rebuild_meter
from meterbill.services.keys import create_key
from tests.compat.metronome_support import close, running_server

NOW = datetime(2026, 2, 10, tzinfo=UTC)


def cpu_event(txn: str, customer: str, stamp: str, hours: object, region: str) -> Usage:
    return {
        "transaction_id": txn,
        "customer_id": customer,
        "event_type": "cpu_usage",
        "timestamp": stamp,
        "properties": {"cpu_hours": hours, "region": region},
    }


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[str, str, Database]]:
    """(base URL, admin secret, database) of a running server."""
    database = Database(db_url)
    try:
        with database.transaction() as session:
            _, admin = create_key(session, customer_id=None, now=NOW)
        with running_server(db_url, tmp_path / "serve.log") as url:
            yield url, admin, database
    finally:
        database.dispose()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def client_for(url: str, secret: str) -> Metronome:
    return Metronome(
        bearer_token=secret,
        base_url=f"{url}/metronome",
        _strict_response_validation=True,
        max_retries=0,
    )


def test_the_official_client_end_to_end(served: tuple[str, str, Database]) -> None:
    url, admin, database = served
    with client_for(url, admin) as client:
        created = client.v1.customers.create(
            name="Example, Inc.",
            ingest_aliases=["team@example.com"],
            custom_fields={"tier": "gold"},
        ).data
        assert created.external_id == "team@example.com"
        assert created.ingest_aliases == ["team@example.com"]
        customer_id = created.id

        metric_id = client.v1.billable_metrics.create(
            name="CPU Hours",
            event_type_filter={"in_values": ["cpu_usage"]},
            property_filters=[
                {"name": "cpu_hours", "exists": True},
                {"name": "region", "exists": True, "in_values": ["EU", "NA"]},
            ],
            aggregation_type="SUM",
            aggregation_key="cpu_hours",
            group_keys=[["region"]],
        ).data.id
        metric = client.v1.billable_metrics.retrieve(billable_metric_id=metric_id).data
        assert metric.aggregation_type == "SUM"
        assert metric.custom_fields == {"meterbill_meter_key": "cpu_hours"}

        # Prices come from the setup file: a product names the new meter key, and the
        # Metronome customer (whose meterbill id is its Metronome id) gets a subscription.
        with database.transaction() as session:
            apply_setup(
                session,
                yaml.safe_load(
                    f"""
products:
  - {{key: cpu, name: CPU, meter: cpu_hours, price: {{model: per_unit, unit_price: "0.5"}}}}
  - {{key: base, name: Base fee, price: {{model: flat, amount: "20.00"}}}}
plans:
  - {{key: cloud, name: Cloud, interval: month, products: [cpu, base]}}
customers:
  - id: {customer_id}
    name: "Example, Inc."
    aliases: ["team@example.com"]
    subscriptions: [{{plan: cloud, starts_at: "2026-01-01T00:00:00Z"}}]
    credits: [{{key: trial, kind: free, amount: "25.00", starts_at: "2026-01-01T00:00:00Z"}}]
"""
                ),
                now=NOW,
                rebuild=rebuild_meter,
            )

        # Every hour from Jan 30 00:00 to Feb 2 00:00: 2 CPU hours in EU (through the
        # alias) and 1 in NA (through the Metronome id) -> 72 hours x 3 = 216 CPU hours.
        events: list[Usage] = []
        for hour in range(72):
            moment = datetime(2026, 1, 30, tzinfo=UTC).timestamp() + hour * 3600
            stamp = datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")
            events.append(cpu_event(f"eu-{hour}", "team@example.com", stamp, "2", "EU"))
            events.append(cpu_event(f"na-{hour}", customer_id, stamp, 1, "NA"))
        for start in range(0, len(events), 100):
            client.v1.usage.ingest(usage=events[start : start + 100])
        # Duplicates are accepted and ignored: in a batch of their own and mixed with new.
        client.v1.usage.ingest(usage=events[:3])
        first = events[0]["timestamp"]
        extra = cpu_event("extra", "team@example.com", first, "2", "EU")
        client.v1.usage.ingest(usage=[events[0], extra])
        with pytest.raises(BadRequestError):
            client.v1.usage.ingest(usage=[cpu_event("x", customer_id, "yesterday", 1, "EU")])
        with pytest.raises(BadRequestError):
            client.v1.usage.ingest(usage=events[:101])
        close(database, NOW)

        # The server reads at the real time (no stored clock): ask for the periods up to
        # February's end.
        invoices = list(
            client.v1.customers.invoices.list(
                customer_id=customer_id, ending_before=datetime(2026, 3, 1, tzinfo=UTC)
            )
        )
        assert [(i.status, i.start_timestamp) for i in invoices] == [
            ("FINALIZED", datetime(2026, 1, 1, tzinfo=UTC)),
            ("DRAFT", datetime(2026, 2, 1, tzinfo=UTC)),
        ]
        january, february = invoices
        # January: 2 days x 72 CPU hours + the extra event (2) = 146 -> 73.00 + base 20.00
        # = 93.00; the trial credit pays 25.00 -> 68.00.
        assert january.subtotal == 9300
        assert january.total == 6800
        assert [(li.type, li.group_value, li.total) for li in january.line_items] == [
            ("usage", "EU", 4900),
            ("usage", "NA", 2400),
            ("subscription", None, 2000),
            ("applied_commit_or_credit", None, -2500),
        ]
        assert sum(li.total for li in january.line_items) == january.total
        assert february.subtotal == 5600
        assert february.total == 5600
        assert (
            client.v1.customers.invoices.retrieve(
                customer_id=customer_id, invoice_id=january.id
            ).data.total
            == 6800
        )

        # Hourly breakdowns over two days: 48 windows of each invoice's hours, 24 a page.
        hourly = client.v1.customers.invoices.list_breakdowns(
            customer_id=customer_id,
            starting_on=datetime(2026, 1, 31, tzinfo=UTC),
            ending_before=datetime(2026, 2, 2, tzinfo=UTC),
            window_size="HOUR",
        )
        pages = list(hourly.iter_pages())
        assert len(pages) == 2
        assert all(p.next_page for p in pages[:-1])
        assert pages[-1].next_page is None
        windows = [item for p in pages for item in p.data]
        assert len(windows) == 48
        cpu = [li for w in windows for li in w.line_items if li.name == "CPU"]
        assert sum(li.quantity or 0 for li in cpu) == 48 * 3
        assert {w.id for w in windows[:24]} == {january.id}
        assert {w.id for w in windows[24:]} == {february.id}

        # Daily breakdowns of all of January, 10 days a page: they add up to the invoice.
        daily = client.v1.customers.invoices.list_breakdowns(
            customer_id=customer_id,
            starting_on="2026-01-01T00:00:00Z",
            ending_before="2026-02-01T00:00:00Z",
            window_size="DAY",
            limit=10,
        )
        pages_daily = list(daily.iter_pages())
        assert len(pages_daily) == 4
        days = [item for p in pages_daily for item in p.data]
        assert len(days) == 31
        assert sum(d.total for d in days) == january.subtotal
        skipped = client.v1.customers.invoices.list_breakdowns(
            customer_id=customer_id,
            starting_on="2026-01-01T00:00:00Z",
            ending_before="2026-01-03T00:00:00Z",
            skip_zero_qty_line_items=True,
        ).data
        assert [[li.name for li in d.line_items] for d in skipped] == [["Base fee"]] * 2

        usage = list(
            client.v1.usage.list(
                starting_on=datetime(2026, 1, 30, tzinfo=UTC),
                ending_before=datetime(2026, 2, 2, tzinfo=UTC),
                window_size="DAY",
                customer_ids=[customer_id],
                billable_metrics=[{"id": metric_id, "group_by": {"key": "region"}}],
            )
        )
        assert [(u.value, u.groups) for u in usage] == [
            (74, {"EU": 50, "NA": 24}),
            (72, {"EU": 48, "NA": 24}),
            (72, {"EU": 48, "NA": 24}),
        ]

        by_region = client.v1.usage.list_with_groups(
            customer_id=customer_id,
            billable_metric_id=metric_id,
            window_size="NONE",
            starting_on=datetime(2026, 1, 30, tzinfo=UTC),
            ending_before=datetime(2026, 2, 2, tzinfo=UTC),
            group_by={"key": "region", "values": ["EU", "NA", "AP"]},
            limit=2,
        )
        assert [(g.group_value, g.value) for g in by_region] == [
            ("EU", 146),
            ("NA", 72),
            ("AP", None),
        ]

        listed = list(client.v1.customers.list(limit=1))
        assert [c.id for c in listed] == [customer_id]
        detail = client.v1.customers.retrieve(customer_id=customer_id).data
        assert detail.custom_fields == {"tier": "gold"}
        client.v1.customers.set_ingest_aliases(
            customer_id=customer_id, ingest_aliases=["team@example.com", "ops@example.com"]
        )
        assert client.v1.customers.retrieve(customer_id=customer_id).data.ingest_aliases == [
            "team@example.com",
            "ops@example.com",
        ]
        with pytest.raises(ConflictError):
            client.v1.customers.create(name="Other", ingest_aliases=["ops@example.com"])

        spare = client.v1.billable_metrics.create(
            name="Requests", event_type_filter={"in_values": ["request"]}, aggregation_type="COUNT"
        ).data.id
        assert client.v1.billable_metrics.archive(id=spare).data.id == spare
        assert [m.id for m in client.v1.billable_metrics.list()] == [metric_id]
        assert len(list(client.v1.billable_metrics.list(include_archived=True))) == 2

        credit_types = list(client.v1.pricing_units.list())
        assert [(c.name, c.is_currency) for c in credit_types] == [("USD (cents)", True)]

        with pytest.raises(NotFoundError) as missing:
            client.v1.contracts.list(customer_id=customer_id)
        assert "not implemented" in str(missing.value.body)

        assert client.v1.customers.archive(id=customer_id).data.id == customer_id
        assert list(client.v1.customers.list()) == []
        assert [c.id for c in client.v1.customers.list(only_archived=True)] == [customer_id]

    with client_for(url, "mb_nope_nope") as stranger, pytest.raises(AuthenticationError):
        stranger.v1.customers.retrieve(customer_id=customer_id)
    assert httpx.get(f"{url}/metronome/v1/customers").status_code == 401
