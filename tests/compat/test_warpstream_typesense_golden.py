"""Every golden scenario through both compatible APIs, against ``expected.json``.

WarpStream: the current period's draft is read with ``get_pending_invoice`` (the charges
accrued up to the clock: its time-weighted lines are recomputed here by hand from the
scenario's events, the rest is the expected draft), every
finalized period with ``get_past_invoice`` (from its first, a middle and its last day), and
each expected daily breakdown with ``get_invoice_breakdowns`` over the breakdown's period;
amounts must match to the cent, quantities to 12 decimal places, and the tree levels must
add up.

Typesense: the listing must hold exactly the finalized invoices, newest first, with
``amount_cents`` (the subtotal) and the ``payment`` block to the cent; each invoice's
``line_items`` must carry every expected line's ``price_cents`` and add up to
``amount_cents``.

One module for both APIs so that each (backend, scenario) world is loaded once.
"""

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from meterbill.core.events import parse_timestamp
from meterbill.services.links import link_secret, verify_invoice_link_token
from tests.compat.conftest_wt import (
    COMPAT_WARNINGS,
    GOLDEN,
    TS_HEADER,
    WS_HEADER,
    World,
    compat_database_url,
    error_code,
    exact,
    golden_world,
    unix,
)
from tests.golden import SCENARIOS

pytestmark = [COMPAT_WARNINGS, pytest.mark.skipif(not SCENARIOS, reason="no golden scenarios")]

WS_BASE = "/api/v1/billing/invoices"
CREDIT_NAMES = {"free": "Free credits", "commit": "Commit credits", "prepaid": "Prepaid credits"}
ChargeKey = tuple[str | None, str, Decimal]  # (cluster or None for the account, product, unit)


@pytest.fixture(scope="module", params=GOLDEN)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    backend, scenario = request.param
    with golden_world(compat_database_url(request, backend), scenario) as loaded:
        yield loaded


def call(world: World, name: str, body: dict[str, str] | None = None) -> Any:
    response = world.client.post(f"{WS_BASE}/{name}", json=body, headers={WS_HEADER: world.own})
    assert response.status_code == 200, response.text
    return exact(response)


def expected_invoices(world: World) -> list[dict[str, Any]]:
    assert world.scenario is not None
    invoices = world.scenario.expected["invoices"]
    assert isinstance(invoices, dict)
    found: list[dict[str, Any]] = invoices[world.customer]
    return found


def resources(world: World) -> dict[str, dict[str, Any]]:
    assert world.scenario is not None
    customers = world.scenario.setup["customers"]
    assert isinstance(customers, list)
    customer = next(c for c in customers if c["id"] == world.customer)
    return {r["id"]: r for r in customer.get("resources", [])}


def _q(value: object) -> Decimal:
    return round(Decimal(str(value)), 12)


def expected_charges(
    world: World, invoice: dict[str, Any]
) -> dict[ChargeKey, tuple[Decimal, Decimal]]:
    """(cluster, product, unit price) → (quantity, total) from expected.json; lines whose
    group names no resource are account charges, credits one negative line per kind."""
    tree = resources(world)
    result: dict[ChargeKey, tuple[Decimal, Decimal]] = {}
    for line in invoice["lines"]:
        cluster = next((v for v in line["group"].values() if v in tree), None)
        unit = Decimal(line.get("unit_price") or line["amount"])
        key = (cluster, line["name"], unit.normalize())
        quantity, amount = result.get(key, (Decimal(0), Decimal(0)))
        result[key] = (quantity + Decimal(line["quantity"]), amount + Decimal(line["amount"]))
    for kind, name in CREDIT_NAMES.items():
        used = sum(
            (Decimal(c["amount"]) for c in invoice["credits"] if c["kind"] == kind), Decimal(0)
        )
        if used:
            result[(None, name, (-used).normalize())] = (Decimal(1), -used)
    return result


def rendered_charges(document: dict[str, Any]) -> dict[ChargeKey, tuple[Decimal, Decimal]]:
    """The same map read from a WarpStream invoice, checking every level's total on the way."""
    result: dict[ChargeKey, tuple[Decimal, Decimal]] = {}
    grand = Decimal(0)
    for tenant in document["tenants"]:
        tenant_total = Decimal(0)
        for workspace in tenant["workspaces"]:
            workspace_total = Decimal(0)
            for cluster in workspace["clusters"]:
                cluster_total = Decimal(0)
                for charge in cluster["charges"]:
                    key = (
                        cluster["virtual_cluster_id"],
                        charge["product"],
                        Decimal(charge["unit_price"]).normalize(),
                    )
                    assert key not in result, f"charge listed twice: {key}"
                    result[key] = (Decimal(charge["quantity"]), Decimal(charge["total"]))
                    cluster_total += Decimal(charge["total"])
                assert Decimal(cluster["total"]) == cluster_total, cluster
                workspace_total += cluster_total
            assert Decimal(workspace["total"]) == workspace_total, workspace
            tenant_total += workspace_total
        assert Decimal(tenant["total"]) == tenant_total, tenant
        grand += tenant_total
    for charge in document["account_charges"]:
        key = (None, charge["product"], Decimal(charge["unit_price"]).normalize())
        assert key not in result, f"charge listed twice: {key}"
        result[key] = (Decimal(charge["quantity"]), Decimal(charge["total"]))
        grand += Decimal(charge["total"])
    assert Decimal(document["total"]) == grand
    return result


def check_invoice(world: World, document: dict[str, Any], invoice: dict[str, Any]) -> list[str]:
    where = f"{world.customer} {invoice['period_start']}"
    problems: list[str] = []
    start = parse_timestamp(invoice["period_start"]).date().isoformat()
    end = parse_timestamp(invoice["period_end"]).date().isoformat()
    if (document["date_from"], document["date_to"]) != (start, end):
        problems.append(f"{where}: dates {document['date_from']} → {document['date_to']}")
    if Decimal(document["total"]) != Decimal(invoice["total"]):
        problems.append(f"{where}: total {document['total']} != {invoice['total']}")
    want = expected_charges(world, invoice)
    got = rendered_charges(document)
    for key, (quantity, amount) in want.items():
        if key not in got:
            problems.append(f"{where}: missing charge {key}")
            continue
        have_quantity, have_amount = got.pop(key)
        if _q(have_quantity) != _q(quantity) or have_amount != amount:
            problems.append(
                f"{where} {key}: {have_quantity} / {have_amount} != {quantity} / {amount}"
            )
    problems.extend(f"{where}: unexpected charge {key}" for key in got)
    # Each cluster sits under the workspace and tenant of the resource tree.
    tree = resources(world)
    for tenant in document["tenants"]:
        for workspace in tenant["workspaces"]:
            for cluster in workspace["clusters"]:
                parent = tree[cluster["virtual_cluster_id"]].get("parent")
                grand = tree[parent].get("parent") if parent else None
                if (workspace["workspace_id"], tenant["tenant_id"]) != (parent, grand):
                    problems.append(f"{where}: {cluster['virtual_cluster_id']} misplaced")
    return problems


def time_weighted_quantity(
    world: World, meter: dict[str, Any], group: dict[str, str], start: datetime, end: datetime
) -> Decimal:
    """By hand (spec 4.2), from the scenario's raw events: the sum over [start, end) of each
    value × the hours it holds; a value holds from its event until the next event of the
    same group, and the latest value before ``start`` carries in. Events are the readable
    ones of the customer or its aliases, each transaction once."""
    assert world.scenario is not None
    customers = world.scenario.setup["customers"]
    assert isinstance(customers, list)
    customer = next(c for c in customers if c["id"] == world.customer)
    names = {customer["id"], *customer.get("aliases", [])}
    types = meter["event_type"] if isinstance(meter["event_type"], list) else [meter["event_type"]]
    seen: set[str] = set()
    points: list[tuple[datetime, str, Decimal]] = []
    for text in world.scenario.events.read_text().splitlines():
        try:
            event = json.loads(text)
            moment = parse_timestamp(event["timestamp"])
            value = Decimal(str(event["properties"][meter["property"]]))
        except (ValueError, KeyError, TypeError, ArithmeticError):
            continue
        if event["customer_id"] not in names or event["event_type"] not in types:
            continue
        if not value.is_finite() or event["transaction_id"] in seen:
            continue
        properties = event["properties"]
        if any(str(properties.get(key, "")) != wanted for key, wanted in group.items()):
            continue
        seen.add(event["transaction_id"])
        points.append((moment, event["transaction_id"], value))
    points.sort()
    held = Decimal(0)
    current: Decimal | None = None
    since = start
    for moment, _, value in points:
        if moment >= end:
            break
        if moment > start and current is not None:
            held += current * Decimal((moment - since).total_seconds()) / 3600
        current = value
        since = max(moment, start)
    if current is not None:
        held += current * Decimal((end - since).total_seconds()) / 3600
    return held


def accrued_draft(world: World, invoice: dict[str, Any]) -> dict[str, Any]:
    """The expected draft as WarpStream's pending invoice shows it: the charges accrued up
    to the clock. The native draft (``expected.json``) holds a time-weighted value until the
    period end; the pending invoice only until the clock, so those lines are recomputed by
    hand (per-unit prices: quantity × unit price, rounded half-up to the cent). Everything
    else — other usage, flat fees — is the expected draft's."""
    assert world.scenario is not None
    setup = world.scenario.setup
    meters = {m["key"]: m for m in setup["meters"]}  # type: ignore[attr-defined]
    products = {p["key"]: p for p in setup["products"]}  # type: ignore[attr-defined]
    start = parse_timestamp(invoice["period_start"])
    lines: list[dict[str, Any]] = []
    changed = False
    for line in invoice["lines"]:
        product = products.get(line.get("product") or "")
        meter = meters.get(product.get("meter")) if product is not None else None
        if meter is None or meter["aggregation"] != "time_weighted":
            lines.append(line)
            continue
        assert product is not None
        assert product["price"]["model"] == "per_unit"
        divisor = Decimal(product.get("quantity_divisor", "1"))
        quantity = time_weighted_quantity(world, meter, line["group"], start, world.clock)
        quantity /= divisor
        amount = (quantity * Decimal(product["price"]["unit_price"])).quantize(
            Decimal("0.01"), ROUND_HALF_UP
        )
        lines.append({**line, "quantity": str(quantity), "amount": str(amount)})
        changed = True
    if not changed:
        return invoice
    subtotal = sum((Decimal(line["amount"]) for line in lines), Decimal(0))
    credits = Decimal(invoice["credits_applied"])
    # The grants were used up and the accrued charges still exceed them: the same credits.
    assert Decimal(invoice["credit_balance_after"]) == 0
    assert subtotal >= credits
    return {**invoice, "lines": lines, "subtotal": str(subtotal), "total": str(subtotal - credits)}


def test_the_warp_pending_invoice_accrues_storage_by_hand(world: World) -> None:
    """The warp scenario's February draft at 10 February: 9 of the period's 28 days. The
    storage lines of the pending invoice are what the events held until then, less than the
    native draft's projection to 1 March; every other line is the native draft's."""
    if world.customer != "acme-stream":
        pytest.skip("hand-computed for the warp scenario")
    draft = expected_invoices(world)[-1]
    accrued = accrued_draft(world, draft)
    storage = [line for line in accrued["lines"] if line["product"] == "gib_hours"]
    projected = [line for line in draft["lines"] if line["product"] == "gib_hours"]
    assert len(storage) == len(projected) == 2
    for now, then in zip(storage, projected, strict=True):
        assert Decimal(0) < Decimal(now["quantity"]) < Decimal(then["quantity"])
    # Hand figures: held until 10 February 00:00; 573.89 = 1241.48 − 667.59 of credits.
    assert [(s["quantity"], s["amount"]) for s in storage] == [
        ("774204.108", "10.61"),
        ("47326.362", "0.65"),
    ]
    assert (accrued["subtotal"], accrued["total"]) == ("1241.48", "573.89")
    document = call(world, "get_pending_invoice")
    assert Decimal(document["total"]) == Decimal("573.89")
    # The native draft still projects to the period end (spec 4.2, expected.json).
    native = world.client.get(
        f"/v1/customers/{world.customer}/invoices",
        params={"status": "draft"},
        headers={"Authorization": f"Bearer {world.admin}"},
    )
    assert native.status_code == 200, native.text
    (native_draft,) = native.json()["data"]
    assert [
        (line["quantity"], line["amount"])
        for line in native_draft["lines"]
        if line["product"] == "gib_hours"
    ] == [(line["quantity"], line["amount"]) for line in projected]
    assert native_draft["total"] == "601.65"


def test_every_invoice_renders_as_expected(world: World) -> None:
    problems: list[str] = []
    for invoice in expected_invoices(world):
        start = parse_timestamp(invoice["period_start"])
        end = parse_timestamp(invoice["period_end"])
        if invoice["status"] == "draft":
            assert start <= world.clock < end, "a draft that is not the current period"
            pending = call(world, "get_pending_invoice")
            problems.extend(check_invoice(world, pending, accrued_draft(world, invoice)))
            continue
        last = (end - timedelta(days=1)).date()
        documents = [
            call(world, "get_past_invoice", {"date_start": day.isoformat()})
            for day in (start.date(), start.date() + (last - start.date()) / 2, last)
        ]
        assert documents[0] == documents[1] == documents[2]
        problems.extend(check_invoice(world, documents[0], invoice))
    assert problems == [], "\n".join(problems)


def test_days_without_a_finalized_period_are_not_found(world: World) -> None:
    invoices = expected_invoices(world)
    before = parse_timestamp(invoices[0]["period_start"]).date() - timedelta(days=1)
    for day in (before, world.clock.date(), date(2099, 1, 1)):
        response = world.client.post(
            f"{WS_BASE}/get_past_invoice",
            json={"date_start": day.isoformat()},
            headers={WS_HEADER: world.own},
        )
        assert error_code(response, 404) == "not_found"


def test_every_expected_breakdown_matches(world: World) -> None:
    assert world.scenario is not None
    breakdowns = world.scenario.expected["breakdowns"]
    assert isinstance(breakdowns, list)
    invoices = {i["period_start"]: i for i in expected_invoices(world)}
    tree = resources(world)
    problems: list[str] = []
    for wanted in breakdowns:
        assert wanted["customer"] == world.customer
        assert wanted["window"] == "day"
        invoice = invoices[wanted["period_start"]]
        start = parse_timestamp(invoice["period_start"]).date()
        end = parse_timestamp(invoice["period_end"]).date()
        document = call(
            world,
            "get_invoice_breakdowns",
            {"date_start": start.isoformat(), "date_end": end.isoformat()},
        )
        assert (document["date_from"], document["date_to"]) == (start.isoformat(), end.isoformat())
        names = {row["line"] for row in wanted["rows"]}
        got: dict[tuple[str, str, str], tuple[Decimal, Decimal]] = {}
        for tenant in document["tenants"]:
            for workspace in tenant["workspaces"]:
                for cluster in workspace["clusters"]:
                    resource = tree[cluster["virtual_cluster_id"]]
                    assert cluster["cluster_name"] == resource.get("name")
                    region = resource.get("attributes", {}).get("region")
                    assert cluster["cluster_regions"] == ([region] if region else [])
                    for charge in cluster["charges"]:
                        if charge["product"] not in names:
                            continue
                        for day in charge["breakdowns"]:
                            following = date.fromisoformat(day["date_from"]) + timedelta(days=1)
                            assert day["date_to"] == following.isoformat()
                            key = (
                                day["date_from"],
                                cluster["virtual_cluster_id"],
                                charge["product"],
                            )
                            assert key not in got
                            got[key] = (Decimal(day["quantity"]), Decimal(day["total"]))
        where = f"breakdown {wanted['product']} {wanted['period_start']}"
        for row in wanted["rows"]:
            (cluster_id,) = row["group"].values()
            key = (row["date"], cluster_id, row["line"])
            figure = got.pop(key, None)
            if figure is None:
                problems.append(f"{where}: missing {key}")
            elif _q(figure[0]) != _q(row["quantity"]) or figure[1] != Decimal(row["amount"]):
                problems.append(f"{where} {key}: {figure} != {row['quantity']} / {row['amount']}")
        problems.extend(f"{where}: unexpected {key}" for key in got)
    assert problems == [], "\n".join(problems)


def test_warp_january_tree_by_hand(world: World) -> None:
    """The warp scenario's January, level by level, from the expected.json lines:
    vci_events 103.33 + 512.00 + 35.54 + 19.99 = 670.86 (workspace prod);
    vci_logs 34.37 + 26.14 + 1.04 = 61.55 (workspace dev); tenant ti_acme 732.41;
    account: support 1000.00 and the commit grant's -1732.41; total 0.00."""
    assert world.scenario is not None
    if world.scenario.name != "warp":
        pytest.skip("hand-computed for the warp scenario")
    document = call(world, "get_past_invoice", {"date_start": "2026-01-15"})
    (tenant,) = document["tenants"]
    assert tenant["tenant_id"] == "ti_acme"
    totals = {
        (w["workspace_id"], c["virtual_cluster_id"]): (w["total"], c["total"])
        for w in tenant["workspaces"]
        for c in w["clusters"]
    }
    assert totals == {
        ("wi_prod", "vci_events"): (Decimal("670.86"), Decimal("670.86")),
        ("wi_dev", "vci_logs"): (Decimal("61.55"), Decimal("61.55")),
    }
    assert tenant["total"] == Decimal("732.41")
    assert document["account_charges"] == [
        {
            "product": "Support - Pro",
            "unit_price": 1000,
            "quantity": 1,
            "total": Decimal("1000.00"),
        },
        {
            "product": "Commit credits",
            "unit_price": Decimal("-1732.41"),
            "quantity": 1,
            "total": Decimal("-1732.41"),
        },
    ]
    assert document["total"] == Decimal("0.00")
    # The cents are written as such: "total":0.00, never a float's 0.0 or an exponent.
    raw = world.client.post(
        f"{WS_BASE}/get_past_invoice",
        json={"date_start": "2026-01-15"},
        headers={WS_HEADER: world.own},
    ).text
    assert '"total":0.00}' in raw
    assert '"unit_price":0.0000137' in raw
    assert json.loads(raw)["tenants"][0]["workspaces"][0]["clusters"][0]["total"] == 670.86


# --- Typesense ---

TS_BASE = "/api/v1/invoices"
STATUS = {"issued": "due", "paid": "paid"}


def get(world: World, url: str, **params: object) -> Any:
    response = world.client.get(url, params=params, headers={TS_HEADER: world.own})
    assert response.status_code == 200, response.text
    return exact(response)


def cents(text: str) -> int:
    value = Decimal(text) * 100
    assert value == value.to_integral_value()
    return int(value)


def finalized(world: World) -> list[dict[str, Any]]:
    """The expected finalized invoices, newest first."""
    assert world.scenario is not None
    invoices = world.scenario.expected["invoices"]
    assert isinstance(invoices, dict)
    found = [i for i in invoices[world.customer] if i["status"] != "draft"]
    return sorted(found, key=lambda i: str(i["period_start"]), reverse=True)


def customer_setup(world: World) -> dict[str, Any]:
    assert world.scenario is not None
    customers = world.scenario.setup["customers"]
    assert isinstance(customers, list)
    found: dict[str, Any] = next(c for c in customers if c["id"] == world.customer)
    return found


def test_the_listing_matches_expected(world: World) -> None:
    listing = get(world, TS_BASE)
    wanted = finalized(world)
    assert (listing["page"], listing["per_page"], listing["total"]) == (1, 10, len(wanted))
    assert len(listing["invoices"]) == len(wanted)
    customer = customer_setup(world)
    with world.database.transaction() as session:
        secret = link_secret(session)
    numbers: list[int] = []
    for summary, invoice in zip(listing["invoices"], wanted, strict=True):
        assert "line_items" not in summary
        assert summary["status"] == STATUS[invoice["status"]]
        assert summary["amount_cents"] == cents(invoice["subtotal"])
        assert summary["payment"] == {
            "paid_via_card_cents": 0,
            "paid_via_credits_cents": cents(invoice["credits_applied"]),
            "credit_balance_snapshot_cents": cents(invoice["credit_balance_after"]),
        }
        assert summary["period_starts_at"] == unix(invoice["period_start"])
        assert summary["period_ends_at"] == unix(invoice["period_end"]) - 1
        assert summary["invoice_date"] == int(world.clock.timestamp())
        assert summary["account"] == {
            "owner_name": customer["name"],
            "owner_type": customer.get("owner_type"),
            "billing_email": customer.get("billing_email"),
            "additional_billing_information": customer.get("additional_billing_information"),
        }
        assert summary["line_items_path"] == f"{TS_BASE}/{summary['id']}"
        prefix = "http://testserver/invoices/"
        assert summary["invoice_html_url"].startswith(prefix)
        token = summary["invoice_html_url"].removeprefix(prefix)
        assert verify_invoice_link_token(secret, token) == summary["id"]
        assert summary["id"] not in summary["invoice_html_url"]
        assert isinstance(summary["number"], int)
        numbers.append(summary["number"])
    assert numbers == sorted(numbers, reverse=True)


def _item_key(kind: str, group: dict[str, str], name: str, unit_cents: Decimal) -> str:
    return json.dumps([kind, group or name, str(unit_cents.normalize())], sort_keys=True)


def test_every_line_item_matches_expected(world: World) -> None:
    listing = get(world, TS_BASE)
    problems: list[str] = []
    for summary, invoice in zip(listing["invoices"], finalized(world), strict=True):
        detail = get(world, summary["line_items_path"])
        assert {k: v for k, v in detail.items() if k != "line_items"} == summary
        items = detail["line_items"]
        assert sum(item["price_cents"] for item in items) == detail["amount_cents"]
        got: dict[str, int] = {}
        for item in items:
            parameters = item["parameters"]
            flat = "plan_name" in parameters
            group = {} if flat else parameters
            name = parameters["plan_name"] if flat else item["description"]
            key = _item_key(item["line_item_type"], group, name, Decimal(item["unit_price_cents"]))
            assert key not in got, key
            got[key] = item["price_cents"]
            if flat:
                assert parameters["starts_at"] == summary["period_starts_at"]
                assert parameters["ends_at"] == summary["period_ends_at"]
        where = f"invoice {invoice['period_start']}"
        tree = resources(world)
        for line in invoice["lines"]:
            unit = Decimal(line.get("unit_price") or line["amount"]) * 100
            # A usage line's parameters: its group values, then its resource's attributes.
            parameters = dict(line["group"])
            resource = next((tree[v] for v in line["group"].values() if v in tree), None)
            for name, value in (resource or {}).get("attributes", {}).items():
                parameters.setdefault(name, str(value))
            key = _item_key(line["type"], parameters, line["name"], unit)
            price = got.pop(key, None)
            if price != cents(line["amount"]):
                problems.append(f"{where}: {key} price_cents {price} != {line['amount']}")
        problems.extend(f"{where}: unexpected item {key}" for key in got)
    assert problems == [], "\n".join(problems)


def test_pages_walk_the_same_list(world: World) -> None:
    everything = get(world, TS_BASE, per_page=50)["invoices"]
    walked: list[dict[str, Any]] = []
    for page in range(1, len(everything) + 1):
        one = get(world, TS_BASE, page=page, per_page=1)
        assert (one["page"], one["per_page"], one["total"]) == (page, 1, len(everything))
        walked.extend(one["invoices"])
    assert walked == everything
    beyond = get(world, TS_BASE, page=len(everything) + 1, per_page=1)
    assert (beyond["invoices"], beyond["total"]) == ([], len(everything))


def test_typesense_january_by_hand(world: World) -> None:
    """The typesense scenario's January: descriptions from the product templates, flat and
    purchase lines, and the prepaid grant paying 657.24 of 1657.24 (never the purchase)."""
    assert world.scenario is not None
    if world.scenario.name != "typesense":
        pytest.skip("hand-computed for the typesense scenario")
    summary = get(world, TS_BASE)["invoices"][-1]
    assert summary["period_starts_at"] == unix("2026-01-01T00:00:00Z") == 1767225600
    assert summary["period_ends_at"] == 1769903999  # 2026-01-31T23:59:59Z
    assert (summary["status"], summary["amount_cents"]) == ("due", 165724)
    assert summary["payment"] == {
        "paid_via_card_cents": 0,
        "paid_via_credits_cents": 65724,
        "credit_balance_snapshot_cents": 34276,
    }
    items = get(world, summary["line_items_path"])["line_items"]
    assert [
        (i["description"], i["unit_price_cents"], i["quantity"], i["price_cents"]) for i in items
    ] == [
        ("Node -- 0197kdlrfsubahw4p -- 0.5_gb, 2_vcpus, oregon (per node hour)", 4, 1410, 5640),
        ("Node -- 0197kdlrfsubahw4p -- 1_gb, 2_vcpus, oregon (per node hour)", 8, 822, 6576),
        ("Bandwidth -- 0197kdlrfsubahw4p (per GB)", 9, Decimal("389.770520598"), 3508),
        ("Typesense Cloud Support - Business Plan", 50000, 1, 50000),
        ("Prepaid credit purchase", 100000, 1, 100000),
    ]
    assert [i["line_item_type"] for i in items] == [
        "node",
        "node",
        "bandwidth",
        "support",
        "prepaid_credit_purchase",
    ]
    assert items[0]["parameters"] == {
        "cluster_id": "0197kdlrfsubahw4p",
        "memory_option": "0.5_gb",
        "vcpu_option": "2_vcpus",
        "region": "oregon",
    }
    assert items[3]["parameters"] == {
        "plan_name": "Typesense Cloud Support - Business Plan",
        "starts_at": 1767225600,
        "ends_at": 1769903999,
    }
    assert items[4]["parameters"] == {}
    assert parse_timestamp("2026-01-31T23:59:59Z").timestamp() == 1769903999
