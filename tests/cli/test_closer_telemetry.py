"""Issue 10: the background closer of ``meterbill serve`` logs what it does (one JSON line
per invoice issued, with its number, and per customer it cannot close) and counts it in the
metrics, on SQLite and PostgreSQL.

The world of ``tests/services/test_close_per_customer.py``: at 2026-02-02 acme and zeta get
their January invoices (numbers 1 and 2, totals 1.00 and 2.00) and big cannot be invoiced.
"""

import io
import json
import threading
from datetime import datetime

from meterbill.api.telemetry import Telemetry
from meterbill.cli.serve import start_closer
from tests.services.support import open_world
from tests.services.test_close_per_customer import EVENTS, WHERE, at, document


def test_one_close_is_logged_and_counted(db_url: str, json_logs: io.StringIO) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(EVENTS, now=at("2026-01-10T00:00:00"))
        telemetry = Telemetry(world.database)
        stop = threading.Event()

        def once() -> datetime:
            stop.set()  # this pass is the last one
            return at("2026-02-02T00:00:00")

        thread = start_closer(
            world.database, every=0.01, stop=stop, clock=once, telemetry=telemetry
        )
        thread.join(timeout=60)
        assert not thread.is_alive()
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    closer = [line for line in lines if line["logger"] == "meterbill.closer"]
    issued = [line for line in closer if line.get("action") == "invoice_issued"]
    assert [
        (line["customer_id"], line["invoice_number"], line["total"], line["level"])
        for line in issued
    ] == [("acme", 1, "1.00", "info"), ("zeta", 2, "2.00", "info")]
    assert issued[0]["event"] == "issued invoice #1 for acme"
    assert issued[0]["period_start"] == "2026-01-01T00:00:00Z"
    assert issued[0]["period_end"] == "2026-02-01T00:00:00Z"
    assert issued[0]["currency"] == "USD"
    assert str(issued[0]["invoice_id"])
    [failed] = [line for line in closer if line.get("action") == "close_failed"]
    assert failed["customer_id"] == "big"
    assert failed["level"] == "error"
    assert WHERE in str(failed["reason"])
    [summary] = [line for line in closer if line.get("action") == "close"]
    assert (summary["issued"], summary["failed"]) == (2, 1)
    assert summary["as_of"] == "2026-02-02T00:00:00Z"
    assert "request_id" not in summary
    registry = telemetry.registry
    assert registry.get_sample_value("meterbill_invoices_issued_total") == 2
    assert registry.get_sample_value("meterbill_close_failures_total") == 1
    assert registry.get_sample_value("meterbill_close_errors_total") == 0
    assert (registry.get_sample_value("meterbill_close_last_success_timestamp_seconds") or 0) > 0


def test_a_close_that_fails_whole_is_counted(db_url: str, json_logs: io.StringIO) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        telemetry = Telemetry(world.database)
        stop = threading.Event()

        def broken() -> datetime:
            stop.set()
            raise RuntimeError("the clock broke")

        thread = start_closer(
            world.database, every=0.01, stop=stop, clock=broken, telemetry=telemetry
        )
        thread.join(timeout=60)
    assert telemetry.registry.get_sample_value("meterbill_close_errors_total") == 1
    assert telemetry.registry.get_sample_value("meterbill_invoices_issued_total") == 0
    [line] = [json.loads(x) for x in json_logs.getvalue().splitlines() if "closer" in x]
    assert line["event"] == "background close failed; retrying in 0.01 s"
    assert "RuntimeError: the clock broke" in line["exception"]
