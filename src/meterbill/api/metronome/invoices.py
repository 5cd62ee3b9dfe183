"""Metronome invoices: list, retrieve, breakdowns, void, and the credit types.

The invoices are the engine's (live drafts and issued ones, at the billing clock like the
native API); this module filters, sorts, pages and renders them. A customer key sees only
its own customer's invoices.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from meterbill.api.deps import ClockDep
from meterbill.api.metronome import models as m
from meterbill.api.metronome import shapes
from meterbill.api.metronome.models import documented_metronome
from meterbill.api.metronome.wire import (
    AdminDep,
    MetronomeJSON,
    PrincipalDep,
    SessionDep,
    decode_cursor,
    encode_cursor,
    instant,
    limit_of,
    ok,
    page,
    size_of,
    slice_page,
    span_of,
    visible_customer,
    window_of,
)
from meterbill.core.errors import InvalidRequest
from meterbill.core.periods import Span, ceil_to, floor_to
from meterbill.services import invoicing, reports
from meterbill.services import metronome as service
from meterbill.services.catalog import load_catalog

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["invoices"])

_STATUSES = {
    "DRAFT": {"draft"},
    "FINALIZED": {"issued", "paid"},
    "VOID": {"void"},
}
_SORTS = ("date_asc", "date_desc")
_WINDOWS_PER_PAGE = {"DAY": 35, "HOUR": 24}
_RATES = (404, 409, 422)
"""A route that rates invoices: 404 for a foreign customer or invoice, 409 for a usage
without a price or a state that forbids the change, 422 for a figure out of range."""

Sort = Annotated[str | None, Query(description="date_asc (default) or date_desc.")]
Status = Annotated[str | None, Query(description="DRAFT, FINALIZED or VOID.")]
SkipZero = Annotated[bool, Query(description="Leave out line items with quantity 0.")]


def _statuses(value: str | None) -> set[str] | None:
    if value is None:
        return None
    found = _STATUSES.get(value.upper())
    if found is None:
        raise InvalidRequest(f"status must be DRAFT, FINALIZED or VOID, got '{value}'")
    return found


def _descending(sort: str | None) -> bool:
    if sort is not None and sort not in _SORTS:
        raise InvalidRequest(f"sort must be date_asc or date_desc, got '{sort}'")
    return sort == "date_desc"


def _currency_matches(credit_type_id: str | None, currency: str) -> bool:
    return credit_type_id is None or shapes.credit_type(currency)["id"] == credit_type_id


@router.get(
    "/customers/{customer_id}/invoices",
    summary="List a customer's invoices",
    **documented_metronome(m.InvoicePage, *_RATES),
)
def list_invoices(
    customer_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    starting_on: Annotated[str | None, Query(description="Periods starting at/after.")] = None,
    ending_before: Annotated[str | None, Query(description="Periods ending at/before.")] = None,
    status: Status = None,
    credit_type_id: str | None = None,
    sort: Sort = None,
    skip_zero_qty_line_items: SkipZero = False,
    limit: int | None = None,
    next_page: str | None = None,
    invoice_type: Annotated[
        str | None,
        Query(
            alias="type",
            description="USAGE (every meterbill invoice), USAGE_CONSOLIDATED or SCHEDULED.",
        ),
    ] = None,
    contract_id: Annotated[
        str | None, Query(description="meterbill has no contracts: any id finds none.")
    ] = None,
    include_historical_commit_invoices: Annotated[
        bool, Query(description="Accepted; meterbill has no commit invoices.")
    ] = False,
) -> MetronomeJSON:
    size = limit_of(limit, default=25)
    record = visible_customer(session, principal, customer_id)
    since = instant(starting_on, "starting_on") if starting_on is not None else None
    until = instant(ending_before, "ending_before") if ending_before is not None else None
    wanted = _statuses(status)
    descending = _descending(sort)
    catalog = load_catalog(session).catalog
    views = [
        view
        for view in service.list_invoices(
            session,
            record.id,
            as_of=clock,
            statuses=wanted,
            starting_on=since,
            ending_before=until,
            invoice_type=service.invoice_type_of(invoice_type),
            contract_id=contract_id,
        )
        if _currency_matches(credit_type_id, view.currency)
    ]
    if descending:
        views.reverse()
    items = [
        shapes.invoice(view, record, catalog, skip_zero=skip_zero_qty_line_items) for view in views
    ]
    return slice_page(items, next_page, size)


@router.get(
    "/customers/{customer_id}/invoices/breakdowns",
    summary="A customer's invoices cut into hourly or daily windows",
    **documented_metronome(m.BreakdownPage, *_RATES),
)
def list_breakdowns(
    customer_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    starting_on: Annotated[str, Query(description="Windows starting at/after (required).")],
    ending_before: Annotated[str, Query(description="Windows ending at/before (required).")],
    window_size: Annotated[str | None, Query(description="HOUR or DAY (default).")] = None,
    status: Status = None,
    credit_type_id: str | None = None,
    sort: Sort = None,
    skip_zero_qty_line_items: SkipZero = False,
    limit: Annotated[int | None, Query(description="Windows per page (35 days, 24 hours).")] = None,
    next_page: str | None = None,
) -> MetronomeJSON:
    """One item per invoice and window. A page covers ``limit`` consecutive windows of the
    range (by default 35 days or 24 hours); ``next_page`` continues with the next ones."""
    window = window_of(window_size, default="DAY", allowed=("HOUR", "DAY"))
    size = size_of(window)
    assert size is not None
    per_page = limit_of(limit, default=_WINDOWS_PER_PAGE[window])
    span = span_of(starting_on, ending_before)
    record = visible_customer(session, principal, customer_id)
    wanted = _statuses(status)
    descending = _descending(sort)
    parts = decode_cursor(next_page, 1)
    resume = instant(parts[0], "next_page") if parts is not None else None
    reach = timedelta(seconds=size.seconds * per_page)
    if not descending:
        start = resume or span.start
        end = min(span.end, floor_to(start, size) + reach)
        chunk, more = Span(start, end), end < span.end
        following = end
    else:
        end = resume or span.end
        start = max(span.start, ceil_to(end, size) - reach)
        chunk, more = Span(start, end), start > span.start
        following = start
    if not span.start <= chunk.start < chunk.end <= span.end:
        raise InvalidRequest(f"next_page: invalid cursor '{next_page}'")
    as_of = clock
    catalog = load_catalog(session).catalog
    found = reports.range_breakdowns(
        session, record.id, span=chunk, size=size, as_of=as_of, statuses=wanted
    )
    if descending:
        found.reverse()
    items = [
        shapes.breakdown_item(
            item.invoice, record, catalog, item.entry, skip_zero=skip_zero_qty_line_items
        )
        for item in found
        if _currency_matches(credit_type_id, item.invoice.currency)
    ]
    return page(items, encode_cursor(following.isoformat()) if more else None)


@router.get(
    "/customers/{customer_id}/invoices/{invoice_id}",
    summary="Retrieve an invoice",
    **documented_metronome(m.InvoiceData, *_RATES),
)
def get_invoice(
    customer_id: str,
    invoice_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    skip_zero_qty_line_items: SkipZero = False,
) -> MetronomeJSON:
    record = visible_customer(session, principal, customer_id)
    view = invoicing.find_invoice(
        session,
        invoice_id,
        as_of=clock,
        customer_id=record.id,
    )
    catalog = load_catalog(session).catalog
    return ok(shapes.invoice(view, record, catalog, skip_zero=skip_zero_qty_line_items))


class IdIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str


@router.post(
    "/invoices/void",
    summary="Void an issued, unpaid invoice",
    **documented_metronome(m.IdData, 403, *_RATES),
)
def void_invoice(
    body: IdIn, session: SessionDep, principal: AdminDep, clock: ClockDep
) -> MetronomeJSON:
    view = invoicing.void_invoice(session, body.id, now=clock)
    return ok({"id": view.id})


@router.get(
    "/credit-types/list",
    summary="Credit types (the customers' currencies)",
    **documented_metronome(m.CreditTypePage),
)
def list_credit_types(
    session: SessionDep,
    principal: PrincipalDep,
    limit: int | None = None,
    next_page: str | None = None,
) -> MetronomeJSON:
    size = limit_of(limit, default=100)
    currencies = {"USD"} | {
        r.currency for r in service.list_customers(session) if principal.can_see(r.id)
    }
    items = [
        {**shapes.credit_type(code), "is_currency": True}
        for code in sorted(currencies, key=lambda c: (c != "USD", c))
    ]
    return slice_page(items, next_page, size)
