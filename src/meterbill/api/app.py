"""The HTTP application: ``create_app(database, clock)`` builds it, nothing global."""

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from meterbill import __version__
from meterbill.api import native
from meterbill.api.errors import install_error_handlers
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
        default_response_class=ORJSONResponse,
    )
    app.state.database = database
    app.state.clock = clock
    install_error_handlers(app)
    app.include_router(native.router)

    @app.get("/healthz", summary="Liveness and database check")
    def healthz() -> dict[str, object]:
        with database.transaction() as session:
            session.connection()
        return {"status": "ok", "database": database.dialect, "version": __version__}

    return app
