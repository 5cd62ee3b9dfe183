"""What an audit of the compatible APIs with the newest clients asked for, on SQLite and
PostgreSQL, with figures worked out by hand.

Setup (below), clock 2026-02-10T00:00:00Z, January closed:

* node hours (sum, by ``cluster_id`` and ``memory_option``) at 0.25: January c1/4gb 10 h
  (2.50), c1/8gb 5 h (1.25), c2/4gb 3 h (0.75; c2 is no resource);
* stored GB (time-weighted, by ``cluster_id`` and ``tier``) at 0.001 per GB-hour: c1/hot
  100 GB from 1 Jan, 200 from 16 Jan (15 d x 24 h x 100 + 16 d x 24 h x 200 = 36,000 +
  76,800 = 112,800 GB-h -> 112.80); c1/cold 50 GB from 11 Jan (21 d x 24 x 50 = 25,200
  -> 25.20);
* calls (count) in packages of 2 at 0.50 (0.25 a call): 3 calls -> 2 packages -> 1.00;
* support, flat 30.00.

January: 2.50 + 1.25 + 0.75 + 112.80 + 25.20 + 1.00 + 30.00 = 173.50.

February (the live draft at 10 Feb 00:00): c1/hot 300 GB from 5 Feb; one call on 9 Feb;
and, ahead of the clock (accepted: less than 24 h ahead), c1/hot 1000 GB from 10 Feb
06:00 and 4 node hours of c1/4gb at 10 Feb 03:00.
"""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from httpx import Response

from meterbill.services.metronome import metric_uuid
from tests.compat.metronome_support import (
    BASE,
    CLOCK,
    MetronomeEnv,
    close,
    event,
    exact,
    ingest_events,
    metronome_env,
)

SETUP = """\
settings: {grace_period_hours: 24}
meters:
  - {key: nodes, name: Node hours, event_type: node, aggregation: sum, property: hours,
     group_by: [cluster_id, memory_option]}
  - {key: stored, name: Stored GB, event_type: gauge, aggregation: time_weighted,
     property: gb, group_by: [cluster_id, tier]}
  - {key: calls, name: Calls, event_type: call, aggregation: count}
products:
  - {key: nodes, name: Node, meter: nodes, line_item_type: node,
     price: {model: per_unit, unit_price: "0.25"}}
  - {key: stored, name: Storage, meter: stored, price: {model: per_unit, unit_price: "0.001"}}
  - {key: calls, name: Calls, meter: calls,
     price: {model: package, package_size: "2", package_price: "0.50"}}
  - {key: support, name: Support, line_item_type: support,
     price: {model: flat, amount: "30.00"}}
plans:
  - {key: std, name: Standard, interval: month, products: [nodes, stored, calls, support]}
customers:
  - id: acme
    name: Acme
    resources:
      - id: c1
        kind: cluster
        name: prod
        attributes: {memory_option: 8gb, vcpu_option: 2_vcpus, gpu_option: "no",
                     high_performance_disk_option: "no", high_availability_option: "yes",
                     search_delivery_network_option: 3_regions, load_balancing_option: "no",
                     region: oregon}
    subscriptions: [{plan: std, starts_at: "2026-01-01T00:00:00Z"}]
  - id: globex
    name: Globex
    subscriptions: [{plan: std, starts_at: "2026-01-01T00:00:00Z"}]
"""

EVENTS = [
    event("n1", "acme", "node", "2026-01-02T00:00:00Z", hours="10", cluster_id="c1",
          memory_option="4gb"),
    event("n2", "acme", "node", "2026-01-20T00:00:00Z", hours="5", cluster_id="c1",
          memory_option="8gb"),
    event("n3", "acme", "node", "2026-01-05T00:00:00Z", hours="3", cluster_id="c2",
          memory_option="4gb"),
    event("s1", "acme", "gauge", "2026-01-01T00:00:00Z", gb="100", cluster_id="c1", tier="hot"),
    event("s2", "acme", "gauge", "2026-01-16T00:00:00Z", gb="200", cluster_id="c1", tier="hot"),
    event("s3", "acme", "gauge", "2026-01-11T00:00:00Z", gb="50", cluster_id="c1", tier="cold"),
    event("c1", "acme", "call", "2026-01-03T00:00:00Z"),
    event("c2", "acme", "call", "2026-01-04T00:00:00Z"),
    event("c3", "acme", "call", "2026-01-05T00:00:00Z"),
    event("s4", "acme", "gauge", "2026-02-05T00:00:00Z", gb="300", cluster_id="c1", tier="hot"),
    event("c4", "acme", "call", "2026-02-09T12:00:00Z"),
    # Ahead of the clock: in the native draft, not in what has accrued.
    event("s5", "acme", "gauge", "2026-02-10T06:00:00Z", gb="1000", cluster_id="c1", tier="hot"),
    event("n4", "acme", "node", "2026-02-10T03:00:00Z", hours="4", cluster_id="c1",
          memory_option="4gb"),
]  # fmt: skip

C1 = {
    "memory_option": "8gb",
    "vcpu_option": "2_vcpus",
    "gpu_option": "no",
    "high_performance_disk_option": "no",
    "high_availability_option": "yes",
    "search_delivery_network_option": "3_regions",
    "load_balancing_option": "no",
    "region": "oregon",
}
D = Decimal


@pytest.fixture
def env(db_url: str) -> Iterator[MetronomeEnv]:
    with metronome_env(db_url, setup=SETUP) as env:
        ingest_events(env.database, EVENTS, now=CLOCK)
        close(env.database, CLOCK)
        yield env


def _secret(env: MetronomeEnv) -> str:
    return env.acme_key["Authorization"].removeprefix("Bearer ")


def _ok(response: Response) -> Any:
    assert response.status_code == 200, response.text
    return exact(response)


def _invoices(env: MetronomeEnv, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _ok(
        env.client.get(f"{BASE}/customers/{env.acme}/invoices", params=params, headers=env.admin)
    )["data"]
    return found


def _groups(env: MetronomeEnv, **body: object) -> Response:
    request = {
        "customer_id": env.acme,
        "window_size": "NONE",
        "starting_on": "2026-01-01T00:00:00Z",
        "ending_before": "2026-02-01T00:00:00Z",
        **body,
    }
    response: Response = env.client.post(f"{BASE}/usage/groups", json=request, headers=env.admin)
    return response


# --------------------------------------------------------------------------- Metronome


def test_invoice_list_filters_type_and_contract_id(env: MetronomeEnv) -> None:
    every = [(i["type"], i["status"], i["start_timestamp"][:10]) for i in _invoices(env)]
    assert every == [("USAGE", "FINALIZED", "2026-01-01"), ("USAGE", "DRAFT", "2026-02-01")]
    assert [i["start_timestamp"][:10] for i in _invoices(env, type="usage")] == [
        "2026-01-01",
        "2026-02-01",
    ]
    assert _invoices(env, type="SCHEDULED") == []
    assert _invoices(env, type="USAGE_CONSOLIDATED") == []
    # No contracts in meterbill: any contract id finds nothing (never every invoice).
    assert _invoices(env, contract_id="7f1b5c3e-0000-4000-8000-000000000000") == []
    assert _invoices(env, contract_id="x", type="USAGE") == []
    assert len(_invoices(env, include_historical_commit_invoices="true")) == 2
    bad = env.client.get(
        f"{BASE}/customers/{env.acme}/invoices", params={"type": "ONE_OFF"}, headers=env.admin
    )
    assert bad.status_code == 400
    assert "type must be USAGE, USAGE_CONSOLIDATED or SCHEDULED" in bad.json()["message"]


def test_package_lines_show_the_price_per_unit(env: MetronomeEnv) -> None:
    january = _invoices(env)[0]
    assert january["subtotal"] == 17350  # 173.50, as worked out above
    calls = next(li for li in january["line_items"] if li["name"] == "Calls")
    # 0.50 a package of 2 = 0.25 a call = 25 cents; 3 calls charge 2 packages: 100 cents.
    assert (calls["unit_price"], calls["quantity"], calls["total"]) == (25, 3, 100)
    support = next(li for li in january["line_items"] if li["name"] == "Support")
    assert "unit_price" not in support
    days = _ok(
        env.client.get(
            f"{BASE}/customers/{env.acme}/invoices/breakdowns",
            params={
                "starting_on": "2026-01-03T00:00:00Z",
                "ending_before": "2026-01-04T00:00:00Z",
            },
            headers=env.admin,
        )
    )["data"]
    [day] = days
    [calls_day] = [li for li in day["line_items"] if li["name"] == "Calls"]
    # The first call opens the first package: 50 cents that day.
    assert (calls_day["unit_price"], calls_day["quantity"], calls_day["total"]) == (25, 1, 50)


def test_usage_groups_by_a_compound_key_with_filters(env: MetronomeEnv) -> None:
    nodes = metric_uuid("nodes")
    both = _ok(_groups(env, billable_metric_id=nodes, group_key=["cluster_id", "memory_option"]))
    assert [(g["group"], g["group_key"], g["group_value"], g["value"]) for g in both["data"]] == [
        ({"cluster_id": "c1", "memory_option": "4gb"}, None, None, 10),
        ({"cluster_id": "c1", "memory_option": "8gb"}, None, None, 5),
        ({"cluster_id": "c2", "memory_option": "4gb"}, None, None, 3),
    ]
    # Keys in the order asked for; combinations sorted by their values.
    swapped = _ok(
        _groups(
            env,
            billable_metric_id=nodes,
            group_key=["memory_option", "cluster_id"],
            group_filters={"memory_option": ["4gb"], "cluster_id": []},
        )
    )
    assert [(list(g["group"].items()), g["value"]) for g in swapped["data"]] == [
        ([("memory_option", "4gb"), ("cluster_id", "c1")], 10),
        ([("memory_option", "4gb"), ("cluster_id", "c2")], 3),
    ]
    single = _ok(_groups(env, billable_metric_id=nodes, group_key=["memory_option"]))
    assert [(g["group_key"], g["group_value"], g["group"], g["value"]) for g in single["data"]] == [
        ("memory_option", "4gb", {"memory_option": "4gb"}, 13),
        ("memory_option", "8gb", {"memory_option": "8gb"}, 5),
    ]
    # A filter value never seen gives nothing; group_by still fills group.
    none = _ok(
        _groups(
            env,
            billable_metric_id=nodes,
            group_key=["cluster_id"],
            group_filters={"cluster_id": ["c9"]},
        )
    )
    assert none["data"] == []
    old = _ok(_groups(env, billable_metric_id=nodes, group_by={"key": "cluster_id"}))
    assert [(g["group_key"], g["group"], g["value"]) for g in old["data"]] == [
        ("cluster_id", {"cluster_id": "c1"}, 15),
        ("cluster_id", {"cluster_id": "c2"}, 3),
    ]
    plain = _ok(_groups(env, billable_metric_id=nodes))
    assert [(g["group"], g["value"]) for g in plain["data"]] == [(None, 18)]


def test_usage_groups_of_a_time_weighted_metric(env: MetronomeEnv) -> None:
    stored = metric_uuid("stored")
    tiers = _ok(_groups(env, billable_metric_id=stored, group_key=["tier"]))
    assert [(g["group"], g["value"]) for g in tiers["data"]] == [
        ({"tier": "cold"}, 25200),
        ({"tier": "hot"}, 112800),
    ]
    days = _ok(
        _groups(
            env,
            billable_metric_id=stored,
            window_size="DAY",
            starting_on="2026-01-15T00:00:00Z",
            ending_before="2026-01-17T00:00:00Z",
            group_key=["cluster_id", "tier"],
            group_filters={"tier": ["hot"]},
        )
    )
    # 100 GB x 24 h on 15 Jan, 200 GB x 24 h on 16 Jan.
    assert [(g["starting_on"][:10], g["value"]) for g in days["data"]] == [
        ("2026-01-15", 2400),
        ("2026-01-16", 4800),
    ]


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"group_key": ["cluster_id"], "group_by": {"key": "cluster_id"}}, "cannot be combined"),
        ({"group_filters": {"cluster_id": ["c1"]}}, "group_filters needs group_key"),
        ({"group_key": []}, "at least one group key"),
        ({"group_key": ["region"]}, "not a group key of the metric"),
        ({"group_key": ["cluster_id", "cluster_id"]}, "names a key twice"),
        (
            {"group_key": ["cluster_id"], "group_filters": {"memory_option": ["4gb"]}},
            "must be one of group_key",
        ),
        (
            {
                "group_key": ["cluster_id", "memory_option"],
                "group_filters": {
                    "cluster_id": [f"c{i}" for i in range(150)],
                    "memory_option": [f"m{i}" for i in range(51)],
                },
            },
            "at most 200 values, got 201",
        ),
    ],
)
def test_usage_groups_refuses_what_it_cannot_answer(
    env: MetronomeEnv, body: dict[str, object], text: str
) -> None:
    response = _groups(env, billable_metric_id=metric_uuid("nodes"), **body)
    assert response.status_code == 400, response.text
    assert text in response.json()["message"]


# --------------------------------------------------------------------------- Typesense


def test_typesense_usage_parameters_carry_the_cluster_configuration(env: MetronomeEnv) -> None:
    header = {"X-TYPESENSE-CLOUD-MANAGEMENT-API-KEY": _secret(env)}
    [january] = _ok(env.client.get("/api/v1/invoices", headers=header))["invoices"]
    items = _ok(env.client.get(january["line_items_path"], headers=header))["line_items"]
    rows = [
        (i["description"], i["unit_price_cents"], i["quantity"], i["price_cents"], i["parameters"])
        for i in items
    ]
    assert rows == [
        # The billed memory_option (a group value) wins over the cluster's current one.
        ("Node", 25, 10, 250, {"cluster_id": "c1", **C1, "memory_option": "4gb"}),
        ("Node", 25, 5, 125, {"cluster_id": "c1", **C1}),
        # c2 is not one of the customer's resources: its group values only.
        ("Node", 25, 3, 75, {"cluster_id": "c2", "memory_option": "4gb"}),
        ("Storage", D("0.1"), 25200, 2520, {"cluster_id": "c1", "tier": "cold", **C1}),
        ("Storage", D("0.1"), 112800, 11280, {"cluster_id": "c1", "tier": "hot", **C1}),
        ("Calls", 25, 3, 100, {}),
        (
            "Support",
            3000,
            1,
            3000,
            {"plan_name": "Support", "starts_at": 1767225600, "ends_at": 1769903999},
        ),
    ]
    assert january["amount_cents"] == 17350
    # Key order: the group values, then the attributes not among them (by name).
    assert list(items[0]["parameters"]) == [
        "cluster_id",
        "memory_option",
        "gpu_option",
        "high_availability_option",
        "high_performance_disk_option",
        "load_balancing_option",
        "region",
        "search_delivery_network_option",
        "vcpu_option",
    ]


# --------------------------------------------------------------------------- WarpStream


def test_warpstream_pending_invoice_shows_what_has_accrued(env: MetronomeEnv) -> None:
    """At 10 Feb 00:00, 9 of February's 28 days have passed.

    Accrued storage: c1/hot 200 GB x 96 h (1-5 Feb) + 300 GB x 120 h (5-10 Feb) = 19,200 +
    36,000 = 55,200 GB-h; c1/cold 50 GB x 216 h = 10,800 GB-h. One cluster, one product
    name and unit price: one charge of 66,000 GB-h = 66.00. The node hours at 03:00 and the
    1000 GB at 06:00 lie ahead of the clock: not accrued. Account charges: 1 call (one
    package, 0.50, shown at 0.25 a call) and the support fee in full (30.00).
    Total 96.50.
    """
    pending = _ok(
        env.client.post(
            "/api/v1/billing/invoices/get_pending_invoice",
            headers={"warpstream-api-key": _secret(env)},
        )
    )
    [tenant] = pending["tenants"]
    [workspace] = tenant["workspaces"]
    [cluster] = workspace["clusters"]
    assert cluster["virtual_cluster_id"] == "c1"
    assert cluster["charges"] == [
        {"product": "Storage", "unit_price": D("0.001"), "quantity": 66000, "total": D("66.00")}
    ]
    assert pending["account_charges"] == [
        {"product": "Calls", "unit_price": D("0.25"), "quantity": 1, "total": D("0.50")},
        {"product": "Support", "unit_price": 30, "quantity": 1, "total": D("30.00")},
    ]
    assert pending["total"] == D("96.50")
    assert (pending["date_from"], pending["date_to"]) == ("2026-02-01", "2026-03-01")

    # The native draft follows the spec (4.2): a stored value holds until the period end.
    # c1/hot: 200 x 96 + 300 x 126 (5 Feb - 10 Feb 06:00) + 1000 x 450 (to 1 Mar) = 507,000
    # GB-h -> 507.00; c1/cold 50 x 672 = 33,600 -> 33.60; the 4 node hours -> 1.00.
    # 1.00 + 507.00 + 33.60 + 0.50 + 30.00 = 572.10.
    draft = _invoices(env, status="DRAFT")[0]
    assert [(li["name"], li["quantity"], li["total"]) for li in draft["line_items"]] == [
        ("Node", 4, 100),
        ("Storage", 33600, 3360),
        ("Storage", 507000, 50700),
        ("Calls", 1, 50),
        ("Support", 1, 3000),
    ]
    assert draft["subtotal"] == 57210
