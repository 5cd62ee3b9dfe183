"""Every route needs a key, and a customer key sees only its own customer.

The routes are enumerated from the application itself (included routers and mounted apps
opened up). Every one of them, the vendor-compatible APIs included, must refuse a request
without a valid key; a route added without authentication fails those checks. meterbill's
own ``/v1`` routes also need a recipe below that says who may call them, so a new ``/v1``
route without one fails ``test_every_native_route_has_an_auth_recipe``, and the recipes
drive the checks of another customer's key (404 exactly as if missing, or 403 for admin
routes, never any of the other customer's data) and of the own and admin keys.
"""

import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from httpx import Response
from sqlalchemy import update
from starlette.routing import BaseRoute, Mount, Route

from meterbill.db.database import Database
from meterbill.db.models import OutboxMessage, WebhookDeliveryRow, WebhookEndpointRow
from meterbill.services.outbox import emit
from tests.api.support import (
    ALPHA,
    ALPHA_ALIAS,
    ALPHA_NAME,
    BETA,
    BETA_ALIAS,
    BETA_NAME,
    SETUP_YAML,
    Billed,
    Keys,
    TestClient,
    error_of,
    event,
    json_list,
    json_object,
)

# Routes that answer without a key by design (/metrics: counts only, docs/operations.md).
PUBLIC = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/openapi.json",
        "/redoc",
        "/",
        "/v1/setup/schema",
    }
)
# Signed links are their own credential (an HMAC token, 404 when bad) and the sign-in form
# takes the key itself; tests/pages and tests/dashboard check each of them.
SIGNED_OR_SIGN_IN = frozenset(
    {
        "/invoices/{token}",
        "/invoices/{token}/pdf",
        "/d/{token}",
        "/d/{token}/breakdown.csv",
        "/dashboard/login",
        "/dashboard/logout",
    }
)
GHOST_CUSTOMER = "cust-ghost"
GHOST_INVOICE = "00000000-0000-5000-8000-000000000000"


@dataclass(frozen=True, slots=True)
class Target:
    """What a request is about: a customer, one of its invoices and another one to void
    (a payment on the first must not stop the void)."""

    customer: str
    invoice: str
    to_void: str


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    json: object = None
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, client: TestClient, auth: dict[str, str]) -> Response:
        response: Response = client.request(
            self.method,
            self.url,
            params=self.params,
            json=self.json,
            content=self.content,
            headers={**self.headers, **auth},
        )
        return response


# customer: another customer's key gets 404 exactly as for a missing object;
# admin: only an admin key may call it (403 for customer keys);
# own_list: a listing that a customer key sees filtered to its own customer;
# ingest: a customer key may send only its own events; others are rejected one by one.
Scope = Literal["customer", "admin", "own_list", "ingest"]


@dataclass(frozen=True, slots=True)
class Recipe:
    scope: Scope
    build: Callable[[Target], Call]


def _range(**extra: str) -> dict[str, str]:
    return {
        "starting_on": "2026-01-01T00:00:00Z",
        "ending_before": "2026-01-03T00:00:00Z",
        **extra,
    }


RECIPES: dict[tuple[str, str], Recipe] = {
    ("POST", "/v1/events"): Recipe(
        "ingest",
        lambda t: Call(
            "POST",
            "/v1/events",
            json=[event("auth-probe", t.customer, "api_call", "2026-03-01T00:00:00Z")],
        ),
    ),
    ("GET", "/v1/setup"): Recipe("admin", lambda t: Call("GET", "/v1/setup")),
    ("PUT", "/v1/setup"): Recipe(
        "admin",
        lambda t: Call(
            "PUT", "/v1/setup", content=SETUP_YAML, headers={"Content-Type": "application/yaml"}
        ),
    ),
    ("GET", "/v1/customers"): Recipe("own_list", lambda t: Call("GET", "/v1/customers")),
    ("GET", "/v1/customers/{customer_id}"): Recipe(
        "customer", lambda t: Call("GET", f"/v1/customers/{t.customer}")
    ),
    ("GET", "/v1/customers/{customer_id}/invoices"): Recipe(
        "customer", lambda t: Call("GET", f"/v1/customers/{t.customer}/invoices")
    ),
    ("GET", "/v1/invoices/{invoice_id}"): Recipe(
        "customer", lambda t: Call("GET", f"/v1/invoices/{t.invoice}")
    ),
    ("POST", "/v1/invoices/{invoice_id}/void"): Recipe(
        "admin", lambda t: Call("POST", f"/v1/invoices/{t.to_void}/void")
    ),
    ("GET", "/v1/invoices/{invoice_id}/credit_notes"): Recipe(
        "customer", lambda t: Call("GET", f"/v1/invoices/{t.invoice}/credit_notes")
    ),
    ("POST", "/v1/invoices/{invoice_id}/credit_notes"): Recipe(
        "admin",
        lambda t: Call(
            "POST",
            f"/v1/invoices/{t.invoice}/credit_notes",
            json={"amount": "1.00", "reason": "auth probe"},
        ),
    ),
    ("POST", "/v1/invoices/{invoice_id}/payments"): Recipe(
        "admin",
        lambda t: Call("POST", f"/v1/invoices/{t.invoice}/payments", json={"amount": "1.00"}),
    ),
    ("GET", "/v1/customers/{customer_id}/breakdowns"): Recipe(
        "customer",
        lambda t: Call("GET", f"/v1/customers/{t.customer}/breakdowns", params=_range()),
    ),
    ("GET", "/v1/customers/{customer_id}/credits"): Recipe(
        "customer", lambda t: Call("GET", f"/v1/customers/{t.customer}/credits")
    ),
    ("GET", "/v1/customers/{customer_id}/usage"): Recipe(
        "customer",
        lambda t: Call(
            "GET", f"/v1/customers/{t.customer}/usage", params=_range(meter="api_calls")
        ),
    ),
    ("GET", "/v1/customers/{customer_id}/alerts"): Recipe(
        "customer", lambda t: Call("GET", f"/v1/customers/{t.customer}/alerts")
    ),
    ("POST", "/v1/customers/{customer_id}/alerts"): Recipe(
        "admin",
        lambda t: Call(
            "POST",
            f"/v1/customers/{t.customer}/alerts",
            json={"key": "auth-probe", "kind": "draft_total_above", "threshold": "1000"},
        ),
    ),
    ("DELETE", "/v1/customers/{customer_id}/alerts/{key}"): Recipe(
        # test_own_and_admin_keys_are_served first makes the alert the admin deletes.
        "admin",
        lambda t: Call("DELETE", f"/v1/customers/{t.customer}/alerts/to-delete"),
    ),
}


# Webhook endpoints (admin only) made by the ``webhook_probe`` fixture: one to act on, one
# to delete, and a failed message of the first to re-send.
PROBE = "ep_auth_probe"
PROBE_DELETED = "ep_auth_probe_deleted"
PROBE_MESSAGE = "msg_auth_probe"
_HOOKS = "/v1/webhook_endpoints"
RECIPES.update(
    {
        ("POST", _HOOKS): Recipe(
            "admin", lambda t: Call("POST", _HOOKS, json={"url": "https://example.com/h"})
        ),
        ("GET", _HOOKS): Recipe("admin", lambda t: Call("GET", _HOOKS)),
        ("GET", _HOOKS + "/{endpoint_id}"): Recipe(
            "admin", lambda t: Call("GET", f"{_HOOKS}/{PROBE}")
        ),
        ("DELETE", _HOOKS + "/{endpoint_id}"): Recipe(
            "admin", lambda t: Call("DELETE", f"{_HOOKS}/{PROBE_DELETED}")
        ),
        ("POST", _HOOKS + "/{endpoint_id}/rotate_secret"): Recipe(
            "admin", lambda t: Call("POST", f"{_HOOKS}/{PROBE}/rotate_secret")
        ),
        ("GET", _HOOKS + "/{endpoint_id}/deliveries"): Recipe(
            "admin", lambda t: Call("GET", f"{_HOOKS}/{PROBE}/deliveries")
        ),
        ("POST", _HOOKS + "/{endpoint_id}/deliveries/{message_id}/resend"): Recipe(
            "admin",
            lambda t: Call("POST", f"{_HOOKS}/{PROBE}/deliveries/{PROBE_MESSAGE}/resend"),
        ),
    }
)


@pytest.fixture
def webhook_probe(database: Database) -> None:
    """The endpoints of the webhook recipes, and a failed delivery to re-send."""
    now = datetime(2026, 3, 5, tzinfo=UTC)
    with database.transaction() as session:
        for endpoint_id in (PROBE, PROBE_DELETED):
            session.add(
                WebhookEndpointRow(
                    id=endpoint_id,
                    url="https://example.com/probe",
                    description=None,
                    event_types="[]",
                    secret="whsec_cHJvYmVwcm9iZXByb2Jl",
                    previous_secret=None,
                    previous_secret_until=None,
                    created_at=now,
                )
            )
        session.flush()
        message = emit(session, "invoice.issued", {}, at=now)
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == message).values(id=PROBE_MESSAGE)
        )
        session.execute(update(WebhookDeliveryRow).values(status="failed"))


def _flatten(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(method, path, path inside its application) of every HTTP route, with included
    routers and mounted applications opened up."""
    for route in routes:
        if isinstance(route, APIRoute | Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, prefix + route.path, route.path
        elif isinstance(route, Mount):
            yield from _flatten(route.routes, prefix + route.path)
        elif hasattr(route, "original_router"):
            # FastAPI 0.16x keeps an included router as one lazy entry of app.routes.
            context = getattr(route, "include_context", None)
            inner = getattr(route, "original_router", None)
            assert inner is not None
            for method, path, local in _flatten(inner.routes):
                extra = str(getattr(context, "prefix", ""))
                yield method, prefix + extra + path, extra + local
        else:
            raise AssertionError(f"unknown kind of route {route!r}: teach _flatten about it")


def http_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every route that needs a key (the public ones, of any mounted app too, left out)."""
    found = sorted(
        {
            (m, path)
            for m, path, local in _flatten(app.routes)
            if local not in PUBLIC | SIGNED_OR_SIGN_IN
        }
    )
    # The walk must not miss what the OpenAPI document lists.
    with warnings.catch_warnings():
        # src/meterbill/api/warpstream.py serves GET and POST from one function: FastAPI
        # warns of the duplicate operation id while it builds the document (reported).
        warnings.filterwarnings("ignore", "Duplicate Operation ID")
        paths = app.openapi()["paths"]
    documented = {
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if path not in PUBLIC | SIGNED_OR_SIGN_IN
    }
    assert documented <= set(found), f"routes the walk missed: {documented - set(found)}"
    return found


def native(method_path: tuple[str, str]) -> bool:
    """meterbill's own API (``/v1``), as opposed to the vendor-compatible ones."""
    return method_path[1].startswith("/v1/")


def _fill(path: str, target: Target) -> str:
    filled = path.replace("{customer_id}", target.customer)
    return re.sub(r"\{[^}]*\}", "x", filled.replace("{invoice_id}", target.invoice))


def _call_for(method: str, path: str, target: Target) -> Call:
    recipe = RECIPES.get((method, path))
    if recipe is None:
        return Call(method, _fill(path, target))
    return recipe.build(target)


def _without(text: str, *needles: str) -> str:
    for needle in needles:
        text = text.replace(needle, "<id>")
    return text


def test_every_native_route_has_an_auth_recipe(app: FastAPI) -> None:
    routes = http_routes(app)
    # Guards the walk itself: if FastAPI changed how it keeps included routers and the walk
    # found nothing, every other test here would pass vacuously.
    assert set(RECIPES) <= set(routes)
    missing = [pair for pair in routes if native(pair) and pair not in RECIPES]
    assert missing == [], (
        f"routes without an auth recipe in tests/api/test_auth.py: {missing}; add one that "
        "says whether the route is admin-only or customer-scoped"
    )


def test_the_checks_catch_a_route_added_without_auth(app: FastAPI, client: TestClient) -> None:
    # A route added later, directly or through an included router, without authentication:
    # the walk finds it, it has no recipe, and its keyless call is not refused.
    extra = APIRouter(prefix="/v1/extra")

    @extra.get("/customers/{customer_id}/leak")
    def leak(customer_id: str) -> dict[str, str]:
        return {"customer": customer_id}

    app.include_router(extra)
    added = ("GET", "/v1/extra/customers/{customer_id}/leak")
    assert added in http_routes(app)
    assert added not in RECIPES
    call = _call_for(*added, Target(ALPHA, GHOST_INVOICE, GHOST_INVOICE))
    assert call.send(client, {}).status_code == 200


def test_missing_bad_or_revoked_keys_are_refused_on_every_route(
    app: FastAPI, client: TestClient, keys: Keys, billed: Billed
) -> None:
    target = Target(ALPHA, billed.alpha_jan, billed.alpha_feb)
    admin_secret = keys.admin["Authorization"].removeprefix("Bearer ")
    key_id = admin_secret.split("_")[1]
    refused: dict[str, dict[str, str]] = {
        "no key": {},
        "empty bearer": {"Authorization": "Bearer "},
        "garbage": {"Authorization": "Bearer not-a-key"},
        "right id, wrong secret": {"Authorization": f"Bearer mb_{key_id}_wrong"},
        "secret with an extra character": {"Authorization": f"Bearer {admin_secret}x"},
        "basic scheme": {"Authorization": f"Basic {admin_secret}"},
        "revoked": keys.revoked,
    }
    problems: list[str] = []
    for method, path in http_routes(app):
        call = _call_for(method, path, target)
        # The vendor-compatible APIs deny as their vendor does (Typesense Cloud: 403 only),
        # in the vendor's error shape.
        denied = {401} if native((method, path)) else {401, 403}
        for label, headers in refused.items():
            response = call.send(client, headers)
            if response.status_code not in denied or ALPHA_NAME in response.text:
                problems.append(f"{method} {path} with {label}: {response.status_code}")
            elif native((method, path)):
                assert error_of(response, 401)["code"] == "unauthorized"
    assert problems == []
    # Nothing the refused calls sent was kept: no payment, no void, no credit note.
    for invoice_id in (billed.alpha_jan, billed.alpha_feb):
        invoice = json_object(client.get(f"/v1/invoices/{invoice_id}", headers=keys.admin))
        assert (
            invoice["data"]["status"],
            invoice["data"]["payments"],
            invoice["data"]["credit_notes"],
        ) == ("issued", "0.00", "0.00")


def _check_other_customer(
    client: TestClient, keys: Keys, method: str, path: str, recipe: Recipe, billed: Billed
) -> list[str]:
    """Beta's key on Alpha's objects; returns the problems found."""
    where = f"{method} {path}"
    real = Target(ALPHA, billed.alpha_jan, billed.alpha_feb)
    ghost = Target(GHOST_CUSTOMER, GHOST_INVOICE, GHOST_INVOICE)
    response = recipe.build(real).send(client, keys.beta)
    if ALPHA_NAME in response.text or ALPHA_ALIAS in response.text:
        return [f"{where}: beta's key sees alpha's data: {response.text[:300]}"]
    if recipe.scope in ("customer", "admin"):
        status = 404 if recipe.scope == "customer" else 403
        if response.status_code != status:
            return [f"{where}: beta's key got {response.status_code}, expected {status}"]
        error_of(response, status)
        missing = recipe.build(ghost).send(client, keys.beta)
        same = _without(response.text, ALPHA, billed.alpha_jan, billed.alpha_feb) == _without(
            missing.text, GHOST_CUSTOMER, GHOST_INVOICE
        )
        if missing.status_code != status or not same:
            return [f"{where}: differs from a missing object: {response.text} / {missing.text}"]
        return []
    if recipe.scope == "own_list":
        ids = [item["id"] for item in json_list(json_object(response)["data"])]
        return [] if ids == [BETA] else [f"{where}: beta's key lists {ids}"]
    # ingest: every event for another customer is rejected, and nothing is stored.
    body = json_object(response)
    if (body["accepted"], body["rejected"]) != (0, 1):
        return [f"{where}: beta's key ingested for alpha: {body}"]
    return []


def test_another_customers_key_never_sees_alpha(
    app: FastAPI, client: TestClient, keys: Keys, billed: Billed
) -> None:
    problems: list[str] = []
    for method, path in http_routes(app):
        recipe = RECIPES.get((method, path))
        if recipe is not None:
            problems.extend(_check_other_customer(client, keys, method, path, recipe, billed))
    assert problems == []
    # A draft of another customer is missing too, like an issued invoice.
    response = client.get(f"/v1/invoices/{billed.alpha_mar}", headers=keys.beta)
    assert error_of(response, 404)["message"] == f"invoice '{billed.alpha_mar}' not found"
    # The draft of alpha's current month shows no API call from beta's attempt.
    draft = json_object(client.get(f"/v1/invoices/{billed.alpha_mar}", headers=keys.admin))
    assert [line["name"] for line in draft["data"]["lines"]] == [
        "Data written - Tier 1",
        "Data written - Tier 1",
        "Support",
    ]


def test_own_and_admin_keys_are_served(
    app: FastAPI, client: TestClient, keys: Keys, billed: Billed, webhook_probe: None
) -> None:
    target = Target(ALPHA, billed.alpha_jan, billed.alpha_feb)
    alert = {"key": "to-delete", "kind": "draft_total_above", "threshold": "1000"}
    made = client.post(f"/v1/customers/{ALPHA}/alerts", json=alert, headers=keys.admin)
    assert made.status_code == 201, made.text
    problems: list[str] = []
    for method, path in http_routes(app):
        recipe = RECIPES.get((method, path))
        if recipe is None:
            continue
        call = recipe.build(target)
        own = call.send(client, keys.alpha)
        wanted = 403 if recipe.scope == "admin" else 200
        if own.status_code != wanted:
            problems.append(f"{method} {path} with alpha's key: {own.status_code} {own.text}")
        if BETA_NAME in own.text or BETA_ALIAS in own.text:
            problems.append(f"{method} {path} with alpha's key shows beta: {own.text[:300]}")
        admin = call.send(client, keys.admin)
        if not 200 <= admin.status_code < 300:
            problems.append(f"{method} {path} with the admin key: {admin.status_code}")
    assert problems == []
    # The scheme name is case-insensitive (RFC 9110).
    secret = keys.alpha["Authorization"].removeprefix("Bearer ")
    response = client.get(f"/v1/customers/{ALPHA}", headers={"Authorization": f"bearer {secret}"})
    assert response.status_code == 200
    assert json_object(response)["data"]["name"] == ALPHA_NAME


def test_a_body_is_not_read_before_the_key_is_checked(client: TestClient) -> None:
    statuses = [
        client.post("/v1/events", content="this is not JSON").status_code,
        client.post("/v1/events", content="[" + ",".join(["{}"] * 10_001) + "]").status_code,
        client.put("/v1/setup", content="meters: [").status_code,
    ]
    assert statuses == [401, 401, 401]


# The operator console's HTML routes: admin keys only (tests/dashboard/test_console.py checks
# the pages and actions themselves). The walk above refuses them without a valid key.
CONSOLE_ROUTES = (
    ("GET", "/console"),
    ("GET", "/console/invoices"),
    ("GET", "/console/receivables"),
    ("GET", "/console/customers/{customer_id}"),
    ("POST", "/console/customers/{customer_id}/void"),
    ("POST", "/console/customers/{customer_id}/payments"),
    ("POST", "/console/customers/{customer_id}/credit-notes"),
    ("POST", "/console/customers/{customer_id}/webhooks/resend"),
)


def test_console_routes_are_walked_and_refuse_customer_keys(
    app: FastAPI, client: TestClient, keys: Keys, billed: Billed
) -> None:
    routes = set(http_routes(app))
    assert set(CONSOLE_ROUTES) <= routes
    assert {pair for pair in routes if pair[1].startswith("/console")} == set(CONSOLE_ROUTES)
    target = Target(ALPHA, billed.alpha_jan, billed.alpha_feb)
    for method, path in CONSOLE_ROUTES:
        call = _call_for(method, path, target)
        for headers in (keys.alpha, keys.beta):
            response = call.send(client, headers)
            assert response.status_code == 403, f"{method} {path}: {response.status_code}"
            assert ALPHA_NAME not in response.text
        assert call.send(client, {}).status_code == 401
    invoice = json_object(client.get(f"/v1/invoices/{billed.alpha_jan}", headers=keys.admin))
    assert invoice["data"]["status"] == "issued"
