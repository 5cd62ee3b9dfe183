"""The HTTP application: ``create_app(database, clock)`` builds it, nothing global."""

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Response
from fastapi.responses import RedirectResponse
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Receive, Scope, Send

from meterbill import __version__
from meterbill.api import (
    alerts,
    console,
    dashboard,
    metronome,
    native,
    pages,
    typesense,
    warpstream,
    webhooks,
)
from meterbill.api.admission import Admission, Limits
from meterbill.api.errors import METRONOME_PREFIX, edge_error, install_error_handlers
from meterbill.api.models import BEARER, Health, documented, install_openapi
from meterbill.api.responses import JsonResponse
from meterbill.api.telemetry import CONTENT_TYPE_LATEST, RequestTelemetry, Telemetry
from meterbill.db.database import Database

__all__ = ["BEARER_SCHEME", "DOCS_ASSETS", "HOME", "Limits", "Telemetry", "create_app"]

HOME = dashboard.CONSOLE_PATH
"""Where ``/`` leads: the operator console (its sign-in form without a session; the API's
interactive docs are at ``/docs``, linked from every console page)."""
DOCS_ASSETS = "/docs-assets"
"""Where ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from: the files packaged with
``fastapi-offline``, so the pages work without internet."""
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key (`meterbill keys create`): an admin key, or a customer key "
    "that sees only its own customer.",
}


def _now() -> datetime:
    return datetime.now(UTC)


class RefuseNul:
    """ASGI middleware: a request with a NUL in its path, query or headers is answered 400 at
    the door (no database stores a NUL inside text, so it could only end in a 500).

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
    runs every request in a task group and passes the response body through a memory
    stream, which costs each request time for nothing here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _holds_nul(scope):
            path = str(scope["path"])
            answer = edge_error(path, 400, "invalid_request", "NUL character in the request")
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _holds_nul(scope: Scope) -> bool:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    return (
        "\x00" in str(scope["path"])
        or b"%00" in bytes(scope.get("query_string", b""))
        or any(b"\x00" in value for _, value in headers)
    )


def create_app(
    database: Database,
    *,
    clock: Callable[[], datetime] = _now,
    limits: Limits | None = None,
    telemetry: Telemetry | None = None,
    metrics: bool = True,
) -> FastAPI:
    """The API over ``database``; ``clock`` is the time source (tests pass a fixed one);
    ``limits`` bounds the requests working on the database at once (``api.admission``);
    ``telemetry`` counts what happens (a new one by default) and ``metrics`` serves it at
    ``/metrics`` (``api.telemetry``)."""
    limits = limits or Limits()
    telemetry = telemetry or Telemetry(database)
    app = FastAPIOffline(
        title="meterbill",
        version=__version__,
        description="Usage-based billing: meter, price, invoice and break down usage.",
        default_response_class=JsonResponse,
        static_url=DOCS_ASSETS,
    )
    install_openapi(app, {BEARER: BEARER_SCHEME})
    app.state.database = database
    app.state.clock = clock
    app.state.telemetry = telemetry
    install_error_handlers(app)

    app.include_router(native.router)
    app.include_router(webhooks.router)
    app.include_router(alerts.router)
    app.mount(METRONOME_PREFIX, metronome.create_app(database, clock=clock, telemetry=telemetry))
    app.include_router(warpstream.router)
    app.include_router(typesense.router)
    app.include_router(pages.router)
    app.include_router(dashboard.router)
    app.include_router(console.router)
    app.mount(pages.STATIC_PATH, pages.static_files(), name="static")
    app.add_middleware(RefuseNul)
    app.add_middleware(
        Admission,
        slots=limits.slots or database.pool_size,
        max_waiting=limits.max_waiting,
        wait_timeout=limits.wait_timeout,
        exempt=(
            "/healthz",
            "/readyz",
            "/metrics",
            f"{pages.STATIC_PATH}/",
            f"{DOCS_ASSETS}/",
            f"/metronome{DOCS_ASSETS}/",
        ),
    )
    app.add_middleware(RequestTelemetry, telemetry=telemetry)  # the outermost: times them all

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(HOME, status_code=307)

    @app.get(
        "/healthz",
        summary="Liveness: the process answers (the database is not checked)",
        **documented(Health, secured=False, admitted=False),
    )
    def healthz() -> dict[str, object]:
        return {"status": "ok", "database": database.dialect, "version": __version__}

    @app.get(
        "/readyz",
        summary="Readiness: the database takes a write now (503 with the reason if not)",
        **documented(Health, secured=False),
    )
    def readyz() -> dict[str, object]:
        database.check_writable()  # StorageUnavailable → 503 with Retry-After
        return {"status": "ready", "database": database.dialect, "version": __version__}

    if metrics:

        @app.get("/metrics", include_in_schema=False)
        def metrics_endpoint() -> Response:
            # Open like /healthz: counts and route templates, no customer data (see
            # docs/operations.md); `serve --no-metrics` turns it off.
            return Response(telemetry.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app
