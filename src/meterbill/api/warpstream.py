"""WarpStream-compatible billing API under ``/api/v1/billing/invoices``.

Three calls, each answering ``GET`` (with a JSON body) and ``POST``, as WarpStream's own
client sends them:

* ``get_pending_invoice``: the live draft of the billing period in progress, with the
  charges accrued so far (usage up to the read time; flat fees in full);
* ``get_past_invoice`` ``{"date_start": "YYYY-MM-DD"}``: the finalized invoice whose period
  holds that day (any day of the period finds the whole period);
* ``get_invoice_breakdowns`` ``{"date_start", "date_end"}``: day by day, ``date_end``
  excluded.

The caller is the account of a meterbill customer key in ``warpstream-api-key``; an admin
key is refused like a bad one (401 ``invalid_api_key``), because every answer is one
account's. Charges are grouped tenant → workspace → virtual cluster from the customer's
resource tree: a line belongs to the resource named by one of its group values, and to that
resource's workspace and tenant above it. Lines without a resource (flat fees, the minimum
true-up, prepaid purchases) and the credits applied, as negative lines per kind, are the
``account_charges``.

Nothing here prices anything: every figure is the engine's (``services.invoicing``,
``services.reports``). Money is in the customer's currency as JSON numbers in major units
(dollars for USD): totals are the engine's rounded amounts (two decimals for USD), unit
prices and quantities exact. ``docs/compat.md`` lists every difference
from WarpStream's own service.
"""

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from meterbill.api.errors import ApiError
from meterbill.core.adjustments import is_adjustment
from meterbill.core.catalog import Catalog, CreditKind, Customer, Resource
from meterbill.core.errors import InvalidRequest, NotFound
from meterbill.core.money import minor_exponent, round_money
from meterbill.core.periods import Span, WindowSize, ceil_to
from meterbill.core.rating import Line, package_unit_price
from meterbill.db import Session
from meterbill.db.database import Database
from meterbill.services import invoicing, reports
from meterbill.services.catalog import load_catalog, load_customer
from meterbill.services.invoicing import InvoiceView
from meterbill.services.jsonio import JSONError, dumps_numbers, loads_exact
from meterbill.services.keys import authenticate

__all__ = [
    "API_KEY_HEADER",
    "CREDIT_PRODUCTS",
    "MAX_BODY_BYTES",
    "MAX_BREAKDOWN_DAYS",
    "PREFIX",
    "ExactJSONResponse",
    "plain_decimal",
    "router",
    "unit_price_of",
]

PREFIX = "/api/v1/billing/invoices"
API_KEY_HEADER = "warpstream-api-key"
MAX_BODY_BYTES = 64 * 1024
MAX_BREAKDOWN_DAYS = 400
CREDIT_PRODUCTS: Mapping[CreditKind, str] = {
    CreditKind.FREE: "Free credits",
    CreditKind.COMMIT: "Commit credits",
    CreditKind.PREPAID: "Prepaid credits",
    CreditKind.CREDIT_NOTE: "Credit-note credits",
}

router = APIRouter(prefix=PREFIX, tags=["WarpStream compatible"])

_ZERO = Decimal(0)
_ONE = Decimal(1)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LAST_MOMENT = datetime.max.replace(tzinfo=UTC)


class ExactJSONResponse(Response):
    """JSON whose decimals are numbers with exactly their digits (``103.30``, ``0.0000137``)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps_numbers(content)


def unit_price_of(line: Line, catalog: Catalog, period_start: datetime) -> Decimal:
    """The unit price shown for a line, in major units.

    The engine's unit price when the line has one; for a package price the package price
    per unit of quantity (``core.rating.package_unit_price``, the price in force for the
    line); otherwise (flat fees, minimum true-up, purchases, adjustments: quantity 1) the
    line's rounded amount.
    """
    if line.unit_price is not None:
        return line.unit_price
    if is_adjustment(line):
        # Minimum, maximum, discount and tax lines: quantity 1, no unit price (spec 6.7).
        return line.amount
    per_unit = package_unit_price(line, catalog, period_start)
    return line.amount if per_unit is None else per_unit


# --- money and dates -------------------------------------------------------------------


def _money(amount: Decimal, currency: str) -> Decimal:
    """A rounded amount with all the currency's decimals: ``512`` → ``512.00``."""
    return round_money(amount, currency).quantize(Decimal(1).scaleb(-minor_exponent(currency)))


def plain_decimal(value: Decimal) -> Decimal:
    """The same value without trailing zeros (``2880.000`` → ``2880``), exactly: unlike
    ``Decimal.normalize`` it never rounds to the context's 28 digits."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    result = Decimal(text)
    return _ZERO if result.is_zero() else result


def _date_text(moment: datetime) -> str:
    return moment.date().isoformat()


def _end_date_text(moment: datetime) -> str:
    """The first day not covered by a span ending at ``moment`` (end-exclusive)."""
    return _date_text(ceil_to(moment, WindowSize.DAY))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _next_midnight(day: date) -> datetime:
    try:
        return _midnight(day) + timedelta(days=1)
    except OverflowError:
        return _LAST_MOMENT


# --- request handling ------------------------------------------------------------------


def _account(session: Session, secret: str | None) -> str:
    """The customer id of an account key; anything else is 401 ``invalid_api_key``."""
    principal = authenticate(session, secret.strip()) if secret and secret.strip() else None
    if principal is None or principal.customer_id is None:
        raise ApiError(
            401,
            "invalid_api_key",
            f"invalid_api_key: send an account (customer) API key in the {API_KEY_HEADER} header",
        )
    return principal.customer_id


async def _read_body(request: Request) -> bytes | None:
    """The request body, or None when it is longer than ``MAX_BODY_BYTES``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _payload(body: bytes | None) -> dict[str, object]:
    if body is None:
        raise ApiError(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
    if not body.strip():
        return {}
    try:
        decoded = loads_exact(body)
    except JSONError as error:
        raise InvalidRequest(f"body: {error}") from None
    if not isinstance(decoded, dict):
        raise InvalidRequest("body must be a JSON object")
    return decoded


def _shown(value: object) -> str:
    """A decoded JSON value for an error message: short, exact, and never failing.

    ``loads_exact`` decodes ``1.5`` to a ``Decimal``, which the standard library's encoder
    refuses; and an object or array may nest deeper than any encoder goes. So scalars are
    written by the exact encoder and containers only named.
    """
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return dumps_numbers(value).decode("utf-8")[:60]


def _date_field(payload: Mapping[str, object], name: str) -> date:
    value = payload.get(name)
    if value is None:
        raise InvalidRequest(f'{name} is required, as "YYYY-MM-DD"')
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise InvalidRequest(f'{name} must be a date "YYYY-MM-DD", got {_shown(value)}')
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{name}: {value!r} is not a valid calendar date") from None


async def _serve(
    request: Request,
    secret: str | None,
    work: Callable[[Session, str, dict[str, object], datetime], dict[str, object]],
) -> Response:
    body = await _read_body(request)
    database: Database = request.app.state.database
    clock = request.app.state.clock()

    def run() -> dict[str, object]:
        with database.transaction() as session:
            customer_id = _account(session, secret)
            payload = _payload(body)
            as_of = clock
            return work(session, customer_id, payload, as_of)

    return ExactJSONResponse(await run_in_threadpool(run))


# --- the resource tree -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a line sits: its tenant, workspace and cluster (None where the tree has none)."""

    tenant: Resource | None
    workspace: Resource | None
    cluster: Resource | None


class _Tree:
    """The customer's resources, to place lines and order the output like the setup."""

    def __init__(self, customer: Customer) -> None:
        self.by_id = {resource.id: resource for resource in customer.resources}
        self.order = {resource.id: index for index, resource in enumerate(customer.resources)}

    def place(self, line: Line) -> _Place | None:
        for _, value in line.group:
            resource = self.by_id.get(value)
            if resource is not None:
                return self._place_of(resource)
        return None

    def _place_of(self, resource: Resource) -> _Place:
        found: dict[str, Resource] = {}
        current: Resource | None = resource
        seen: set[str] = set()
        while current is not None and current.id not in seen:
            seen.add(current.id)
            found.setdefault(current.kind, current)
            current = self.by_id.get(current.parent) if current.parent else None
        return _Place(found.get("tenant"), found.get("workspace"), found.get("cluster"))

    def rank(self, resource: Resource | None) -> int:
        return len(self.order) if resource is None else self.order[resource.id]


def _attribute(resource: Resource | None, name: str) -> str | None:
    if resource is None:
        return None
    return next((value for key, value in resource.attributes if key == name), None)


@dataclass(slots=True)
class _Charge:
    product: str
    unit_price: Decimal
    quantity: Decimal = _ZERO
    total: Decimal = _ZERO
    days: dict[date, tuple[Decimal, Decimal]] = field(default_factory=dict)

    def add_day(self, day: date, quantity: Decimal, amount: Decimal) -> None:
        old_quantity, old_amount = self.days.get(day, (_ZERO, _ZERO))
        self.days[day] = (old_quantity + quantity, old_amount + amount)


@dataclass(slots=True)
class _Group:
    """Charges of one cluster (or of the account), by product name and unit price."""

    charges: dict[tuple[str, Decimal], _Charge] = field(default_factory=dict)

    def charge(self, line: Line, catalog: Catalog, period_start: datetime) -> _Charge:
        unit_price = plain_decimal(unit_price_of(line, catalog, period_start))
        key = (line.name, unit_price)
        if key not in self.charges:
            self.charges[key] = _Charge(line.name, unit_price)
        return self.charges[key]


# tenant → workspace → cluster → charges
_Nested = dict[Resource | None, dict[Resource | None, dict[Resource | None, _Group]]]
_Clusters = list[tuple[Resource | None, _Group]]


@dataclass(slots=True)
class _Layout:
    tree: _Tree
    catalog: Catalog
    currency: str
    nested: _Nested = field(default_factory=dict)
    account: _Group = field(default_factory=_Group)

    def group_of(self, line: Line) -> _Group:
        place = self.tree.place(line)
        if place is None:
            return self.account
        workspaces = self.nested.setdefault(place.tenant, {})
        clusters = workspaces.setdefault(place.workspace, {})
        return clusters.setdefault(place.cluster, _Group())

    def ordered(self) -> list[tuple[Resource | None, list[tuple[Resource | None, _Clusters]]]]:
        """Tenants, their workspaces and clusters in the order of the customer's resources
        (a missing level, None, last)."""
        rank = self.tree.rank
        return [
            (
                tenant,
                [
                    (workspace, sorted(clusters.items(), key=lambda item: rank(item[0])))
                    for workspace, clusters in sorted(workspaces.items(), key=lambda i: rank(i[0]))
                ],
            )
            for tenant, workspaces in sorted(self.nested.items(), key=lambda i: rank(i[0]))
        ]


# --- invoices --------------------------------------------------------------------------


def _charge_document(charge: _Charge, currency: str) -> dict[str, object]:
    return {
        "product": charge.product,
        "unit_price": plain_decimal(charge.unit_price),
        "quantity": plain_decimal(charge.quantity),
        "total": _money(charge.total, currency),
    }


def _credit_charges(views: Sequence[InvoiceView]) -> list[_Charge]:
    """The credits applied, one negative charge per kind of grant."""
    by_kind: dict[CreditKind, Decimal] = {}
    for view in views:
        for use in view.totals.credits:
            by_kind[use.kind] = by_kind.get(use.kind, _ZERO) + use.amount
    return [
        _Charge(name, -by_kind[kind], _ONE, -by_kind[kind])
        for kind, name in CREDIT_PRODUCTS.items()
        if by_kind.get(kind, _ZERO) != 0
    ]


def _invoice_document(
    views: Sequence[InvoiceView], customer: Customer, catalog: Catalog
) -> dict[str, object]:
    currency = customer.currency
    layout = _Layout(_Tree(customer), catalog, currency)
    for view in views:
        for line in view.lines:
            charge = layout.group_of(line).charge(line, catalog, view.ref.period.start)
            charge.quantity += line.quantity
            charge.total += line.amount
    tenants: list[dict[str, object]] = []
    grand = _ZERO
    for tenant, workspaces in layout.ordered():
        tenant_total = _ZERO
        workspace_documents: list[dict[str, object]] = []
        for workspace, clusters in workspaces:
            workspace_total = _ZERO
            cluster_documents: list[dict[str, object]] = []
            for cluster, group in clusters:
                cluster_total = sum((c.total for c in group.charges.values()), _ZERO)
                cluster_documents.append(
                    {
                        "virtual_cluster_id": None if cluster is None else cluster.id,
                        "charges": [_charge_document(c, currency) for c in group.charges.values()],
                        "total": _money(cluster_total, currency),
                    }
                )
                workspace_total += cluster_total
            workspace_documents.append(
                {
                    "workspace_id": None if workspace is None else workspace.id,
                    "clusters": cluster_documents,
                    "total": _money(workspace_total, currency),
                }
            )
            tenant_total += workspace_total
        tenants.append(
            {
                "tenant_id": None if tenant is None else tenant.id,
                "workspaces": workspace_documents,
                "total": _money(tenant_total, currency),
            }
        )
        grand += tenant_total
    account = [*layout.account.charges.values(), *_credit_charges(views)]
    grand += sum((charge.total for charge in account), _ZERO)
    return {
        "date_from": _date_text(min(v.ref.period.start for v in views)),
        "date_to": _end_date_text(max(v.ref.period.end for v in views)),
        "tenants": tenants,
        "account_charges": [_charge_document(charge, currency) for charge in account],
        "total": _money(grand, currency),
    }


def _customer_views(session: Session, customer_id: str, as_of: datetime) -> list[InvoiceView]:
    return invoicing.customer_invoices(session, customer_id, as_of=as_of)


def pending_invoice(session: Session, customer_id: str, as_of: datetime) -> dict[str, object]:
    """The draft(s) of the period in progress at ``as_of``, with the charges accrued so far:
    usage measured up to ``as_of`` (a time-weighted value is not projected to the period
    end, unlike the native draft), flat fees and minimums as the period charges them."""
    views = [
        view
        for view in invoicing.customer_invoices(session, customer_id, as_of=as_of, accrued=True)
        if view.status == "draft" and view.ref.period.contains(as_of)
    ]
    if not views:
        raise NotFound("no billing period is in progress for this account")
    return _invoice_document(views, views[0].customer, load_catalog(session).catalog)


def past_invoice(
    session: Session, customer_id: str, day: date, as_of: datetime
) -> dict[str, object]:
    """The finalized (issued or paid) invoice(s) whose period holds ``day``."""
    span = Span(_midnight(day), _next_midnight(day))
    found = [
        view
        for view in _customer_views(session, customer_id, as_of)
        if view.status in ("issued", "paid") and view.ref.period.overlaps(span)
    ]
    if not found:
        raise NotFound(f"no finalized invoice covers {day.isoformat()}")
    first = min(view.ref.period.start for view in found)
    views = [view for view in found if view.ref.period.start == first]
    return _invoice_document(views, views[0].customer, load_catalog(session).catalog)


# --- breakdowns ------------------------------------------------------------------------


def _days_document(charge: _Charge, currency: str) -> dict[str, object]:
    return {
        "product": charge.product,
        "unit_price": plain_decimal(charge.unit_price),
        "breakdowns": [
            {
                "date_from": day.isoformat(),
                "date_to": (day + timedelta(days=1)).isoformat(),
                "quantity": plain_decimal(quantity),
                "total": _money(amount, currency),
            }
            for day, (quantity, amount) in sorted(charge.days.items())
        ],
    }


def breakdowns(
    session: Session, customer_id: str, start: date, end: date, as_of: datetime
) -> dict[str, object]:
    """Every invoice's lines per day over ``[start, end)``; days without usage are left out."""
    if end < start:
        raise InvalidRequest("date_end must not be before date_start")
    if (end - start).days > MAX_BREAKDOWN_DAYS:
        raise InvalidRequest(f"at most {MAX_BREAKDOWN_DAYS} days per request; narrow the range")
    windows = reports.range_breakdowns(
        session,
        customer_id,
        span=Span(_midnight(start), _midnight(end)),
        size=WindowSize.DAY,
        as_of=as_of,
    )
    customer = load_customer(session, customer_id)
    catalog = load_catalog(session).catalog
    currency = customer.currency
    layout = _Layout(_Tree(customer), catalog, currency)
    for item in windows:
        day = item.entry.window.start.date()
        for line, figure in item.entry.lines:
            if figure.quantity == 0 and figure.amount == 0:
                continue
            charge = layout.group_of(line).charge(line, catalog, item.invoice.ref.period.start)
            charge.add_day(day, figure.quantity, figure.amount)
    tenants = [
        {
            "tenant_id": None if tenant is None else tenant.id,
            "workspaces": [
                {
                    "workspace_id": None if workspace is None else workspace.id,
                    "workspace_name": None if workspace is None else workspace.name,
                    "clusters": [
                        {
                            "virtual_cluster_id": None if cluster is None else cluster.id,
                            "cluster_name": None if cluster is None else cluster.name,
                            "cluster_regions": _regions(cluster),
                            "charges": [
                                _days_document(c, currency) for c in group.charges.values()
                            ],
                        }
                        for cluster, group in clusters
                    ],
                }
                for workspace, clusters in workspaces
            ],
        }
        for tenant, workspaces in layout.ordered()
    ]
    return {
        "date_from": start.isoformat(),
        "date_to": end.isoformat(),
        "tenants": tenants,
        "account_charges": [_days_document(c, currency) for c in layout.account.charges.values()],
    }


def _regions(cluster: Resource | None) -> list[str]:
    region = _attribute(cluster, "region")
    return [] if region is None else [region]


# --- routes ----------------------------------------------------------------------------

ApiKey = Annotated[
    str | None,
    Header(
        alias=API_KEY_HEADER,
        description="A meterbill customer (account) key. Admin keys are refused.",
    ),
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed body or date, or date_end before date_start"},
    401: {"description": "Missing or invalid key, or not an account key (invalid_api_key)"},
    404: {"description": "No invoice for that date, or no period in progress"},
    503: {"description": "The storage is unavailable or the server saturated"},
}
_VENDOR_JSON: dict[str, Any] = {
    "description": "WarpStream's invoice shape (docs/compat.md); amounts are JSON numbers",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


def _body_schema(*names: str) -> dict[str, Any]:
    properties = {name: {"type": "string", "format": "date"} for name in names}
    return {
        "requestBody": {
            "required": bool(names),
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": properties, "required": list(names)}
                }
            },
        }
    }


def _endpoint(
    name: str, summary: str, *fields: str
) -> Callable[[Callable[..., Awaitable[Response]]], Callable[..., Awaitable[Response]]]:
    """Register ``name`` for GET (with a JSON body, as WarpStream documents it) and POST
    (what its curl samples send), each with its own OpenAPI operation id."""

    def register(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
        for method in ("GET", "POST"):
            router.add_api_route(
                f"/{name}",
                handler,
                methods=[method],
                name=f"warpstream_{name}_{method.lower()}",
                operation_id=f"warpstream_{name}_{method.lower()}",
                summary=summary,
                response_class=ExactJSONResponse,
                responses={200: _VENDOR_JSON, **_ERRORS},
                openapi_extra=_body_schema(*fields),
            )
        return handler

    return register


@_endpoint(
    "get_pending_invoice",
    "The invoice accruing in the current billing period",
)
async def get_pending_invoice(request: Request, api_key: ApiKey = None) -> Response:
    def work(
        session: Session, customer_id: str, _: dict[str, object], as_of: datetime
    ) -> dict[str, object]:
        return pending_invoice(session, customer_id, as_of)

    return await _serve(request, api_key, work)


@_endpoint(
    "get_past_invoice", "The finalized invoice of the period that holds date_start", "date_start"
)
async def get_past_invoice(request: Request, api_key: ApiKey = None) -> Response:
    def work(
        session: Session, customer_id: str, payload: dict[str, object], as_of: datetime
    ) -> dict[str, object]:
        return past_invoice(session, customer_id, _date_field(payload, "date_start"), as_of)

    return await _serve(request, api_key, work)


@_endpoint(
    "get_invoice_breakdowns",
    "Charges per day over [date_start, date_end)",
    "date_start",
    "date_end",
)
async def get_invoice_breakdowns(request: Request, api_key: ApiKey = None) -> Response:
    def work(
        session: Session, customer_id: str, payload: dict[str, object], as_of: datetime
    ) -> dict[str, object]:
        start = _date_field(payload, "date_start")
        end = _date_field(payload, "date_end")
        return breakdowns(session, customer_id, start, end, as_of)

    return await _serve(request, api_key, work)
