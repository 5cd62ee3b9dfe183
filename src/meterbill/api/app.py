"""The HTTP application: ``create_app(database, clock)`` builds it, nothing global."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response

from meterbill import __version__
from meterbill.api import dashboard, metronome, native, pages, typesense, warpstream, webhooks
from meterbill.api.admission import Admission, Limits
from meterbill.api.errors import error_response, install_error_handlers
from meterbill.api.responses import JsonResponse
from meterbill.db.database import Database

__all__ = ["Limits", "create_app"]


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(
    database: Database, *, clock: Callable[[], datetime] = _now, limits: Limits | None = None
) -> FastAPI:
    """The API over ``database``; ``clock`` is the time source (tests pass a fixed one);
    ``limits`` bounds the requests working on the database at once (``api.admission``)."""
    limits = limits or Limits()
    app = FastAPI(
        title="meterbill",
        version=__version__,
        description="Usage-based billing: meter, price, invoice and break down usage.",
        default_response_class=JsonResponse,
    )
    app.state.database = database
    app.state.clock = clock
    install_error_handlers(app)

    @app.middleware("http")
    async def refuse_nul(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # No database stores a NUL inside text; refuse it at the door instead of a 500.
        if (
            "\x00" in request.url.path
            or "%00" in request.url.query
            or any("\x00" in value for value in request.headers.values())
        ):
            return error_response(400, "invalid_request", "NUL character in the request")
        return await call_next(request)

    app.include_router(native.router)
    app.include_router(webhooks.router)
    app.mount("/metronome", metronome.create_app(database, clock=clock))
    app.include_router(warpstream.router)
    app.include_router(typesense.router)
    app.include_router(pages.router)
    app.include_router(dashboard.router)
    app.mount(pages.STATIC_PATH, pages.static_files(), name="static")
    app.add_middleware(
        Admission,
        slots=limits.slots or database.pool_size,
        max_waiting=limits.max_waiting,
        wait_timeout=limits.wait_timeout,
        exempt=("/healthz", "/readyz", f"{pages.STATIC_PATH}/"),
    )

    @app.get("/healthz", summary="Liveness: the process answers (the database is not checked)")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "database": database.dialect, "version": __version__}

    @app.get(
        "/readyz",
        summary="Readiness: the database takes a write now (503 with the reason if not)",
        responses={503: {"description": "The database cannot be written or reached."}},
    )
    def readyz() -> dict[str, object]:
        database.check_writable()  # StorageUnavailable → 503 with Retry-After
        return {"status": "ready", "database": database.dialect, "version": __version__}

    return app
