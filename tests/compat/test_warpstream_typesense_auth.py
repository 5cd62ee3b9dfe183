"""No key, a wrong key, or another account's key gets no data from any compatible route.

The routes are enumerated from ``app.routes`` under the two APIs' prefixes, so a route
added to ``api/warpstream.py`` or ``api/typesense.py`` without a recipe here fails
``test_every_route_has_a_recipe``, and the refusal checks also run (with a plain ``GET``)
for a route that has no recipe yet: one added without authentication fails them.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import pytest
from fastapi import APIRouter
from httpx import Response

from meterbill.api import typesense, warpstream
from tests.compat.conftest_wt import (
    ALPHA_NAME,
    BACKENDS,
    COMPAT_WARNINGS,
    TS_HEADER,
    WS_HEADER,
    TestClient,
    World,
    compat_database_url,
    compat_routes,
    error_code,
    small_world,
)

pytestmark = COMPAT_WARNINGS

Api = Literal["warpstream", "typesense"]
PREFIXES = (warpstream.PREFIX, typesense.PREFIX)
GHOST_INVOICE = "00000000-0000-5000-8000-000000000000"
# Everything that identifies cust-alpha in an answer: its name, e-mail and resources.
ALPHA_MARKERS = (ALPHA_NAME, "billing@alpha.example", "ti_alpha", "wi_alpha", "vci_a1", "vci_solo")


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    json: object = None

    def send(self, client: TestClient, headers: dict[str, str]) -> Response:
        response: Response = client.request(
            self.method, self.url, params=self.params, json=self.json, headers=headers
        )
        return response


@dataclass(frozen=True, slots=True)
class Recipe:
    api: Api
    build: Callable[[str], Call]  # from the invoice id the call is about


def _ws(method: str, name: str, body: dict[str, str]) -> Recipe:
    return Recipe("warpstream", lambda _: Call(method, f"{warpstream.PREFIX}/{name}", json=body))


_PAST = {"date_start": "2026-01-15"}
_RANGE = {"date_start": "2026-01-01", "date_end": "2026-03-05"}
RECIPES: dict[tuple[str, str], Recipe] = {
    **{
        (method, f"{warpstream.PREFIX}/get_pending_invoice"): _ws(method, "get_pending_invoice", {})
        for method in ("GET", "POST")
    },
    **{
        (method, f"{warpstream.PREFIX}/get_past_invoice"): _ws(method, "get_past_invoice", _PAST)
        for method in ("GET", "POST")
    },
    **{
        (method, f"{warpstream.PREFIX}/get_invoice_breakdowns"): _ws(
            method, "get_invoice_breakdowns", _RANGE
        )
        for method in ("GET", "POST")
    },
    ("GET", typesense.PREFIX): Recipe(
        "typesense", lambda _: Call("GET", typesense.PREFIX, {"per_page": "50"})
    ),
    ("GET", f"{typesense.PREFIX}/{{invoice_id}}"): Recipe(
        "typesense", lambda invoice: Call("GET", f"{typesense.PREFIX}/{invoice}")
    ),
}


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    with small_world(compat_database_url(request, request.param)) as loaded:
        yield loaded


def alpha_invoices(world: World) -> list[str]:
    """Alpha's invoice ids (January, February, the March draft), read with its own key."""
    listing = world.client.get(typesense.PREFIX, headers={TS_HEADER: world.own})
    assert listing.status_code == 200, listing.text
    finalized = [item["id"] for item in listing.json()["invoices"]]
    assert len(finalized) == 2
    return [*finalized, _draft_id(world)]


def _draft_id(world: World) -> str:
    from meterbill.services.invoicing import customer_invoices

    with world.database.transaction() as session:
        views = customer_invoices(session, world.customer, as_of=world.clock)
    (draft,) = [v.id for v in views if v.status == "draft"]
    return draft


def call_for(method: str, path: str, invoice: str) -> tuple[Api | None, Call]:
    recipe = RECIPES.get((method, path))
    if recipe is None:
        return None, Call(method, path.replace("{invoice_id}", invoice))
    return recipe.api, recipe.build(invoice)


def refusals(world: World) -> dict[str, dict[str, str]]:
    """Credentials that must not open any route of either API."""
    return {
        "no key": {},
        "empty warpstream key": {WS_HEADER: ""},
        "empty typesense key": {TS_HEADER: " "},
        "garbage": {WS_HEADER: "not-a-key", TS_HEADER: "not-a-key"},
        "right id, wrong secret": {
            WS_HEADER: world.own.rsplit("_", 1)[0] + "_wrong",
            TS_HEADER: world.own.rsplit("_", 1)[0] + "_wrong",
        },
        "revoked": {WS_HEADER: world.revoked, TS_HEADER: world.revoked},
        "admin": {WS_HEADER: world.admin, TS_HEADER: world.admin},
        "native bearer": {"Authorization": f"Bearer {world.own}"},
    }


def refusal_problems(world: World, method: str, path: str, invoice: str) -> list[str]:
    api, call = call_for(method, path, invoice)
    problems: list[str] = []
    for label, headers in refusals(world).items():
        response = call.send(world.client, headers)
        where = f"{method} {path} with {label}"
        if any(marker in response.text for marker in ALPHA_MARKERS) or invoice in response.text:
            problems.append(f"{where}: leaks alpha's data: {response.text[:200]}")
        elif api is None:
            if response.status_code not in (401, 403):
                problems.append(f"{where}: {response.status_code} (no recipe; not refused)")
        elif api == "warpstream":
            if response.status_code != 401 or error_code(response, 401) != "invalid_api_key":
                problems.append(f"{where}: {response.status_code} {response.text[:200]}")
        elif response.status_code != 403 or error_code(response, 403) != "forbidden":
            problems.append(f"{where}: {response.status_code} {response.text[:200]}")
    return problems


def test_the_walk_finds_every_route(world: World) -> None:
    # Guards the walk itself: if it found nothing, every other test here would pass vacuously.
    assert set(compat_routes(world.app, PREFIXES)) == set(RECIPES)


def test_every_route_has_a_recipe(world: World) -> None:
    missing = [pair for pair in compat_routes(world.app, PREFIXES) if pair not in RECIPES]
    assert missing == [], f"routes without an auth recipe in {__name__}: {missing}"


def test_bad_admin_and_foreign_scheme_keys_are_refused_everywhere(world: World) -> None:
    (january, _, _) = alpha_invoices(world)
    problems: list[str] = []
    for method, path in compat_routes(world.app, PREFIXES):
        problems.extend(refusal_problems(world, method, path, january))
    assert problems == []


def test_the_key_is_checked_before_the_body(world: World) -> None:
    for name in ("get_past_invoice", "get_invoice_breakdowns"):
        response = world.client.post(
            f"{warpstream.PREFIX}/{name}", content=b"{not json", headers={}
        )
        assert error_code(response, 401) == "invalid_api_key"
    response = world.client.get(typesense.PREFIX, params={"per_page": "500"})
    assert error_code(response, 403) == "forbidden"


def test_another_accounts_key_never_sees_alpha(world: World) -> None:
    january, february, march = alpha_invoices(world)
    problems: list[str] = []
    for method, path in compat_routes(world.app, PREFIXES):
        for invoice in (january, february, march):
            api, call = call_for(method, path, invoice)
            assert api is not None, f"{method} {path} has no recipe"
            headers = {WS_HEADER if api == "warpstream" else TS_HEADER: world.other}
            response = call.send(world.client, headers)
            where = f"{method} {path} ({invoice}) with beta's key"
            if any(marker in response.text for marker in ALPHA_MARKERS):
                problems.append(f"{where}: leaks alpha's data: {response.text[:300]}")
            # (A 404 repeats the id that was asked for; any other of alpha's ids is a leak.)
            asked = invoice if "{invoice_id}" in path else None
            if any(i in response.text for i in (january, february, march) if i != asked):
                problems.append(f"{where}: shows alpha's invoice id")
            if "{invoice_id}" in path:
                # Exactly what an invoice that does not exist gets.
                ghost = call_for(method, path, GHOST_INVOICE)[1].send(world.client, headers)
                same = response.text.replace(invoice, "<id>") == ghost.text.replace(
                    GHOST_INVOICE, "<id>"
                )
                if response.status_code != 404 or ghost.status_code != 404 or not same:
                    problems.append(
                        f"{where}: {response.status_code} {response.text} / {ghost.text}"
                    )
    assert problems == []


def test_own_key_is_served_everywhere(world: World) -> None:
    """The other tests are not vacuous: alpha's key does see alpha's data on every route."""
    (january, _, _) = alpha_invoices(world)
    for method, path in compat_routes(world.app, PREFIXES):
        api, call = call_for(method, path, january)
        assert api is not None
        headers = {WS_HEADER if api == "warpstream" else TS_HEADER: world.own}
        response = call.send(world.client, headers)
        assert response.status_code == 200, f"{method} {path}: {response.text}"
        shown = ALPHA_MARKERS[2:] if api == "warpstream" else ALPHA_MARKERS[:2]
        assert any(marker in response.text for marker in shown), f"{method} {path}: {response.text}"


def test_a_route_added_without_auth_is_caught(world: World) -> None:
    leak = APIRouter(prefix=typesense.PREFIX)

    @leak.get("/{invoice_id}/leak")
    def leaky(invoice_id: str) -> dict[str, str]:
        return {"invoice": invoice_id, "owner": ALPHA_NAME}

    world.app.include_router(leak)
    try:
        added = ("GET", f"{typesense.PREFIX}/{{invoice_id}}/leak")
        assert added in compat_routes(world.app, PREFIXES)
        assert added not in RECIPES  # so test_every_route_has_a_recipe would fail
        problems = refusal_problems(world, *added, alpha_invoices(world)[0])
        assert problems, "a route without authentication went unnoticed"
        assert all(re.search(r"leaks alpha's data|not refused", p) for p in problems)
    finally:
        world.app.router.routes.pop()
        assert set(compat_routes(world.app, PREFIXES)) == set(RECIPES)
