"""Every Metronome route needs a key, and a customer key sees only its own customer.

Metronome itself only has admin tokens. meterbill's rule for its keys on this API:

* an admin key may do everything;
* a customer key may read its own customer, its invoices, breakdowns and usage, and send
  usage events for itself; another customer answers 404 exactly like a missing one, and
  another customer's events are rejected like an unknown customer's;
* the catalog (billable metrics, credit types) is readable with any valid key — it holds no
  customer data; every write (customers, aliases, metrics, void) needs an admin key (403).

The routes are enumerated from the mounted application, so a route added without a recipe
below fails ``test_every_route_has_a_recipe``, and one added without authentication fails
the 401 checks.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from httpx import Response
from starlette.routing import BaseRoute, Mount, Route

from meterbill.services.keys import create_key, revoke_key
from meterbill.services.metronome import metric_uuid
from tests.compat.metronome_support import (
    BASE,
    CLOCK,
    MetronomeEnv,
    TestClient,
    bearer,
    close,
    event,
    exact,
    ingest_events,
    metronome_env,
)

PREFIX = "/metronome"
PUBLIC = frozenset(
    {
        "/metronome/openapi.json",
        "/metronome/docs",
        "/metronome/docs/oauth2-redirect",
        "/metronome/redoc",
        "/metronome/docs-assets",
    }
)
ACME_NAME = "Acme Rockets Ltd"
ACME_ALIAS = "acme_ingest"
GHOST = "00000000-0000-4000-8000-00000000dead"
GHOST_INVOICE = "00000000-0000-5000-8000-000000000000"
SPARE_ID = metric_uuid("spare")

Scope = Literal["customer", "admin", "own_list", "catalog", "ingest", "usage", "unsupported"]


@dataclass(frozen=True, slots=True)
class Target:
    customer: str
    invoice: str


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    json: object = None

    def send(self, client: TestClient, auth: dict[str, str]) -> Response:
        response: Response = client.request(
            self.method, self.url, params=self.params, json=self.json, headers=auth
        )
        return response


@dataclass(frozen=True, slots=True)
class Recipe:
    scope: Scope
    build: Callable[[Target, str], Call]
    """(target, method) → the request."""


def _range() -> dict[str, str]:
    return {"starting_on": "2026-01-01T00:00:00Z", "ending_before": "2026-01-03T00:00:00Z"}


def _c(path: str) -> str:
    return f"{BASE}/customers/{{c}}{path}"


RECIPES: dict[tuple[str, str], Recipe] = {
    ("POST", "/metronome/v1/ingest"): Recipe(
        "ingest",
        lambda t, m: Call(
            m,
            f"{BASE}/ingest",
            json=[event("probe", t.customer, "request", "2026-02-05T00:00:00Z")],
        ),
    ),
    ("POST", "/metronome/v1/usage"): Recipe(
        "usage",
        lambda t, m: Call(
            m,
            f"{BASE}/usage",
            json={**_range(), "window_size": "DAY", "customer_ids": [t.customer]},
        ),
    ),
    ("POST", "/metronome/v1/usage/groups"): Recipe(
        "customer",
        lambda t, m: Call(
            m,
            f"{BASE}/usage/groups",
            json={
                **_range(),
                "window_size": "DAY",
                "customer_id": t.customer,
                "billable_metric_id": SPARE_ID,
            },
        ),
    ),
    ("POST", "/metronome/v1/customers"): Recipe(
        "admin", lambda t, m: Call(m, f"{BASE}/customers", json={"name": "New customer"})
    ),
    ("GET", "/metronome/v1/customers"): Recipe(
        "own_list", lambda t, m: Call(m, f"{BASE}/customers")
    ),
    ("POST", "/metronome/v1/customers/archive"): Recipe(
        "admin", lambda t, m: Call(m, f"{BASE}/customers/archive", json={"id": t.customer})
    ),
    ("GET", "/metronome/v1/customers/{customer_id}"): Recipe(
        "customer", lambda t, m: Call(m, f"{BASE}/customers/{t.customer}")
    ),
    ("POST", "/metronome/v1/customers/{customer_id}/setIngestAliases"): Recipe(
        "admin",
        lambda t, m: Call(
            m,
            f"{BASE}/customers/{t.customer}/setIngestAliases",
            json={"ingest_aliases": [ACME_ALIAS, "acme@example.com"]},
        ),
    ),
    ("POST", "/metronome/v1/customers/{customer_id}/setName"): Recipe(
        "admin",
        lambda t, m: Call(m, f"{BASE}/customers/{t.customer}/setName", json={"name": ACME_NAME}),
    ),
    ("GET", "/metronome/v1/customers/{customer_id}/billable-metrics"): Recipe(
        "customer", lambda t, m: Call(m, f"{BASE}/customers/{t.customer}/billable-metrics")
    ),
    ("GET", "/metronome/v1/customers/{customer_id}/invoices"): Recipe(
        "customer", lambda t, m: Call(m, f"{BASE}/customers/{t.customer}/invoices")
    ),
    ("GET", "/metronome/v1/customers/{customer_id}/invoices/breakdowns"): Recipe(
        "customer",
        lambda t, m: Call(m, f"{BASE}/customers/{t.customer}/invoices/breakdowns", params=_range()),
    ),
    ("GET", "/metronome/v1/customers/{customer_id}/invoices/{invoice_id}"): Recipe(
        "customer", lambda t, m: Call(m, f"{BASE}/customers/{t.customer}/invoices/{t.invoice}")
    ),
    ("POST", "/metronome/v1/billable-metrics/create"): Recipe(
        "admin",
        lambda t, m: Call(
            m,
            f"{BASE}/billable-metrics/create",
            json={
                "name": "Probe",
                "aggregation_type": "COUNT",
                "event_type_filter": {"in_values": ["probe"]},
            },
        ),
    ),
    ("GET", "/metronome/v1/billable-metrics"): Recipe(
        "catalog", lambda t, m: Call(m, f"{BASE}/billable-metrics")
    ),
    ("POST", "/metronome/v1/billable-metrics/archive"): Recipe(
        "admin",
        lambda t, m: Call(m, f"{BASE}/billable-metrics/archive", json={"id": SPARE_ID}),
    ),
    ("GET", "/metronome/v1/billable-metrics/{billable_metric_id}"): Recipe(
        "catalog", lambda t, m: Call(m, f"{BASE}/billable-metrics/{SPARE_ID}")
    ),
    ("POST", "/metronome/v1/invoices/void"): Recipe(
        "admin", lambda t, m: Call(m, f"{BASE}/invoices/void", json={"id": t.invoice})
    ),
    ("GET", "/metronome/v1/credit-types/list"): Recipe(
        "catalog", lambda t, m: Call(m, f"{BASE}/credit-types/list")
    ),
    **{
        (method, "/metronome/{path}"): Recipe(
            "unsupported", lambda t, m: Call(m, f"{BASE}/contracts/list", json={})
        )
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
    },
}


def _flatten(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        if isinstance(route, APIRoute | Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, prefix + route.path.replace("{path:path}", "{path}")
        elif isinstance(route, Mount):
            yield from _flatten(route.routes, prefix + route.path)
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            inner = getattr(route, "original_router", None)
            assert inner is not None
            yield from _flatten(inner.routes, prefix + str(getattr(context, "prefix", "")))
        else:
            raise AssertionError(f"unknown kind of route {route!r}: teach _flatten about it")


def metronome_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every authenticated route under /metronome of the whole application."""
    return sorted(
        {
            (method, path)
            for method, path in _flatten(app.routes)
            if path.startswith(PREFIX + "/") and path not in PUBLIC
        }
    )


def _fill(path: str, target: Target) -> str:
    return (
        path.replace("{customer_id}", target.customer)
        .replace("{invoice_id}", target.invoice)
        .replace("{billable_metric_id}", SPARE_ID)
        .replace("{path}", "v1/anything")
    )


def _call_for(method: str, path: str, target: Target) -> Call:
    recipe = RECIPES.get((method, path))
    return recipe.build(target, method) if recipe else Call(method, _fill(path, target))


@pytest.fixture
def env(db_url: str) -> Iterator[tuple[MetronomeEnv, Target]]:
    with metronome_env(db_url) as env:
        ingest_events(
            env.database,
            [
                event(
                    "a1", "acme", "cpu_usage", "2026-01-01T10:00:00Z", cpu_hours="3", region="EU"
                ),
                event("a2", "acme_ingest", "request", "2026-01-02T10:00:00Z"),
                event("g1", "globex", "request", "2026-01-02T11:00:00Z"),
            ],
            now=CLOCK,
        )
        close(env.database, CLOCK)
        invoices = exact(env.client.get(f"{BASE}/customers/{env.acme}/invoices", headers=env.admin))
        january = invoices["data"][0]
        assert january["status"] == "FINALIZED"
        yield env, Target(env.acme, january["id"])


def test_the_walk_finds_every_recipe_and_a_route_added_later(db_url: str) -> None:
    with metronome_env(db_url, setup=None) as env:
        assert set(RECIPES) <= set(metronome_routes(env.app))
        mounted = next(r for r in env.app.routes if isinstance(r, Mount) and r.path == PREFIX)
        inner = mounted.app
        assert isinstance(inner, FastAPI)
        inner.add_api_route("/v1/leak/{customer_id}", lambda customer_id: {"id": customer_id})
        assert ("GET", "/metronome/v1/leak/{customer_id}") in metronome_routes(env.app)


def test_every_route_has_a_recipe(db_url: str) -> None:
    with metronome_env(db_url, setup=None) as env:
        missing = [pair for pair in metronome_routes(env.app) if pair not in RECIPES]
    assert missing == [], f"Metronome routes without an auth recipe here: {missing}"


def test_missing_bad_or_revoked_keys_get_nothing(env: tuple[MetronomeEnv, Target]) -> None:
    menv, target = env
    with menv.database.transaction() as session:
        key_id, revoked = create_key(session, customer_id=None, now=CLOCK)
        revoke_key(session, key_id, now=CLOCK)
    secret = menv.admin["Authorization"].removeprefix("Bearer ")
    refused = {
        "no key": {},
        "empty bearer": {"Authorization": "Bearer "},
        "garbage": {"Authorization": "Bearer not-a-key"},
        "wrong secret": {"Authorization": f"Bearer mb_{secret.split('_')[1]}_wrong"},
        "basic scheme": {"Authorization": f"Basic {secret}"},
        "revoked": bearer(revoked),
    }
    problems: list[str] = []
    for method, path in metronome_routes(menv.app):
        call = _call_for(method, path, target)
        for label, headers in refused.items():
            response = call.send(menv.client, headers)
            if response.status_code != 401 or response.json() != {
                "message": "missing or invalid API key"
            }:
                problems.append(f"{method} {path} with {label}: {response.status_code}")
        if method == "POST":
            # A body that is not even JSON does not get a caller without a key any further.
            for label, headers in refused.items():
                url = call.url
                garbage = menv.client.post(
                    url,
                    content="{not json",
                    headers={**headers, "Content-Type": "application/json"},
                )
                if garbage.status_code != 401:
                    problems.append(
                        f"{method} {path} with {label}, not JSON: {garbage.status_code}"
                    )
    assert problems == []
    # Nothing the refused calls sent was kept.
    invoice = menv.client.get(
        f"{BASE}/customers/{target.customer}/invoices/{target.invoice}", headers=menv.admin
    )
    assert invoice.json()["data"]["status"] == "FINALIZED"
    names = [
        c["name"] for c in menv.client.get(f"{BASE}/customers", headers=menv.admin).json()["data"]
    ]
    assert sorted(names) == [ACME_NAME, "Globex"]


def _same_as_missing(
    menv: MetronomeEnv, recipe: Recipe, method: str, target: Target, status: int
) -> str | None:
    real = recipe.build(target, method).send(menv.client, menv.globex_key)
    ghost = recipe.build(Target(GHOST, GHOST_INVOICE), method).send(menv.client, menv.globex_key)
    if real.status_code != status or ghost.status_code != status:
        return f"got {real.status_code} / {ghost.status_code}, expected {status}"
    shown = real.text.replace(target.customer, "<id>").replace(target.invoice, "<inv>")
    if shown != ghost.text.replace(GHOST, "<id>").replace(GHOST_INVOICE, "<inv>"):
        return f"differs from a missing customer: {real.text} / {ghost.text}"
    return None


def test_another_customers_key_never_sees_acme(env: tuple[MetronomeEnv, Target]) -> None:
    menv, target = env
    problems: list[str] = []
    for method, path in metronome_routes(menv.app):
        recipe = RECIPES[(method, path)]
        where = f"{method} {path}"
        response = recipe.build(target, method).send(menv.client, menv.globex_key)
        if any(secret in response.text for secret in (ACME_NAME, ACME_ALIAS, target.invoice)):
            problems.append(f"{where}: globex's key sees acme: {response.text[:300]}")
            continue
        if recipe.scope in ("customer", "usage"):
            problem = _same_as_missing(menv, recipe, method, target, 404)
        elif recipe.scope == "ingest":
            problem = _same_as_missing(menv, recipe, method, target, 400)
        elif recipe.scope == "admin":
            ok = response.status_code == 403 and response.json() == {
                "message": "this needs an admin key"
            }
            problem = None if ok else f"got {response.status_code}, expected 403"
        elif recipe.scope == "own_list":
            ids = [item["id"] for item in response.json()["data"]]
            problem = None if ids == [menv.globex] else f"lists {ids}"
        elif recipe.scope == "catalog":
            problem = None if response.status_code == 200 else f"got {response.status_code}"
        else:
            problem = None if response.status_code == 404 else f"got {response.status_code}"
        if problem:
            problems.append(f"{where}: {problem}")
    assert problems == []
    # acme's February draft got no event from globex's attempt.
    invoices = menv.client.get(f"{BASE}/customers/{target.customer}/invoices", headers=menv.admin)
    february = invoices.json()["data"][1]
    assert [line["name"] for line in february["line_items"]] == ["Support"]


def test_own_and_admin_keys_are_served(env: tuple[MetronomeEnv, Target]) -> None:
    menv, target = env
    problems: list[str] = []
    for method, path in metronome_routes(menv.app):
        recipe = RECIPES[(method, path)]
        call = recipe.build(target, method)
        own = call.send(menv.client, menv.acme_key)
        wanted = {"admin": 403, "unsupported": 404}.get(recipe.scope, 200)
        if own.status_code != wanted:
            problems.append(f"{method} {path} with acme's key: {own.status_code} {own.text}")
        admin = call.send(menv.client, menv.admin)
        wanted_admin = 404 if recipe.scope == "unsupported" else 200
        if admin.status_code != wanted_admin:
            problems.append(f"{method} {path} with the admin key: {admin.status_code} {admin.text}")
    assert problems == []
