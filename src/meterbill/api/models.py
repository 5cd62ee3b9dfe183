"""The native API's response shapes as Pydantic models, for the OpenAPI document only.

The bodies themselves are written by ``views/`` (dicts rendered to orjson bytes by
:class:`~meterbill.api.responses.JsonResponse`); these models describe those dicts and are
never used to validate or serialize a response, so documenting a route changes no byte on
the wire (docs/decisions.md). Each route declares them through :func:`documented`:
``responses={200: {"model": ...}}`` plus the error statuses it really answers, every one
with the :class:`ErrorBody` shape of ``api.errors``.

Every amount is a decimal string with exactly the currency's minor digits
(:data:`MoneyText`), every quantity and unit price an exact one (:data:`DecimalText`),
every time an RFC 3339 UTC string (:data:`Time`); a key that a view leaves out when it has
no value is optional and never ``null`` (``SkipJsonSchema[None]``).
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

__all__ = [
    "BEARER",
    "Customer",
    "CustomerData",
    "CustomerPage",
    "DecimalText",
    "ErrorBody",
    "Health",
    "IngestResult",
    "Invoice",
    "InvoiceData",
    "InvoicePage",
    "MoneyText",
    "SetupDocument",
    "SetupReport",
    "Time",
    "documented",
    "install_openapi",
    "json_errors",
]

DecimalText = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]+(\.[0-9]+)?$",
        description="An exact decimal in plain notation, as a string.",
        examples=["1732.41"],
    ),
]
MoneyText = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]+(\.[0-9]+)?$",
        description=(
            "An amount in plain notation with exactly the currency's minor digits, as a "
            'string: "512.00" in USD, "17" in JPY, "1.500" in KWD.'
        ),
        examples=["512.00"],
    ),
]
Time = Annotated[
    str, Field(description="An RFC 3339 time in UTC.", json_schema_extra={"format": "date-time"})
]

BEARER = "bearerAuth"
"""The name of the security scheme: ``Authorization: Bearer <API key>``."""

_DESCRIPTIONS = {
    400: "Bad input: a malformed body, parameter or cursor (the message says which).",
    401: "Missing or invalid API key.",
    403: "The key is a customer key; this needs an admin key.",
    404: "No such object, or one the key may not see.",
    409: "The object's state forbids this, or a usage has no price.",
    413: "The body is over the limit.",
    422: "A figure or time is out of range or cannot be represented.",
    503: "The storage is unavailable or the server saturated; retry after Retry-After.",
}


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Shape):
    code: str = Field(description="Stable machine-readable code, e.g. not_found.")
    message: str
    path: str | SkipJsonSchema[None] = Field(
        default=None, description="Where in a setup document (setup errors only)."
    )


class ErrorBody(_Shape):
    """Every error of the native API."""

    error: ErrorDetail


def documented(
    model: type[BaseModel] | None,
    *statuses: int,
    status: int = 200,
    secured: bool = True,
    admitted: bool = True,
    error: type[BaseModel] | None = None,
) -> dict[str, Any]:
    """Keyword arguments of a route decorator: ``model`` documents the ``status`` answer
    (``None``: an empty body), each of ``statuses`` an ``error`` body (default
    :class:`ErrorBody`). 400 is always listed (the NUL check answers it on every route) and
    503 on every ``admitted`` route (admission control, storage); ``secured`` routes take
    the API key."""
    responses: dict[int | str, dict[str, Any]] = {}
    if model is not None:
        responses[status] = {"model": model}
    shape = error or ErrorBody
    for code in sorted({400, *statuses, *((503,) if admitted else ())}):
        responses[code] = {"model": shape, "description": _DESCRIPTIONS[code]}
    extra: dict[str, Any] = {"security": [{BEARER: []}]} if secured else {}
    return {"responses": responses, "openapi_extra": extra}


def json_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """:class:`ErrorBody` answers of a route whose own answer is not JSON (a page, a PDF):
    FastAPI would list a ``model`` under the route's media type, so these name the
    schema under ``application/json`` themselves."""
    schema = {"$ref": "#/components/schemas/ErrorBody"}
    return {
        code: {
            "description": _DESCRIPTIONS[code],
            "content": {"application/json": {"schema": schema}},
        }
        for code in statuses
    }


def install_openapi(app: FastAPI, schemes: dict[str, dict[str, Any]]) -> None:
    """Make ``app``'s document add ``schemes`` (security schemes) and leave out FastAPI's
    automatic ``422 HTTPValidationError``: meterbill answers invalid parameters and bodies
    with 400 (``api.errors``), so a 422 is listed only where a route really answers one."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                answers = operation.get("responses", {})
                for answer in answers.values():
                    for content in answer.get("content", {}).values():
                        # FastAPI writes {"type": "string"} for a response class that is not
                        # its JSONResponse, then merges the model's $ref into it: keep the $ref.
                        if "$ref" in content.get("schema", {}):
                            content["schema"] = {"$ref": content["schema"]["$ref"]}
                unprocessable = answers.get("422", {})
                schema = unprocessable.get("content", {}).get("application/json", {})
                if schema.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                    del answers["422"]
        components = document.setdefault("components", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(name, None)
        components.setdefault("securitySchemes", {}).update(schemes)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


# --------------------------------------------------------------------------- service


class Health(_Shape):
    status: Literal["ok", "ready"]
    database: str = Field(description="sqlite or postgresql")
    version: str


# --------------------------------------------------------------------------- ingest and setup


class EventResult(_Shape):
    index: int = Field(description="Position of the event in the batch.")
    transaction_id: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | SkipJsonSchema[None] = Field(default=None, description="Why it was rejected.")


class IngestResult(_Shape):
    accepted: int
    duplicate: int
    rejected: int
    results: list[EventResult]


class SetupDocument(BaseModel):
    """The whole setup as a document ``PUT /v1/setup`` accepts (docs/setup.md)."""

    model_config = ConfigDict(extra="allow")
    settings: dict[str, Any] | SkipJsonSchema[None] = None
    meters: list[dict[str, Any]]
    products: list[dict[str, Any]]
    plans: list[dict[str, Any]]
    customers: list[dict[str, Any]]


class SetupSchema(BaseModel):
    """The JSON Schema (draft 2020-12) of the setup document."""

    model_config = ConfigDict(extra="allow")
    schema_uri: str = Field(alias="$schema")
    title: str


class SetupReport(_Shape):
    created: list[str] = Field(description="Keys of the objects created.")
    updated: list[str]
    unchanged: int
    rebuilt: list[str] = Field(description="Meters whose usage was recomputed.")


# --------------------------------------------------------------------------- customers


class Customer(BaseModel):
    """A customer as in the setup document (fields at their default are left out)."""

    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    currency: str | SkipJsonSchema[None] = Field(default=None, description="Absent: USD.")


class CustomerData(_Shape):
    data: Customer


class CustomerPage(_Shape):
    data: list[Customer]
    next_cursor: str | None


# --------------------------------------------------------------------------- invoices


class Line(_Shape):
    name: str
    product: str | None
    type: str
    group: dict[str, str]
    quantity: DecimalText
    amount: MoneyText
    unit_price: DecimalText | SkipJsonSchema[None] = None
    description: str | SkipJsonSchema[None] = None
    tier: int | SkipJsonSchema[None] = None
    corrects_period_start: Time | SkipJsonSchema[None] = Field(
        default=None, description="The earlier period whose late usage this line bills."
    )


class CreditUse(_Shape):
    credit: str = Field(description="The credit grant's key.")
    kind: Literal["free", "commit", "prepaid", "credit_note"]
    amount: MoneyText


class Invoice(_Shape):
    id: str
    number: int | None = Field(description="Null for a draft.")
    customer_id: str
    plan: str
    status: Literal["draft", "issued", "paid", "void"]
    currency: str
    period_start: Time
    period_end: Time
    issued_at: Time | None
    paid_at: Time | None
    voided_at: Time | None
    lines: list[Line]
    subtotal: MoneyText
    tax: MoneyText
    credits_applied: MoneyText
    credits: list[CreditUse]
    total: MoneyText
    credit_balance_after: MoneyText
    payments: MoneyText
    replaces: int | None = Field(description="Number of the invoice this one replaces.")
    replaced_by: int | None
    written_off: bool
    credit_notes: MoneyText
    amount_due: MoneyText


class InvoiceData(_Shape):
    data: Invoice


class InvoicePage(_Shape):
    data: list[Invoice]
    next_cursor: str | None


class CreditNote(_Shape):
    number: int
    invoice_id: str
    invoice_number: int
    customer_id: str
    currency: str
    amount: MoneyText
    off_due: MoneyText = Field(description="What it took off the invoice's amount due.")
    granted: MoneyText = Field(description="What became the credit grant `grant`.")
    grant: str | None
    reason: str
    at: Time
    created_at: Time


class CreditNoteData(_Shape):
    data: CreditNote


class CreditNoteList(_Shape):
    data: list[CreditNote]


# --------------------------------------------------------------------------- reports


class WindowLine(_Shape):
    name: str
    product: str | None
    type: str
    group: dict[str, str]
    quantity: DecimalText
    amount: MoneyText


class BreakdownWindow(_Shape):
    invoice_id: str
    status: Literal["draft", "issued", "paid", "void"]
    start: Time
    end: Time
    lines: list[WindowLine]
    total: MoneyText


class BreakdownPage(_Shape):
    data: list[BreakdownWindow]
    next_cursor: str | None


class CreditBalance(_Shape):
    key: str
    kind: Literal["free", "commit", "prepaid", "credit_note"]
    amount: MoneyText
    priority: int
    starts_at: Time | None
    expires_at: Time | None
    used: MoneyText
    balance: MoneyText
    pending_draft: MoneyText
    available: MoneyText
    expired: bool


class CreditBalanceList(_Shape):
    data: list[CreditBalance]


class UsageRow(_Shape):
    start: Time
    end: Time
    group: dict[str, str]
    value: DecimalText


class UsagePage(_Shape):
    data: list[UsageRow]
    next_cursor: str | None
