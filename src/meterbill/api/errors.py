"""Billing errors → HTTP statuses and one JSON error shape.

Every error body is ``{"error": {"code": "...", "message": "..."}}`` (plus ``path`` for a
setup error). Nothing here leaks a traceback: an unexpected exception is logged and
answered with a 500 that says only that.

A 503 always carries ``Retry-After``: the storage is unavailable (``storage_unavailable``:
the database cannot be written or reached) or the server is saturated (``overloaded``).
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from meterbill.api.responses import JsonResponse
from meterbill.core.errors import (
    BillingError,
    Conflict,
    InvalidEvent,
    InvalidRequest,
    InvalidSetup,
    NotFound,
    OutOfRange,
    StorageUnavailable,
    Unpriced,
    Unrepresentable,
)

__all__ = [
    "METRONOME_PREFIX",
    "OVERLOADED_RETRY_AFTER",
    "STORAGE_RETRY_AFTER",
    "ApiError",
    "edge_error",
    "error_response",
    "install_error_handlers",
    "retry_headers",
    "status_for",
]

log = logging.getLogger("meterbill.api")

_STATUS: dict[type[BillingError], int] = {
    InvalidSetup: 400,
    InvalidEvent: 400,
    InvalidRequest: 400,
    NotFound: 404,
    Conflict: 409,
    Unpriced: 409,
    Unrepresentable: 422,
    OutOfRange: 422,
    StorageUnavailable: 503,
}
STORAGE_RETRY_AFTER = 5
"""Seconds a client is asked to wait after the storage failed (``Retry-After``)."""
OVERLOADED_RETRY_AFTER = 1
"""Seconds a client is asked to wait when the server is saturated (``Retry-After``)."""


def status_for(error: BillingError) -> int:
    """The HTTP status of a billing error (every API of meterbill answers the same)."""
    return next((s for cls, s in _STATUS.items() if isinstance(error, cls)), 400)


def retry_headers(status: int) -> dict[str, str]:
    """``Retry-After`` for a 503 (the storage failed), nothing for any other status."""
    return {"Retry-After": str(STORAGE_RETRY_AFTER)} if status == 503 else {}


class ApiError(Exception):
    """An HTTP answer decided at the edge (401, 403, 413…)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, **extra}},
        status_code=status,
        headers=headers if headers is not None else retry_headers(status),
    )


METRONOME_PREFIX = "/metronome"
"""Where the Metronome-compatible application is mounted (its errors are ``{"message"}``)."""


def edge_error(
    path: str, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
) -> JsonResponse:
    """An answer given before a request reaches its application (the NUL check, admission
    control, a path no route takes): in the Metronome shape ``{"message": ...}`` under
    :data:`METRONOME_PREFIX`, as that API answers everything, else the native shape."""
    if path == METRONOME_PREFIX or path.startswith(f"{METRONOME_PREFIX}/"):
        return JsonResponse(
            {"message": message},
            status_code=status,
            headers=headers if headers is not None else retry_headers(status),
        )
    return error_response(status, code, message, headers=headers)


def _describe_validation(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BillingError)
    async def billing_error(_: Request, error: BillingError) -> JsonResponse:
        status = status_for(error)
        if isinstance(error, StorageUnavailable):
            log.warning("answered 503: %s", error)
        if isinstance(error, InvalidSetup):
            return error_response(status, error.code, str(error), path=error.path)
        return error_response(status, error.code, str(error))

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JsonResponse:
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JsonResponse:
        return error_response(400, "invalid_request", _describe_validation(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JsonResponse:
        code = "not_found" if error.status_code == 404 else "http_error"
        return edge_error(request.url.path, error.status_code, code, str(error.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JsonResponse:
        log.exception("unexpected error", exc_info=error)
        return error_response(500, "internal_error", "internal error; see the server log")
