"""What the WarpStream and Typesense tests share (not a conftest: the folder is shared, so
the test modules import what they need from here).

* ``golden_world``: a database holding one golden scenario, loaded through the services,
  closed at the scenario's ``as_of``, plus a second customer ("intruder") on the same plan,
  an app whose clock is fixed at ``as_of``, and keys for everyone;
* ``small_world``: the small hand-computed setup below, loaded the same way;
* the route walk over ``app.routes`` used by the auth tests, and exact JSON helpers.

The small setup (plan ``byoc``, monthly, minimum spend 100.00) bills:

* ``cluster_minutes`` "Cluster minutes": per unit 0.0023148, by ``cluster_id``;
* ``gib_written`` "Uncompressed GiB written": graduated 0.10 up to 100, then 0.05, by
  ``cluster_id``, description ``Written -- {cluster_id}``, line type ``bandwidth``;
* ``requests`` "Requests": count by ``workspace_id``, package 0.50 per 1000;
* ``support`` "Support - Premium": flat 20.00, line type ``support``.

``cust-alpha`` ("Alpha Streams") has the tree ti_alpha → wi_alpha (prod) → vci_a1
(us-east-1), and a cluster ``vci_solo`` without parent; grants ``free`` 10.00 (priority
10), ``commit`` 50.00 (priority 1) and ``prepay`` 100.00 bought for 90.00 on 2026-02-01.
``cust-beta`` ("Beta Search") has one cluster ``vci_beta`` and a subscription that ends on
2026-03-01. The clock is 2026-03-05: January and February are closed, March is a draft.
The figures each test expects are worked out by hand next to the test.
"""

import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute
from httpx import Response
from starlette.routing import BaseRoute, Mount, Route

from meterbill.api.app import create_app
from meterbill.core.events import parse_timestamp
from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup, load_catalog
from meterbill.services.ingest import Status, ingest_batch, rebuild_meter
from meterbill.services.invoicing import close_periods
from meterbill.services.jsonio import loads_exact
from meterbill.services.keys import create_key, revoke_key
from tests.dbsupport import (
    POSTGRES_SKIP_REASON,
    fresh_postgres_database,
    postgres_url_from_env,
    reset_postgres_schema,
)
from tests.golden import SCENARIOS, Scenario

# Starlette warns on import that it would rather drive httpx2; not what is under test.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

__all__ = [
    "ALPHA",
    "ALPHA_NAME",
    "BACKENDS",
    "BETA",
    "BETA_NAME",
    "COMPAT_WARNINGS",
    "GOLDEN",
    "INTRUDER",
    "INTRUDER_NAME",
    "SMALL_CLOCK",
    "SMALL_EVENTS",
    "SMALL_SETUP",
    "TS_HEADER",
    "WS_HEADER",
    "TestClient",
    "World",
    "compat_database_url",
    "compat_routes",
    "error_code",
    "exact",
    "golden_world",
    "ingest",
    "small_world",
    "unix",
]

WS_HEADER = "warpstream-api-key"
TS_HEADER = "X-TYPESENSE-CLOUD-MANAGEMENT-API-KEY"

# The project's error handlers answer with FastAPI's ORJSONResponse, which FastAPI 0.165
# deprecates (every error response warns); pytest turns warnings into errors.
COMPAT_WARNINGS = pytest.mark.filterwarnings("ignore:ORJSONResponse is deprecated")

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# (backend, scenario) pairs for module-scoped golden worlds.
GOLDEN = [
    *(pytest.param(("sqlite", s), id=f"sqlite-{s.name}") for s in SCENARIOS),
    *(
        pytest.param(("postgres", s), id=f"postgres-{s.name}", marks=pytest.mark.postgres)
        for s in SCENARIOS
    ),
]

INTRUDER = "cust-intruder"
INTRUDER_NAME = "Intruder Holdings"


@dataclass(frozen=True, slots=True)
class World:
    """A loaded database, its app and client, and a key per kind of caller."""

    database: Database
    app: FastAPI
    client: TestClient
    clock: datetime
    customer: str
    own: str
    other: str
    admin: str
    revoked: str
    scenario: Scenario | None = None


def unix(text: str) -> int:
    """Unix seconds of an RFC 3339 time (hand-computed figures use this for readability)."""
    return int(parse_timestamp(text).timestamp())


def exact(response: Response) -> Any:
    """The JSON body with every fractional number as an exact ``Decimal``."""
    return json.loads(response.text, parse_float=Decimal)


def error_code(response: Response, status: int) -> str:
    """The error code of a meterbill error body with ``status``; never a traceback."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert "Traceback" not in response.text
    body = json.loads(response.text)
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"].strip()
    code = body["error"]["code"]
    assert isinstance(code, str)
    return code


def ingest(database: Database, items: Sequence[object], *, now: datetime) -> None:
    """Ingest decoded events through the service, in batches, all of them accepted or
    recognised as duplicates (a golden file holds some) or unreadable on purpose."""
    for start in range(0, len(items), 2000):
        with database.transaction() as session:
            outcomes = ingest_batch(
                session, load_catalog(session), items[start : start + 2000], now=now
            )
        assert any(o.status is Status.ACCEPTED for o in outcomes)


def _keys(database: Database, customer: str, other: str, now: datetime) -> tuple[str, ...]:
    with database.transaction() as session:
        _, own = create_key(session, customer_id=customer, now=now, name="own")
        _, intruder = create_key(session, customer_id=other, now=now, name="other")
        _, admin = create_key(session, customer_id=None, now=now, name="admin")
        revoked_id, revoked = create_key(session, customer_id=customer, now=now, name="revoked")
        revoke_key(session, revoked_id, now=now)
    return own, intruder, admin, revoked


_SHARED_POSTGRES: dict[str, str] = {}


def compat_database_url(request: pytest.FixtureRequest, backend: str) -> str:
    """An empty database for a module-scoped world: a new SQLite file, or the emptied schema
    of one PostgreSQL database kept for the whole session (creating and dropping a database
    per world costs a checkpoint each; only one such world is alive at a time, since pytest
    finishes a module-scoped fixture before the next one starts)."""
    if backend == "sqlite":
        folder = request.getfixturevalue("tmp_path_factory").mktemp("compat")
        return f"sqlite:///{folder / 'compat.db'}"
    if "url" not in _SHARED_POSTGRES:
        server = postgres_url_from_env()
        if server is None:
            pytest.skip(POSTGRES_SKIP_REASON)
        stack = ExitStack()
        _SHARED_POSTGRES["url"] = stack.enter_context(fresh_postgres_database(server))
        request.config.add_cleanup(stack.close)
        request.config.add_cleanup(_SHARED_POSTGRES.clear)
    url = _SHARED_POSTGRES["url"]
    reset_postgres_schema(url)
    return url


def _intruder_setup(plan: str) -> dict[str, object]:
    return {
        "customers": [
            {
                "id": INTRUDER,
                "name": INTRUDER_NAME,
                "resources": [{"id": "vci_intruder", "kind": "cluster", "name": "vcn_intruder"}],
                "subscriptions": [{"plan": plan, "starts_at": "2026-01-01T00:00:00Z"}],
            }
        ]
    }


@contextmanager
def golden_world(url: str, scenario: Scenario) -> Iterator[World]:
    """The scenario loaded through the services and closed at its ``as_of``."""
    expected = scenario.expected
    as_of = parse_timestamp(str(expected["as_of"]))
    customers = expected["invoices"]
    assert isinstance(customers, dict)
    (customer,) = customers  # one customer per scenario
    setup = scenario.setup
    plans = setup["plans"]
    assert isinstance(plans, list)
    database = Database(url)
    try:
        with database.transaction() as session:
            apply_setup(session, setup, now=as_of, rebuild=rebuild_meter)
            apply_setup(session, _intruder_setup(plans[0]["key"]), now=as_of, rebuild=rebuild_meter)
        raw = scenario.events.read_bytes().splitlines()
        ingest(database, [loads_exact(line) for line in raw if line.strip()], now=as_of)
        with database.transaction() as session:
            close_periods(session, as_of=as_of)
        own, other, admin, revoked = _keys(database, customer, INTRUDER, as_of)
        app = create_app(database, clock=lambda: as_of)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield World(
                database, app, client, as_of, customer, own, other, admin, revoked, scenario
            )
    finally:
        database.dispose()


ALPHA = "cust-alpha"
ALPHA_NAME = "Alpha Streams"
BETA = "cust-beta"
BETA_NAME = "Beta Search"
SMALL_CLOCK = datetime(2026, 3, 5, tzinfo=UTC)

SMALL_SETUP = """\
settings: {grace_period_hours: 24}
meters:
  - {key: minutes, name: Minutes, event_type: heartbeat, aggregation: sum, property: minutes,
     group_by: [cluster_id]}
  - {key: written, name: Written, event_type: produce, aggregation: sum, property: gib,
     group_by: [cluster_id]}
  - {key: requests, name: Requests, event_type: request, aggregation: count,
     group_by: [workspace_id]}
products:
  - key: cluster_minutes
    name: Cluster minutes
    meter: minutes
    price: {model: per_unit, unit_price: "0.0023148"}
  - key: gib_written
    name: Uncompressed GiB written
    meter: written
    description: "Written -- {cluster_id}"
    line_item_type: bandwidth
    price:
      model: graduated
      tiers: [{up_to: "100", unit_price: "0.10"}, {unit_price: "0.05"}]
  - key: requests
    name: Requests
    meter: requests
    price: {model: package, package_size: "1000", package_price: "0.50"}
  - key: support
    name: Support - Premium
    line_item_type: support
    price: {model: flat, amount: "20.00"}
plans:
  - {key: byoc, name: BYOC, interval: month, minimum: "100.00",
     products: [cluster_minutes, gib_written, requests, support]}
customers:
  - id: cust-alpha
    name: Alpha Streams
    owner_type: Team
    billing_email: billing@alpha.example
    resources:
      - {id: ti_alpha, kind: tenant}
      - {id: wi_alpha, kind: workspace, name: prod, parent: ti_alpha}
      - {id: vci_a1, kind: cluster, name: vcn_a1, parent: wi_alpha,
         attributes: {region: us-east-1}}
      - {id: vci_solo, kind: cluster, name: vcn_solo}
    subscriptions: [{plan: byoc, starts_at: "2026-01-01T00:00:00Z"}]
    credits:
      - {key: free, kind: free, amount: "10.00", starts_at: "2026-01-01T00:00:00Z"}
      - {key: commit, kind: commit, amount: "50.00", starts_at: "2026-01-01T00:00:00Z",
         priority: 1}
      - {key: prepay, kind: prepaid, amount: "100.00", price: "90.00",
         starts_at: "2026-02-01T00:00:00Z"}
  - id: cust-beta
    name: Beta Search
    resources: [{id: vci_beta, kind: cluster, name: vcn_beta}]
    subscriptions:
      - {plan: byoc, starts_at: "2026-01-01T00:00:00Z", ends_at: "2026-03-01T00:00:00Z"}
"""


def _event(txn: str, customer: str, kind: str, at: str, **properties: object) -> dict[str, object]:
    return {
        "transaction_id": txn,
        "customer_id": customer,
        "event_type": kind,
        "timestamp": at,
        "properties": properties,
    }


SMALL_EVENTS: tuple[dict[str, object], ...] = (
    _event("a1", ALPHA, "heartbeat", "2026-01-01T00:00:00Z", cluster_id="vci_a1", minutes=1440),
    _event("a2", ALPHA, "heartbeat", "2026-01-02T00:00:00Z", cluster_id="vci_a1", minutes=1440),
    _event("a3", ALPHA, "produce", "2026-01-01T10:00:00Z", cluster_id="vci_a1", gib=80),
    _event("a4", ALPHA, "produce", "2026-01-02T10:00:00Z", cluster_id="vci_a1", gib="40"),
    _event("a5", ALPHA, "produce", "2026-01-03T00:00:00Z", cluster_id="vci_solo", gib=5),
    _event("a6", ALPHA, "produce", "2026-01-04T00:00:00Z", cluster_id="vci_unknown", gib=1),
    _event("a7", ALPHA, "request", "2026-01-05T01:00:00Z", workspace_id="wi_alpha"),
    _event("a8", ALPHA, "request", "2026-01-05T02:00:00Z", workspace_id="wi_alpha"),
    _event("a9", ALPHA, "request", "2026-01-05T03:00:00Z", workspace_id="wi_alpha"),
    _event("a10", ALPHA, "heartbeat", "2026-02-10T00:00:00Z", cluster_id="vci_a1", minutes=60),
    _event("a11", ALPHA, "heartbeat", "2026-03-02T00:00:00Z", cluster_id="vci_a1", minutes=30),
    _event("b1", BETA, "heartbeat", "2026-01-05T00:00:00Z", cluster_id="vci_beta", minutes=15),
)


@contextmanager
def small_world(url: str) -> Iterator[World]:
    """The small setup, its events, January and February closed at ``SMALL_CLOCK``."""
    database = Database(url)
    try:
        with database.transaction() as session:
            setup = yaml.safe_load(SMALL_SETUP)
            apply_setup(session, setup, now=SMALL_CLOCK, rebuild=rebuild_meter)
        ingest(database, list(SMALL_EVENTS), now=SMALL_CLOCK)
        with database.transaction() as session:
            close_periods(session, as_of=SMALL_CLOCK)
        own, other, admin, revoked = _keys(database, ALPHA, BETA, SMALL_CLOCK)
        app = create_app(database, clock=lambda: SMALL_CLOCK)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield World(database, app, client, SMALL_CLOCK, ALPHA, own, other, admin, revoked)
    finally:
        database.dispose()


def _flatten(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        if isinstance(route, APIRoute | Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, prefix + route.path
        elif isinstance(route, Mount):
            yield from _flatten(route.routes, prefix + route.path)
        elif hasattr(route, "original_router"):
            # FastAPI 0.16x keeps an included router as one lazy entry of app.routes.
            context = getattr(route, "include_context", None)
            yield from _flatten(
                route.original_router.routes, prefix + str(getattr(context, "prefix", ""))
            )
        else:
            raise AssertionError(f"unknown kind of route {route!r}: teach _flatten about it")


def compat_routes(app: FastAPI, prefixes: Sequence[str]) -> list[tuple[str, str]]:
    """(method, path) of every route under one of ``prefixes``, checked against OpenAPI."""
    under = tuple(prefix.rstrip("/") for prefix in prefixes)

    def ours(path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in under)

    found = sorted({pair for pair in _flatten(app.routes) if ours(pair[1])})
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if ours(path)
    }
    assert documented <= set(found), f"routes the walk missed: {documented - set(found)}"
    return found
