"""The HTTP application: ``create_app(database, clock)`` builds it, nothing global."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response

from meterbill import __version__
from meterbill.api import dashboard, metronome, native, pages, typesense, warpstream
from meterbill.api.errors import error_response, install_error_handlers
from meterbill.api.responses import JsonResponse
from meterbill.db.database import Database

__all__ = ["create_app"]


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(database: Database, *, clock: Callable[[], datetime] = _now) -> FastAPI:
    """The API over ``database``; ``clock`` is the time source (tests pass a fixed one)."""
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
    app.mount("/metronome", metronome.create_app(database, clock=clock))
    app.include_router(warpstream.router)
    app.include_router(typesense.router)
    app.include_router(pages.router)
    app.include_router(dashboard.router)
    app.mount(pages.STATIC_PATH, pages.static_files(), name="static")

    @app.get("/healthz", summary="Liveness and database check")
    def healthz() -> dict[str, object]:
        with database.transaction() as session:
            session.connection()
        return {"status": "ok", "database": database.dialect, "version": __version__}

    return app
