"""meterbill's own API under ``/v1``: ingest, setup, customers, invoices, breakdowns,
credits and usage. Amounts are decimal strings; lists are ``{"data": [...],
"next_cursor": ...}`` with an opaque cursor."""

import base64
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from meterbill.api import models as m
from meterbill.api.bodies import read_body
from meterbill.api.deps import (
    ClockDep,
    PrincipalDep,
    SessionDep,
    bearer_secret,
    require_admin,
    require_customer,
    resolve_principal,
)
from meterbill.api.errors import ApiError
from meterbill.api.models import documented
from meterbill.api.responses import JsonResponse
from meterbill.api.telemetry import telemetry_of
from meterbill.core.errors import InvalidRequest, OutOfRange
from meterbill.core.events import read_number
from meterbill.core.periods import Span, WindowSize, parse_instant
from meterbill.core.setup import customer_to_document
from meterbill.core.setup_schema import setup_schema
from meterbill.db import catalog as catalog_store
from meterbill.db.database import Database
from meterbill.services import invoicing, reports
from meterbill.services.catalog import apply_setup, current_setup, load_catalog, load_customer
from meterbill.services.ingest import Status, ingest_batch, rebuild_meter
from meterbill.services.jsonio import JSONError, loads_exact
from meterbill.services.keys import Principal
from meterbill.services.setupio import load_setup_document
from meterbill.views.invoice import credit_note_document, invoice_document
from meterbill.views.reports import (
    credit_balance_document,
    range_window_documents,
    usage_series_documents,
)

__all__ = ["MAX_BATCH", "router"]

router = APIRouter(prefix="/v1")
MAX_BATCH = 10_000
MAX_BODY = 64 * 1024 * 1024
MAX_PAYMENT = Decimal("1000000000000")
_RATES = (401, 404, 409, 422)
"""A route that rates invoices: 404 for a foreign customer or invoice, 409 for a usage
without a price or a state that forbids the change, 422 for a figure out of range."""


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind == "o" and value.isdigit():
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidRequest(f"invalid cursor '{cursor}'")


def page(items: list[dict[str, object]], cursor: str | None, limit: int) -> dict[str, object]:
    start = decode_cursor(cursor)
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return {"data": chunk, "next_cursor": encode_cursor(start + limit) if more else None}


def parse_time(value: str | None, name: str) -> datetime | None:
    return None if value is None else parse_instant(value, name)


def parse_range(starting_on: str, ending_before: str) -> Span:
    """``[starting_on, ending_before)`` from two RFC 3339 query values."""
    start = parse_time(starting_on, "starting_on")
    end = parse_time(ending_before, "ending_before")
    if start is None or end is None or end <= start:
        raise InvalidRequest("ending_before must be after starting_on")
    return Span(start, end)


Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page.")]
AsOf = Annotated[
    str | None,
    Query(
        description="Show the state at this RFC 3339 time (default: now); at most 366 days "
        "after now."
    ),
]


def _as_of(clock: datetime, as_of: str | None) -> datetime:
    moment = parse_time(as_of, "as_of")
    return clock if moment is None else invoicing.check_as_of(moment, now=clock)


async def _authenticated(request: Request) -> Principal:
    """The caller, checked before the body is read (an unknown caller's body is not read)."""
    database: Database = request.app.state.database
    secret = bearer_secret(request)

    def check() -> Principal:
        with database.transaction(read_only=True) as session:
            return resolve_principal(session, secret)

    return await run_in_threadpool(check)


@router.post(
    "/events", summary="Ingest a batch of usage events", **documented(m.IngestResult, 401, 413)
)
async def ingest_events(request: Request) -> JsonResponse:
    """Up to 10,000 events (a JSON array, or ``{"events": [...]}``). Each one is accepted,
    a duplicate, or rejected with a reason; valid events are kept whatever the others do.
    An event holding ``NaN`` or ``Infinity`` is rejected alone, with the path of the value."""
    principal = await _authenticated(request)
    body = await read_body(request, MAX_BODY)
    try:
        decoded = loads_exact(body, keep_nonstandard=True)
    except JSONError as error:
        raise InvalidRequest(f"body: {error}") from None
    items = decoded.get("events") if isinstance(decoded, dict) else decoded
    if not isinstance(items, list):
        raise InvalidRequest('body must be a JSON array of events or {"events": [...]}')
    if len(items) > MAX_BATCH:
        raise ApiError(
            413, "too_many_events", f"at most {MAX_BATCH} events per request, got {len(items)}"
        )
    database: Database = request.app.state.database
    now = request.app.state.clock()
    telemetry = telemetry_of(request)

    def work() -> dict[str, object]:
        with database.transaction() as session:
            state = load_catalog(session)
            outcomes = ingest_batch(
                session, state, items, now=now, only_customer=principal.customer_id
            )
        telemetry.count_events("native", outcomes)  # stored: the transaction committed
        results = [
            {
                "index": i,
                "transaction_id": o.transaction_id,
                "status": o.status.value,
                **({"reason": o.reason} if o.reason else {}),
            }
            for i, o in enumerate(outcomes)
        ]
        return {
            "accepted": sum(o.status is Status.ACCEPTED for o in outcomes),
            "duplicate": sum(o.status is Status.DUPLICATE for o in outcomes),
            "rejected": sum(o.status is Status.REJECTED for o in outcomes),
            "results": results,
        }

    return JsonResponse(await run_in_threadpool(work))


@router.get("/setup", summary="The whole setup document", **documented(m.SetupDocument, 401, 403))
def get_setup(session: SessionDep, principal: PrincipalDep) -> JsonResponse:
    require_admin(principal)
    return JsonResponse(current_setup(session))


@router.get(
    "/setup/schema",
    summary="The JSON Schema of the setup document (no key needed)",
    description="Public, like the API docs: it describes the format, not anyone's data. "
    "Point an editor at it to check a setup file while writing it.",
    **documented(m.SetupSchema, secured=False),
)
def get_setup_schema() -> JsonResponse:
    return JsonResponse(setup_schema())


@router.put(
    "/setup",
    summary="Apply a setup document (YAML or JSON), idempotently",
    responses=documented(m.SetupReport, 401, 403, 409, 413)["responses"],
    openapi_extra={
        **documented(None)["openapi_extra"],
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        },
    },
)
async def put_setup(request: Request) -> JsonResponse:
    principal = await _authenticated(request)
    require_admin(principal)
    body = await read_body(request, MAX_BODY)
    try:
        parsed = load_setup_document(body, source="body")
    except UnicodeDecodeError:
        raise InvalidRequest("body is not UTF-8 text") from None
    database: Database = request.app.state.database
    now = request.app.state.clock()

    def work() -> dict[str, object]:
        with database.transaction() as session:
            report = apply_setup(session, parsed, now=now, rebuild=rebuild_meter)
        return {
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rebuilt": report.rebuilt,
        }

    return JsonResponse(await run_in_threadpool(work))


@router.get(
    "/customers",
    summary="Customers (a customer key sees only its own)",
    **documented(m.CustomerPage, 401),
)
def list_customers(
    session: SessionDep, principal: PrincipalDep, cursor: Cursor = None, limit: Limit = 100
) -> JsonResponse:
    rows = catalog_store.customer_rows(session)
    docs = [
        customer_to_document(load_customer(session, r.id)) for r in rows if principal.can_see(r.id)
    ]
    return JsonResponse(page(docs, cursor, limit))


@router.get(
    "/customers/{customer_id}", summary="One customer", **documented(m.CustomerData, 401, 404)
)
def get_customer(customer_id: str, session: SessionDep, principal: PrincipalDep) -> JsonResponse:
    require_customer(principal, customer_id)
    return JsonResponse({"data": customer_to_document(load_customer(session, customer_id))})


Status_ = Literal["draft", "issued", "paid", "void"]


@router.get(
    "/customers/{customer_id}/invoices",
    summary="A customer's invoices",
    **documented(m.InvoicePage, *_RATES),
)
def list_invoices(
    customer_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    status: Annotated[list[Status_] | None, Query(description="Only these statuses.")] = None,
    period_start_from: Annotated[
        str | None, Query(description="Periods starting at or after.")
    ] = None,
    period_start_before: Annotated[
        str | None, Query(description="Periods starting before.")
    ] = None,
    as_of: AsOf = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> JsonResponse:
    require_customer(principal, customer_id)
    moment = _as_of(clock, as_of)
    since = parse_time(period_start_from, "period_start_from")
    until = parse_time(period_start_before, "period_start_before")
    views = [
        v
        for v in invoicing.customer_invoices(session, customer_id, as_of=moment)
        if (status is None or v.status in status)
        and (since is None or v.ref.period.start >= since)
        and (until is None or v.ref.period.start < until)
    ]
    return JsonResponse(page([invoice_document(v) for v in views], cursor, limit))


@router.get(
    "/invoices/{invoice_id}",
    summary="One invoice with its lines",
    **documented(m.InvoiceData, *_RATES),
)
def get_invoice(
    invoice_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    as_of: AsOf = None,
) -> JsonResponse:
    view = invoicing.find_invoice(
        session, invoice_id, as_of=_as_of(clock, as_of), customer_id=principal.customer_id
    )
    return JsonResponse({"data": invoice_document(view)})


class VoidIn(BaseModel):
    write_off: bool = Field(
        default=False,
        description="Write the period off: no replacement, its late usage is never billed.",
    )


@router.post(
    "/invoices/{invoice_id}/void",
    summary="Void an issued, unpaid invoice",
    **documented(m.InvoiceData, 403, *_RATES),
)
def void_invoice(
    invoice_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    body: VoidIn | None = None,
) -> JsonResponse:
    require_admin(principal)
    view = invoicing.void_invoice(
        session, invoice_id, now=clock, write_off=body is not None and body.write_off
    )
    return JsonResponse({"data": invoice_document(view)})


class CreditNoteIn(BaseModel):
    amount: str = Field(description='Decimal string, e.g. "30.00".')
    reason: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")
    at: str | None = Field(
        default=None, description="RFC 3339 time the credit note takes effect (default: now)."
    )


@router.get(
    "/invoices/{invoice_id}/credit_notes",
    summary="An invoice's credit notes",
    **documented(m.CreditNoteList, 401, 404),
)
def list_credit_notes(
    invoice_id: str, session: SessionDep, principal: PrincipalDep
) -> JsonResponse:
    notes = invoicing.invoice_credit_notes(session, invoice_id, customer_id=principal.customer_id)
    return JsonResponse({"data": [credit_note_document(note) for note in notes]})


@router.post(
    "/invoices/{invoice_id}/credit_notes",
    summary="Issue a credit note on an issued or paid invoice",
    status_code=201,
    **documented(m.CreditNoteData, 403, *_RATES, status=201),
)
def create_credit_note(
    invoice_id: str,
    payload: CreditNoteIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> JsonResponse:
    require_admin(principal)
    amount = read_number(payload.amount)
    if amount is None or not 0 < amount <= MAX_PAYMENT:
        raise OutOfRange(
            f"amount: '{payload.amount}' must be a decimal string above 0 and at most {MAX_PAYMENT}"
        )
    moment = parse_time(payload.at, "at") or clock
    note = invoicing.issue_credit_note(
        session, invoice_id, amount=amount, reason=payload.reason, at=moment, now=clock
    )
    return JsonResponse({"data": credit_note_document(note)}, status_code=201)


class PaymentIn(BaseModel):
    amount: str = Field(description='Decimal string, e.g. "125.50".')
    reference: str | None = Field(default=None, max_length=500, pattern=r"^[^\x00]*$")
    method: str = Field(default="card", min_length=1, max_length=50, pattern=r"^[^\x00]*$")


@router.post(
    "/invoices/{invoice_id}/payments",
    summary="Record a payment",
    **documented(m.InvoiceData, 403, *_RATES),
)
def pay_invoice(
    invoice_id: str,
    payment: PaymentIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> JsonResponse:
    require_admin(principal)
    amount = read_number(payment.amount)
    if amount is None or not 0 < amount <= MAX_PAYMENT:
        raise InvalidRequest(
            f"amount: '{payment.amount}' must be a decimal string above 0 and at most {MAX_PAYMENT}"
        )
    view = invoicing.record_payment(
        session,
        invoice_id,
        amount=amount,
        now=clock,
        reference=payment.reference,
        method=payment.method,
    )
    return JsonResponse({"data": invoice_document(view)})


@router.get(
    "/customers/{customer_id}/breakdowns",
    summary="Invoice windows over a range",
    **documented(m.BreakdownPage, *_RATES),
)
def list_breakdowns(
    customer_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    starting_on: Annotated[str, Query(description="Range start (RFC 3339, inclusive).")],
    ending_before: Annotated[str, Query(description="Range end (RFC 3339, exclusive).")],
    window_size: Annotated[WindowSize, Query(description="hour or day")] = WindowSize.DAY,
    skip_zero_qty_line_items: bool = False,
    as_of: AsOf = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> JsonResponse:
    require_customer(principal, customer_id)
    span = parse_range(starting_on, ending_before)
    windows = reports.range_breakdowns(
        session,
        customer_id,
        span=span,
        size=window_size,
        as_of=_as_of(clock, as_of),
    )
    docs = range_window_documents(windows, skip_zero=skip_zero_qty_line_items)
    return JsonResponse(page(docs, cursor, limit))


@router.get(
    "/customers/{customer_id}/credits",
    summary="Credit grants and balances",
    **documented(m.CreditBalanceList, *_RATES),
)
def list_credits(
    customer_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    as_of: AsOf = None,
) -> JsonResponse:
    require_customer(principal, customer_id)
    balances = reports.credit_balances(session, customer_id, as_of=_as_of(clock, as_of))
    return JsonResponse({"data": [credit_balance_document(balance) for balance in balances]})


@router.get(
    "/customers/{customer_id}/usage",
    summary="A meter per window and group",
    **documented(m.UsagePage, 401, 404),
)
def get_usage(
    customer_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    meter: Annotated[str, Query(description="Meter key.")],
    starting_on: Annotated[str, Query(description="Range start (RFC 3339).")],
    ending_before: Annotated[str, Query(description="Range end (RFC 3339).")],
    window_size: Annotated[WindowSize, Query(description="hour or day")] = WindowSize.DAY,
    cursor: Cursor = None,
    limit: Limit = 1000,
) -> JsonResponse:
    require_customer(principal, customer_id)
    span = parse_range(starting_on, ending_before)
    series = reports.usage_series(session, customer_id, meter=meter, span=span, size=window_size)
    return JsonResponse(page(usage_series_documents(series), cursor, limit))
