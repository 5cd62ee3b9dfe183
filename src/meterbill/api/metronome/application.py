"""The Metronome-compatible application, mounted by ``meterbill.api.app`` at ``/metronome``.

It is a FastAPI sub-application of its own so that everything under ``/metronome`` answers
the way Metronome does — errors as ``{"message": "..."}``, unknown endpoints as a 404 that
says what is not implemented — without changing the native API's error shape.
"""

import logging
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from meterbill import __version__
from meterbill.api.deps import bearer_secret
from meterbill.api.errors import ApiError, retry_headers, status_for
from meterbill.api.metronome import customers, invoices, metrics, usage
from meterbill.api.metronome.wire import MetronomeJSON, PrincipalDep
from meterbill.api.models import BEARER, install_openapi
from meterbill.api.telemetry import Telemetry
from meterbill.core.errors import (
    BillingError,
)
from meterbill.db.database import Database
from meterbill.services.keys import authenticate

__all__ = ["ALL_METHODS", "DOCS_ASSETS", "create_app", "unsupported"]

log = logging.getLogger("meterbill.api.metronome")

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
DOCS_ASSETS = "/docs-assets"
"""Swagger UI and ReDoc files for ``/metronome/docs`` and ``/metronome/redoc`` (packaged
with ``fastapi-offline``; no CDN)."""

unsupported = APIRouter()


@unsupported.api_route(
    "/{path:path}", methods=ALL_METHODS, include_in_schema=False, summary="Not implemented"
)
def not_implemented(path: str, request: Request, principal: PrincipalDep) -> MetronomeJSON:
    """Everything else Metronome has (contracts, rate cards, plans, credit grants, alerts…):
    a 404 that names what is missing, after the key was checked."""
    return error(
        404,
        f"{request.method} /{path} is not implemented by meterbill's Metronome-compatible API "
        "(supported: usage ingest and queries, customers, billable metrics, invoices and "
        "breakdowns; prices come from the meterbill setup file, so contracts, rate cards, "
        "products, plans and credit grants are not available). See docs/compat.md.",
    )


def error(status: int, message: str, *, retry: bool | None = None) -> MetronomeJSON:
    headers = retry_headers(status)
    if retry is not None:
        headers["x-should-retry"] = "true" if retry else "false"
    return MetronomeJSON({"message": message}, status_code=status, headers=headers)


def _describe(failure: RequestValidationError) -> str:
    parts = []
    for item in failure.errors()[:5]:
        if item.get("type") == "json_invalid":
            parts.append("body: not valid JSON")
            continue
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _has_valid_key(request: Request) -> bool:
    secret = bearer_secret(request)
    if secret is None:
        return False
    database: Database = request.app.state.database
    with database.transaction(read_only=True) as session:
        return authenticate(session, secret) is not None


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(BillingError)
    async def billing_error(_: Request, failure: BillingError) -> MetronomeJSON:
        status = status_for(failure)
        # A conflict (an alias in use, an invoice that cannot be voided) will not go away on
        # a retry; the official clients retry 409s unless told not to.
        return error(status, str(failure), retry=False if status == 409 else None)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, failure: ApiError) -> MetronomeJSON:
        return error(failure.status, failure.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, failure: RequestValidationError) -> MetronomeJSON:
        # FastAPI decodes a JSON body before it checks the key; a caller without a valid key
        # gets the 401 anyway, whatever it sent.
        if not await run_in_threadpool(_has_valid_key, request):
            return error(401, "missing or invalid API key")
        return error(400, _describe(failure))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, failure: HTTPException) -> MetronomeJSON:
        return error(failure.status_code, str(failure.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, failure: Exception) -> MetronomeJSON:
        log.exception("unexpected error", exc_info=failure)
        return error(500, "internal error; see the server log")


def create_app(
    database: Database, *, clock: Callable[[], datetime], telemetry: Telemetry | None = None
) -> FastAPI:
    """The Metronome v1 API over ``database``; mount it at ``/metronome`` so that clients
    use ``base_url="http://host:port/metronome"``; ``telemetry`` counts its ingest (that of
    the application it is mounted in)."""
    app = FastAPIOffline(
        title="meterbill — Metronome-compatible API",
        version=__version__,
        description="The subset of Metronome's v1 API that meterbill serves; see docs/compat.md.",
        default_response_class=MetronomeJSON,
        static_url=DOCS_ASSETS,
    )
    install_openapi(
        app,
        {
            BEARER: {
                "type": "http",
                "scheme": "bearer",
                "description": "A meterbill API key, as the Metronome clients' bearer_token.",
            }
        },
    )
    app.state.database = database
    app.state.clock = clock
    app.state.telemetry = telemetry or Telemetry(database)
    _install_errors(app)
    for module in (usage, customers, metrics, invoices):
        app.include_router(module.router)
    app.include_router(unsupported)
    return app
