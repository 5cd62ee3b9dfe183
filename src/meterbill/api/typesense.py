"""Typesense Cloud-compatible invoices API under ``/api/v1/invoices``.

* ``GET /api/v1/invoices?page=1&per_page=10``: the account's finalized invoices, newest
  first, without line items: ``{page, per_page, total, invoices}``;
* ``GET /api/v1/invoices/{id}``: one invoice with its ``line_items``.

The key is a meterbill customer (account) key, in the ``X-TYPESENSE-CLOUD-MANAGEMENT-API-KEY``
header or in a query parameter of the same name. A missing, wrong or admin key is denied
with 403, the vendor's only "denied" status; another account's invoice is 404, exactly like
one that does not exist.

Only finalized invoices are shown: ``due`` (issued, not yet paid), ``paid`` and ``void``.
Money is in integer cents (the customer currency's minor unit), times in Unix seconds,
``period_ends_at`` is the last second of the period. ``invoice_html_url`` points at
meterbill's own invoice page, ``/invoices/{token}``, with a signed token
(``services.links``). All figures come from the engine; nothing here prices anything.
``docs/compat.md`` lists every difference from Typesense Cloud.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request, Response

from meterbill.api.deps import ClockDep, SessionDep
from meterbill.api.errors import ApiError
from meterbill.api.warpstream import ExactJSONResponse, plain_decimal, unit_price_of
from meterbill.core.adjustments import is_adjustment
from meterbill.core.catalog import Catalog, FlatPrice
from meterbill.core.errors import InvalidRequest, NotFound
from meterbill.core.money import minor_exponent, to_minor
from meterbill.core.periods import epoch_seconds
from meterbill.core.rating import Line
from meterbill.db import Session
from meterbill.services import invoicing
from meterbill.services.catalog import load_catalog
from meterbill.services.invoicing import InvoiceView
from meterbill.services.keys import authenticate
from meterbill.services.links import invoice_link_token, link_secret

__all__ = [
    "API_KEY_NAME",
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "PREFIX",
    "STATUSES",
    "router",
]

PREFIX = "/api/v1/invoices"
API_KEY_NAME = "X-TYPESENSE-CLOUD-MANAGEMENT-API-KEY"
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 50
# meterbill status → Typesense status; drafts are not shown.
STATUSES = {"issued": "due", "paid": "paid", "void": "void"}

router = APIRouter(prefix=PREFIX, tags=["Typesense Cloud compatible"])

_ONE_SECOND = timedelta(seconds=1)
_MAX_DIGITS = 30


def _account(session: Session, header_key: str | None, query_key: str | None) -> str:
    """The customer id of the account key presented; anything else is denied (403)."""
    secret = (header_key or query_key or "").strip()
    principal = authenticate(session, secret) if secret else None
    if principal is None or principal.customer_id is None:
        raise ApiError(
            403,
            "forbidden",
            f"send an account (customer) API key in the {API_KEY_NAME} header or query parameter",
        )
    return principal.customer_id


def _positive(value: str | None, name: str, default: int) -> int:
    """A query parameter that must be a positive integer (decimal digits only)."""
    if value is None:
        return default
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_DIGITS or int(text) < 1:
        raise InvalidRequest(f"{name} must be a positive integer, got {value[:40]!r}")
    return int(text)


def _cents(amount: Decimal, currency: str) -> int:
    return to_minor(amount, currency)


def _unit_cents(price: Decimal, currency: str) -> int | Decimal:
    """A unit price in minor units: an integer when whole, else the exact decimal number."""
    value = price.scaleb(minor_exponent(currency))
    if value == value.to_integral_value():
        return int(value)
    return plain_decimal(value)


def _last_second(moment: datetime) -> int:
    return epoch_seconds(moment - _ONE_SECOND) if moment.microsecond == 0 else epoch_seconds(moment)


def _summary(view: InvoiceView, request: Request, secret: bytes) -> dict[str, object]:
    customer = view.customer
    currency = customer.currency
    period = view.ref.period
    # A credit note is paid via credits too (docs/compat.md).
    credits = (
        0
        if view.status == "void"
        else _cents(view.totals.credits_applied + view.credit_notes, currency)
    )
    root = str(request.scope.get("root_path", "")).rstrip("/")
    base = str(request.base_url).rstrip("/")
    return {
        "id": view.id,
        "number": view.number,
        "status": STATUSES[view.status],
        # Taxes included (spec 6.5): what the payments and credits of a paid invoice add to.
        "amount_cents": _cents(view.totals.subtotal + view.totals.tax, currency),
        "invoice_date": None if view.issued_at is None else epoch_seconds(view.issued_at),
        "period_starts_at": epoch_seconds(period.start),
        "period_ends_at": _last_second(period.end),
        "line_items_path": f"{root}{PREFIX}/{quote(view.id, safe='')}",
        "invoice_html_url": f"{base}/invoices/{invoice_link_token(secret, view.id)}",
        "account": {
            "owner_name": customer.name,
            "owner_type": customer.owner_type,
            "billing_email": customer.billing_email,
            "additional_billing_information": customer.additional_billing_information,
        },
        "payment": {
            "paid_via_card_cents": _cents(view.payments, currency),
            "paid_via_credits_cents": credits,
            "credit_balance_snapshot_cents": _cents(view.totals.credit_balance_after, currency),
        },
    }


def _description(line: Line) -> str:
    text = line.description or line.name
    if line.corrects is not None and "(late usage, " not in text:
        text = f"{text} (late usage, {line.corrects.date().isoformat()})"
    return text


def _usage_parameters(line: Line, view: InvoiceView) -> dict[str, object]:
    """A usage line's group values, then the attributes of the customer's resource the line
    belongs to (the first group value that is a resource id): a cluster's whole
    configuration, as Typesense shows it (``memory_option``, ``vcpu_option``, …,
    ``region``). A group value wins over an attribute of the same name: it is what the
    line billed, the attribute is the resource as it is now."""
    parameters: dict[str, object] = dict(line.group_dict)
    resources = {resource.id: resource for resource in view.customer.resources}
    resource = next((resources[v] for _, v in line.group if v in resources), None)
    if resource is not None:
        for name, value in resource.attributes:
            parameters.setdefault(name, value)
    return parameters


def _line_item(line: Line, view: InvoiceView, catalog: Catalog) -> dict[str, object]:
    currency = view.currency
    product = catalog.products.get(line.product or "")
    parameters: dict[str, object]
    if is_adjustment(line):
        parameters = {}
    elif product is not None and isinstance(product.price, FlatPrice):
        parameters = {
            "plan_name": product.name,
            "starts_at": epoch_seconds(view.ref.period.start),
            "ends_at": _last_second(view.ref.period.end),
        }
    else:
        parameters = _usage_parameters(line, view)
    return {
        "description": _description(line),
        "unit_price_cents": _unit_cents(
            unit_price_of(line, catalog, view.ref.period.start), currency
        ),
        "quantity": plain_decimal(line.quantity),
        "price_cents": _cents(line.amount, currency),
        "line_item_type": line.type,
        "parameters": parameters,
    }


def _finalized(session: Session, customer_id: str, as_of: datetime) -> list[InvoiceView]:
    views = [
        view
        for view in invoicing.customer_invoices(session, customer_id, as_of=as_of)
        if view.status in STATUSES
    ]
    return sorted(views, key=lambda v: (v.ref.period.start, v.number or 0), reverse=True)


HeaderKey = Annotated[
    str | None,
    Header(alias=API_KEY_NAME, description="A meterbill customer (account) key."),
]
QueryKey = Annotated[
    str | None,
    Query(alias=API_KEY_NAME, description="The key as a query parameter (header preferred)."),
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "page or per_page is not a positive integer, or per_page > 50"},
    403: {"description": "Missing or invalid key, or not an account key"},
    503: {"description": "The storage is unavailable or the server saturated"},
}
_VENDOR_JSON: dict[str, Any] = {
    "description": "Typesense Cloud's invoice shape (docs/compat.md); amounts are JSON numbers",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


@router.get(
    "",
    summary="The account's finalized invoices, newest first (no line items)",
    response_class=ExactJSONResponse,
    responses={200: _VENDOR_JSON, **_ERRORS},
)
def list_invoices(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    header_key: HeaderKey = None,
    query_key: QueryKey = None,
    page: Annotated[str | None, Query(description="Page number, from 1 (default 1).")] = None,
    per_page: Annotated[
        str | None, Query(description=f"Invoices per page (default 10, at most {MAX_PER_PAGE}).")
    ] = None,
) -> Response:
    customer_id = _account(session, header_key, query_key)
    number = _positive(page, "page", 1)
    size = _positive(per_page, "per_page", DEFAULT_PER_PAGE)
    if size > MAX_PER_PAGE:
        raise InvalidRequest(f"per_page must be at most {MAX_PER_PAGE}, got {size}")
    views = _finalized(session, customer_id, clock)
    chunk = views[(number - 1) * size : number * size]
    secret = link_secret(session) if chunk else b""
    return ExactJSONResponse(
        {
            "page": number,
            "per_page": size,
            "total": len(views),
            "invoices": [_summary(view, request, secret) for view in chunk],
        }
    )


@router.get(
    "/{invoice_id}",
    summary="One finalized invoice with its line items",
    response_class=ExactJSONResponse,
    responses={
        200: _VENDOR_JSON,
        **_ERRORS,
        404: {"description": "No such invoice for this account"},
    },
)
def get_invoice(
    invoice_id: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    header_key: HeaderKey = None,
    query_key: QueryKey = None,
) -> Response:
    customer_id = _account(session, header_key, query_key)
    as_of = clock
    view = invoicing.find_invoice(session, invoice_id, as_of=as_of, customer_id=customer_id)
    if view.status not in STATUSES:
        raise NotFound(f"invoice '{invoice_id}' not found")
    catalog = load_catalog(session).catalog
    document = _summary(view, request, link_secret(session))
    document["line_items"] = [_line_item(line, view, catalog) for line in view.lines]
    return ExactJSONResponse(document)
