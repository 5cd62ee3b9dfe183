"""One story told through the official Metronome Python client, with strict response
validation, against a running ``meterbill serve``.

The same script runs with two releases of ``metronome-sdk``
(``tests/compat/test_metronome_sdk.py``): in process with the version pinned in the ``dev``
extra, and in a subprocess of a virtualenv that holds the newest release. So it imports
only the client, ``httpx`` (a dependency of the client) and the standard library, sets up
prices through ``PUT /v1/setup``, and closes periods through a callback (the pinned run
calls the service; the subprocess runs ``meterbill close``).

Parameters newer than the pinned client (``invoices.list``'s ``type`` and
``contract_id``, ``usage.list_with_groups``' ``group_key`` and ``group_filters``) are sent
as real keyword arguments when the client has them, else through ``extra_query`` /
``extra_body``, so both runs check the server's answer to them.

Usage as a script: ``python metronome_sdk_scenario.py BASE_URL ADMIN_SECRET MB_EXE DB_URL``.
"""

import inspect
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import metronome
from metronome import AuthenticationError, BadRequestError, ConflictError, Metronome, NotFoundError

__all__ = ["CLOSE_AS_OF", "run"]

CLOSE_AS_OF = "2026-02-10T00:00:00Z"
"""The time the scenario closes January at (its grace period is over)."""


def check(got: object, want: object, what: str) -> None:
    """``assert got == want`` with both values in the message (the subprocess run has no
    pytest assertion rewriting)."""
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def cpu_event(txn: str, customer: str, stamp: str, hours: object, region: str) -> Any:
    return {
        "transaction_id": txn,
        "customer_id": customer,
        "event_type": "cpu_usage",
        "timestamp": stamp,
        "properties": {"cpu_hours": hours, "region": region},
    }


def client_for(url: str, secret: str) -> Metronome:
    return Metronome(
        bearer_token=secret,
        base_url=f"{url}/metronome",
        _strict_response_validation=True,
        max_retries=0,
    )


def _accepts(method: Callable[..., object], name: str) -> bool:
    return name in inspect.signature(method).parameters


def _setup(customer_id: str) -> dict[str, object]:
    return {
        "products": [
            {
                "key": "cpu",
                "name": "CPU",
                "meter": "cpu_hours",
                "price": {"model": "per_unit", "unit_price": "0.5"},
            },
            {"key": "base", "name": "Base fee", "price": {"model": "flat", "amount": "20.00"}},
        ],
        "plans": [
            {"key": "cloud", "name": "Cloud", "interval": "month", "products": ["cpu", "base"]}
        ],
        "customers": [
            {
                "id": customer_id,
                "name": "Example, Inc.",
                "aliases": ["team@example.com"],
                "subscriptions": [{"plan": "cloud", "starts_at": "2026-01-01T00:00:00Z"}],
                "credits": [
                    {
                        "key": "trial",
                        "kind": "free",
                        "amount": "25.00",
                        "starts_at": "2026-01-01T00:00:00Z",
                    }
                ],
            }
        ],
    }


def run(url: str, admin: str, close: Callable[[str], None]) -> None:
    """The whole story; raises ``AssertionError`` at the first difference."""
    with client_for(url, admin) as client:
        created = client.v1.customers.create(
            name="Example, Inc.",
            ingest_aliases=["team@example.com"],
            custom_fields={"tier": "gold"},
        ).data
        check(created.external_id, "team@example.com", "external_id")
        check(created.ingest_aliases, ["team@example.com"], "ingest_aliases")
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
        check(metric.aggregation_type, "SUM", "aggregation_type")
        check(metric.custom_fields, {"meterbill_meter_key": "cpu_hours"}, "metric custom_fields")

        # Prices come from the setup file: a product names the new meter key, and the
        # Metronome customer (whose meterbill id is its Metronome id) gets a subscription.
        applied = httpx.put(
            f"{url}/v1/setup",
            json=_setup(customer_id),
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        )
        check(applied.status_code, 200, f"PUT /v1/setup: {applied.text}")

        # Every hour from Jan 30 00:00 to Feb 2 00:00: 2 CPU hours in EU (through the
        # alias) and 1 in NA (through the Metronome id) -> 72 hours x 3 = 216 CPU hours.
        events: list[Any] = []
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
        _raises(
            BadRequestError,
            lambda: client.v1.usage.ingest(
                usage=[cpu_event("x", customer_id, "yesterday", 1, "EU")]
            ),
        )
        _raises(BadRequestError, lambda: client.v1.usage.ingest(usage=events[:101]))
        close(CLOSE_AS_OF)

        _invoices(client, customer_id)
        _breakdowns(client, customer_id)
        _usage(client, customer_id, metric_id)
        _customers_and_metrics(client, customer_id, metric_id)

    with client_for(url, "mb_nope_nope") as stranger:
        _raises(
            AuthenticationError, lambda: stranger.v1.customers.retrieve(customer_id=customer_id)
        )
    check(httpx.get(f"{url}/metronome/v1/customers").status_code, 401, "no key")


def _raises(kind: type[Exception], call: Callable[[], object]) -> Exception:
    try:
        call()
    except kind as error:
        return error
    raise AssertionError(f"expected {kind.__name__}")


def _invoices(client: Metronome, customer_id: str) -> None:
    # The server reads at the real time (no stored clock): ask for the periods up to
    # February's end.
    march = datetime(2026, 3, 1, tzinfo=UTC)
    invoices = list(client.v1.customers.invoices.list(customer_id=customer_id, ending_before=march))
    check(
        [(i.status, i.start_timestamp) for i in invoices],
        [
            ("FINALIZED", datetime(2026, 1, 1, tzinfo=UTC)),
            ("DRAFT", datetime(2026, 2, 1, tzinfo=UTC)),
        ],
        "invoices",
    )
    january, february = invoices
    # January: 2 days x 72 CPU hours + the extra event (2) = 146 -> 73.00 + base 20.00
    # = 93.00; the trial credit pays 25.00 -> 68.00.
    check((january.subtotal, january.total), (9300, 6800), "January subtotal, total")
    check(
        [(li.type, li.group_value, li.total, li.unit_price) for li in january.line_items],
        [
            ("usage", "EU", 4900, 50),
            ("usage", "NA", 2400, 50),
            ("subscription", None, 2000, None),
            ("applied_commit_or_credit", None, -2500, None),
        ],
        "January lines",
    )
    check(sum(li.total for li in january.line_items), january.total, "lines add up")
    check((february.subtotal, february.total), (5600, 5600), "February subtotal, total")
    retrieved = client.v1.customers.invoices.retrieve(
        customer_id=customer_id, invoice_id=january.id
    )
    check(retrieved.data.total, 6800, "retrieved total")

    # type and contract_id (newer clients send them; older ones through extra_query).
    listing = client.v1.customers.invoices.list
    native = _accepts(listing, "type") and _accepts(listing, "contract_id")

    def typed(**filters: str) -> list[str]:
        if native:
            found = cast(Any, listing)(customer_id=customer_id, ending_before=march, **filters)
        else:
            found = listing(customer_id=customer_id, ending_before=march, extra_query=filters)
        return [i.id for i in found]

    check(typed(type="USAGE"), [january.id, february.id], "type=USAGE")
    check(typed(type="SCHEDULED"), [], "type=SCHEDULED")
    check(typed(type="USAGE_CONSOLIDATED"), [], "type=USAGE_CONSOLIDATED")
    check(typed(contract_id="0b0f2c3e-1d4a-4e8b-9c7d-5a6f7e8d9c0b"), [], "contract_id")


def _breakdowns(client: Metronome, customer_id: str) -> None:
    january_id, february_id = (
        i.id
        for i in client.v1.customers.invoices.list(
            customer_id=customer_id, ending_before=datetime(2026, 3, 1, tzinfo=UTC)
        )
    )
    # Hourly breakdowns over two days: 48 windows of each invoice's hours, 24 a page.
    hourly = client.v1.customers.invoices.list_breakdowns(
        customer_id=customer_id,
        starting_on=datetime(2026, 1, 31, tzinfo=UTC),
        ending_before=datetime(2026, 2, 2, tzinfo=UTC),
        window_size="HOUR",
    )
    pages = list(hourly.iter_pages())
    check(len(pages), 2, "hourly pages")
    check(all(p.next_page for p in pages[:-1]), True, "next_page on every page but the last")
    check(pages[-1].next_page, None, "last next_page")
    windows = [item for p in pages for item in p.data]
    check(len(windows), 48, "hourly windows")
    cpu = [li for w in windows for li in w.line_items if li.name == "CPU"]
    check(sum(li.quantity or 0 for li in cpu), 48 * 3, "hourly CPU hours")
    check({w.id for w in windows[:24]}, {january_id}, "first day's invoice")
    check({w.id for w in windows[24:]}, {february_id}, "second day's invoice")

    # Daily breakdowns of all of January, 10 days a page: they add up to the invoice.
    daily = client.v1.customers.invoices.list_breakdowns(
        customer_id=customer_id,
        starting_on="2026-01-01T00:00:00Z",
        ending_before="2026-02-01T00:00:00Z",
        window_size="DAY",
        limit=10,
    )
    pages_daily = list(daily.iter_pages())
    check(len(pages_daily), 4, "daily pages")
    days = [item for p in pages_daily for item in p.data]
    check(len(days), 31, "days")
    check(sum(d.total for d in days), 9300, "days add up to January's subtotal")
    skipped = client.v1.customers.invoices.list_breakdowns(
        customer_id=customer_id,
        starting_on="2026-01-01T00:00:00Z",
        ending_before="2026-01-03T00:00:00Z",
        skip_zero_qty_line_items=True,
    ).data
    check([[li.name for li in d.line_items] for d in skipped], [["Base fee"]] * 2, "skip zero")


def _usage(client: Metronome, customer_id: str, metric_id: str) -> None:
    since = datetime(2026, 1, 30, tzinfo=UTC)
    until = datetime(2026, 2, 2, tzinfo=UTC)
    usage = list(
        client.v1.usage.list(
            starting_on=since,
            ending_before=until,
            window_size="DAY",
            customer_ids=[customer_id],
            billable_metrics=[{"id": metric_id, "group_by": {"key": "region"}}],
        )
    )
    check(
        [(u.value, u.groups) for u in usage],
        [(74, {"EU": 50, "NA": 24}), (72, {"EU": 48, "NA": 24}), (72, {"EU": 48, "NA": 24})],
        "usage.list",
    )

    by_region = client.v1.usage.list_with_groups(
        customer_id=customer_id,
        billable_metric_id=metric_id,
        window_size="NONE",
        starting_on=since,
        ending_before=until,
        group_by={"key": "region", "values": ["EU", "NA", "AP"]},
        limit=2,
    )
    check(
        [(g.group_key, g.group_value, getattr(g, "group", None), g.value) for g in by_region],
        [
            ("region", "EU", {"region": "EU"}, 146),
            ("region", "NA", {"region": "NA"}, 72),
            ("region", "AP", {"region": "AP"}, None),
        ],
        "list_with_groups group_by",
    )

    # group_key and group_filters: the newer way to group (older clients: extra_body).
    grouping: dict[str, Any] = {"group_key": ["region"], "group_filters": {"region": ["NA"]}}
    method = client.v1.usage.list_with_groups
    common: dict[str, Any] = {
        "customer_id": customer_id,
        "billable_metric_id": metric_id,
        "window_size": "DAY",
        "starting_on": since,
        "ending_before": until,
    }
    if _accepts(method, "group_key"):
        filtered = list(method(**common, **grouping))
    else:
        filtered = list(method(**common, extra_body=grouping))
    check(
        [
            (g.starting_on.day, g.group_key, g.group_value, getattr(g, "group", None), g.value)
            for g in filtered
        ],
        [
            (30, "region", "NA", {"region": "NA"}, 24),
            (31, "region", "NA", {"region": "NA"}, 24),
            (1, "region", "NA", {"region": "NA"}, 24),
        ],
        "list_with_groups group_key + group_filters",
    )
    ungrouped = list(method(**common))
    check(
        [(g.group_key, getattr(g, "group", None), g.value) for g in ungrouped],
        [(None, None, 74), (None, None, 72), (None, None, 72)],
        "list_with_groups without grouping",
    )
    bad = {**grouping, "group_key": ["team"]}
    if _accepts(method, "group_key"):
        _raises(BadRequestError, lambda: list(method(**common, **bad)))
    else:
        _raises(BadRequestError, lambda: list(method(**common, extra_body=bad)))


def _customers_and_metrics(client: Metronome, customer_id: str, metric_id: str) -> None:
    listed = list(client.v1.customers.list(limit=1))
    check([c.id for c in listed], [customer_id], "customers.list")
    detail = client.v1.customers.retrieve(customer_id=customer_id).data
    check(detail.custom_fields, {"tier": "gold"}, "custom_fields")
    client.v1.customers.set_ingest_aliases(
        customer_id=customer_id, ingest_aliases=["team@example.com", "ops@example.com"]
    )
    check(
        client.v1.customers.retrieve(customer_id=customer_id).data.ingest_aliases,
        ["team@example.com", "ops@example.com"],
        "aliases set",
    )
    _raises(
        ConflictError,
        lambda: client.v1.customers.create(name="Other", ingest_aliases=["ops@example.com"]),
    )

    spare = client.v1.billable_metrics.create(
        name="Requests", event_type_filter={"in_values": ["request"]}, aggregation_type="COUNT"
    ).data.id
    check(client.v1.billable_metrics.archive(id=spare).data.id, spare, "archived metric")
    check([m.id for m in client.v1.billable_metrics.list()], [metric_id], "metrics")
    check(len(list(client.v1.billable_metrics.list(include_archived=True))), 2, "all metrics")

    credit_types = list(client.v1.pricing_units.list())
    check([(c.name, c.is_currency) for c in credit_types], [("USD (cents)", True)], "units")

    missing = _raises(NotFoundError, lambda: client.v1.contracts.list(customer_id=customer_id))
    assert isinstance(missing, NotFoundError)
    check("not implemented" in str(missing.body), True, "not implemented message")

    check(client.v1.customers.archive(id=customer_id).data.id, customer_id, "archive")
    check(list(client.v1.customers.list()), [], "active customers")
    check(
        [c.id for c in client.v1.customers.list(only_archived=True)],
        [customer_id],
        "archived customers",
    )


def _main(argv: list[str]) -> None:
    url, admin, executable, database = argv
    print(f"metronome-sdk {metronome.__version__}", flush=True)

    def close(as_of: str) -> None:
        subprocess.run(
            [executable, "--database", database, "close", "--as-of", as_of],
            check=True,
            capture_output=True,
            timeout=300,
        )

    run(url, admin, close)
    print("ok", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
