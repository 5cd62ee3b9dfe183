"""The usage dashboard: one customer's live draft, daily cost chart, top groups, breakdown
table (with CSV) and invoices, as HTML rendered on the server.

Nothing loads from outside the package: pages extend the invoice pages' ``base.html`` and
link only the package's stylesheets under ``/static`` (``style.css`` and ``dashboard.css``);
the chart is an inline SVG drawn here, and no page has any JavaScript.

Routes (none of them in the OpenAPI document):

* ``GET /dashboard/{customer_id}``: for an admin key or that customer's key, given as
  ``Authorization: Bearer`` or through the ``meterbill_session`` sign-in cookie;
  ``?window=day|hour`` picks the breakdown table's windows, ``?invoice=ID`` its invoice
  (default: the current period);
* ``GET /dashboard/{customer_id}/breakdown.csv``: the same table as CSV;
* ``GET /d/{token}`` and ``GET /d/{token}/breakdown.csv``: the same through a signed link
  (``services.links.dashboard_link_token``); a tampered, expired or foreign token answers the
  404 page, which shows no figure;
* ``GET /dashboard``: the sign-in form; an admin goes to the operator console
  (``api.console``), a customer key to its own dashboard;
* ``POST /dashboard/login`` (form field ``key``, optional ``customer``) sets the cookie and
  ``POST /dashboard/logout`` clears it. The cookie never holds the key: it is a session
  token signed like the dashboard links (``services.links.dashboard_session_token``: the
  key's *id* and an expiry, 12 hours), and every request checks that the key is still
  valid, so revoking the key ends its sessions; a tampered or expired cookie signs out;

Another customer's dashboard answers 404, exactly as an unknown customer does.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool

from meterbill import __version__
from meterbill.api.bodies import read_body
from meterbill.api.deps import ClockDep, SessionDep, bearer_secret
from meterbill.api.errors import ApiError
from meterbill.core.catalog import Customer
from meterbill.core.errors import NotFound
from meterbill.core.events import time_text
from meterbill.core.money import decimal_text, minor_exponent, money_text
from meterbill.core.numbers import format_money
from meterbill.core.periods import Span, WindowSize
from meterbill.db import Session
from meterbill.db.database import Database
from meterbill.services.invoicing import InvoiceView
from meterbill.services.jsonio import dumps_text
from meterbill.services.keys import Principal, authenticate, principal_of_key
from meterbill.services.links import (
    dashboard_session_token,
    invoice_link_token,
    link_secret,
    verify_dashboard_link_token,
    verify_dashboard_session_token,
)
from meterbill.views import dashboard as figures

__all__ = [
    "CONSOLE_PATH",
    "COOKIE_NAME",
    "bad_request_page",
    "caller",
    "dashboard_url",
    "html_page",
    "invoice_links",
    "login_page",
    "not_found_page",
    "root_of",
    "router",
    "usage_chart",
]

router = APIRouter(include_in_schema=False)

COOKIE_NAME = "meterbill_session"
CONSOLE_PATH = "/console"  # the operator console (api.console): where an admin lands
_SESSION = timedelta(hours=12)
_MAX_FORM = 16 * 1024
_HERE = Path(__file__).parent
_STATIC_PATH = "/static"  # where the application mounts ``api/static`` (api.pages)
_HEADERS = {
    # Only this server's stylesheet; no script, frame, image or form target elsewhere.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_templates = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

# --------------------------------------------------------------------------- formatting

_QUANTITY_STEP = Decimal("0.0001")


def _amount_text(amount: Decimal, currency: str) -> str:
    """Plain decimal with the currency's minor digits ("12.30"), exact whatever the input."""
    return money_text(amount, currency)


def _money(amount: Decimal, currency: str) -> str:
    """For people: thousands separators and the currency ("1,234.50 USD")."""
    rounded = amount.quantize(Decimal(1).scaleb(-minor_exponent(currency)))
    return f"{format(rounded if rounded == amount else amount, ',f')} {currency}"


def _quantity(value: Decimal) -> str:
    """For people: thousands separators and at most 4 decimals (pages keep the exact value
    in ``data-quantity`` or ``title``)."""
    try:
        shown = value.quantize(_QUANTITY_STEP)
    except InvalidOperation:  # more digits than the context holds: show it all
        shown = value
    text = decimal_text(shown if shown != value else value)
    whole, dot, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-') or '0'):,}{dot}{fraction}"


def _moment(moment: datetime) -> str:
    """For people: ``2026-03-05 14:07 UTC``."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def _window(span: Span, size: WindowSize) -> str:
    return _day(span.start) if size is WindowSize.DAY else f"{span.start:%Y-%m-%d %H:%M}"


def _period(span: Span) -> str:
    """First and last day, both included: 2026-03-01 – 2026-03-31 (the end is exclusive)."""
    last = max(span.end - timedelta(microseconds=1), span.start)
    return f"{_day(span.start)} – {_day(last)}"


def _group(group: tuple[tuple[str, str], ...], customer: Customer) -> str:
    """A line's group values, a resource's id shown as its name ("prod-search, oregon")."""
    names = {resource.id: resource.name for resource in customer.resources if resource.name}
    return ", ".join(names.get(value, value) for _, value in group)


def _group_json(group: tuple[tuple[str, str], ...]) -> str:
    """The group as the CSV writes it: a JSON object, or nothing for a line without one."""
    return dumps_text(dict(group)) if group else ""


_templates.filters.update(
    group_json=_group_json,
    amount_text=_amount_text,
    money=_money,
    cash=format_money,
    quantity=_quantity,
    moment=_moment,
    day=_day,
    period=_period,
    window=_window,
    group=_group,
    decimal=decimal_text,
    timestamp=time_text,
)

# --------------------------------------------------------------------------- the chart

_PALETTE = (
    "#2f6fdf",
    "#e3832b",
    "#2a9d74",
    "#c9443d",
    "#8356c5",
    "#8c6a45",
    "#d45aa6",
    "#6f7d8c",
    "#b5a829",
    "#2aa5c0",
)
_WIDTH, _HEIGHT = 960.0, 300.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 72.0, 12.0, 28.0, 40.0


@dataclass(frozen=True, slots=True)
class Bar:
    """One segment of one day's stack: a product's cost that day."""

    day: str
    product: str
    name: str
    amount: Decimal
    x: float
    y: float
    width: float
    height: float
    color: str
    future: bool


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    """The SVG's geometry in its 960×300 view box."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    days: tuple[Label, ...]
    periods: tuple[Label, ...]
    boundary: float | None
    today: float | None
    legend: tuple[tuple[str, str, str], ...]  # (key, name, colour)


def _step(top: Decimal) -> Decimal:
    """A round step (1, 2, 2.5 or 5 × 10ⁿ) that splits ``top`` into at most 4 parts."""
    if top <= 0:
        return Decimal(1)
    raw = top / 4
    power = Decimal(1).scaleb(raw.adjusted())
    for factor in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def usage_chart(data: figures.Dashboard) -> Chart | None:
    if not data.days:
        return None
    currency = data.customer.currency
    step = _step(max(day.total for day in data.days))
    top = step * 4
    plot_width = _WIDTH - _LEFT - _RIGHT
    plot_height = _HEIGHT - _TOP - _BOTTOM
    base = _TOP + plot_height
    slot = plot_width / len(data.days)
    width = max(slot * 0.72, 1.0)
    colors = {s.key: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(data.series)}
    names = {s.key: s.name for s in data.series}

    def y_of(value: Decimal) -> float:
        return base - float(value / top) * plot_height

    bars: list[Bar] = []
    labels: list[Label] = []
    periods: list[Label] = []
    boundary = today = None
    today_date = data.as_of.astimezone(UTC).date()
    for index, day in enumerate(data.days):
        x = _LEFT + index * slot + (slot - width) / 2
        below = Decimal(0)
        for key, amount in day.segments:
            upper = y_of(max(below + amount, below))
            lower = y_of(below)
            bars.append(
                Bar(
                    day=day.day.isoformat(),
                    product=key,
                    name=names[key],
                    amount=amount,
                    x=round(x, 2),
                    y=round(upper, 2),
                    width=round(width, 2),
                    height=round(max(lower - upper, 0.0), 2),
                    color=colors[key],
                    future=day.future,
                )
            )
            below += max(amount, Decimal(0))
        first_of_period = index == 0 or data.days[index - 1].period != day.period
        if first_of_period:
            periods.append(Label(_LEFT + index * slot + 4, f"{day.period} period"))
            if index > 0:
                boundary = _LEFT + index * slot
        if first_of_period or day.day.day in (8, 15, 22):
            labels.append(Label(_LEFT + (index + 0.5) * slot, f"{day.day:%b} {day.day.day}"))
        if day.day == today_date:
            today = _LEFT + (index + 0.5) * slot
    whole = step == step.to_integral_value()
    ticks = tuple(
        Tick(
            round(y_of(step * n), 2),
            f"{int(step * n):,}" if whole else _money(step * n, currency).rsplit(" ", 1)[0],
        )
        for n in range(5)
    )
    return Chart(
        width=_WIDTH,
        height=_HEIGHT,
        left=_LEFT,
        right=_WIDTH - _RIGHT,
        top=_TOP,
        bottom=base,
        bars=tuple(bars),
        ticks=ticks,
        days=tuple(labels),
        periods=tuple(periods),
        boundary=boundary,
        today=today,
        legend=tuple((s.key, s.name, colors[s.key]) for s in data.series),
    )


# --------------------------------------------------------------------------- responses


def root_of(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def html_page(
    request: Request, template: str, *, status: int = 200, **context: object
) -> HTMLResponse:
    """A page on ``base.html``: it gets ``root``, ``static`` and ``version`` as base expects."""
    root = root_of(request)
    body = _templates.get_template(template).render(
        root=root, static=f"{root}{_STATIC_PATH}", version=__version__, **context
    )
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def not_found_page(request: Request) -> HTMLResponse:
    return html_page(
        request,
        "base.html",
        status=404,
        title="Dashboard not found",
        message="This dashboard link is not valid: it may have expired or been mistyped. "
        "Ask for a new link.",
    )


def bad_request_page(request: Request, message: str) -> HTMLResponse:
    return html_page(request, "base.html", status=400, title="Bad request", message=message)


def login_page(
    request: Request, *, status: int, customer: str | None, error: str | None
) -> HTMLResponse:
    response = html_page(
        request, "dashboard_login.html", status=status, customer=customer, error=error
    )
    if error is not None:
        response.delete_cookie(COOKIE_NAME, path="/")
    return response


@dataclass(frozen=True, slots=True)
class _Links:
    """Where the page's own links go: under ``/dashboard/{id}`` or under ``/d/{token}``."""

    base: str
    signed: bool

    def page(self, window: WindowSize | str, invoice: str | None) -> str:
        return f"{self.base}?{self._query(window, invoice)}"

    def csv(self, window: WindowSize | str, invoice: str | None) -> str:
        return f"{self.base}/breakdown.csv?{self._query(window, invoice)}"

    @staticmethod
    def _query(window: WindowSize | str, invoice: str | None) -> str:
        pairs = [("window", WindowSize(window).value)]
        if invoice is not None:
            pairs.append(("invoice", invoice))
        return urlencode(pairs)


def invoice_links(session: Session, views: tuple[InvoiceView, ...], root: str) -> dict[str, str]:
    finalized = [view for view in views if view.status != "draft"]
    if not finalized:
        return {}
    secret = link_secret(session)
    return {view.id: f"{root}/invoices/{invoice_link_token(secret, view.id)}" for view in finalized}


def _groups(data: figures.Dashboard) -> list[tuple[figures.GroupCost, float]]:
    """The top groups with each one's share of the largest (for its bar), in percent."""
    largest = max((group.amount for group in data.top_groups), default=Decimal(0))
    return [
        (group, float(group.amount / largest * 100) if largest > 0 else 0.0)
        for group in data.top_groups
    ]


@dataclass(frozen=True, slots=True)
class _Query:
    """The page's query: the breakdown table's window size and invoice."""

    window: str | None
    invoice: str | None

    @property
    def size(self) -> WindowSize | None:
        if not self.window:
            return WindowSize.DAY
        try:
            return WindowSize(self.window)
        except ValueError:
            return None


def _dashboard_page(
    request: Request,
    session: Session,
    customer_id: str,
    *,
    clock: datetime,
    query: _Query,
    links: _Links,
    signed_in: bool,
    admin: bool = False,
) -> HTMLResponse:
    size = query.size
    if size is None:
        return bad_request_page(request, "window must be day or hour")
    as_of = clock
    try:
        data = figures.dashboard(
            session, customer_id, as_of=as_of, size=size, invoice_id=query.invoice
        )
    except NotFound:
        return not_found_page(request)
    return html_page(
        request,
        "dashboard.html",
        data=data,
        customer=data.customer,
        currency=data.customer.currency,
        chart=usage_chart(data),
        groups=_groups(data),
        size=size,
        invoice=query.invoice,
        links=links,
        invoice_links=invoice_links(session, data.invoices, root_of(request)),
        signed_in=signed_in,
        console=(
            f"{root_of(request)}{CONSOLE_PATH}/customers/{quote(customer_id, safe='')}"
            if admin
            else None
        ),
    )


def _csv_response(
    request: Request, session: Session, customer_id: str, *, clock: datetime, query: _Query
) -> Response:
    size = query.size
    if size is None:
        return bad_request_page(request, "window must be day or hour")
    as_of = clock
    try:
        table = figures.breakdown_table(
            session, customer_id, as_of=as_of, size=size, invoice_id=query.invoice
        )
    except NotFound:
        return not_found_page(request)
    start = min((view.ref.period.start for view in table.invoices), default=as_of)
    safe_id = re.sub(r"[^A-Za-z0-9._-]", "_", customer_id)[:64]
    filename = f"breakdown-{safe_id}-{start:%Y-%m-%d}-{size.value}.csv"
    return Response(
        figures.breakdown_csv(table.rows),
        media_type="text/csv; charset=utf-8",
        headers={**_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


def caller(request: Request, session: Session, clock: datetime) -> tuple[Principal | None, bool]:
    """The caller's principal (the key in the header first, then the sign-in cookie's
    session) and whether the cookie was used."""
    header = bearer_secret(request)
    if header is not None:
        return authenticate(session, header), False
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        key_id = verify_dashboard_session_token(link_secret(session), cookie, now=clock)
        return (principal_of_key(session, key_id) if key_id else None), True
    return None, False


def dashboard_url(request: Request, customer_id: str) -> str:
    return f"{root_of(request)}/dashboard/{quote(customer_id, safe='')}"


_INVALID_KEY = "That key is not valid (any more). Sign in again."
WindowQuery = Annotated[str | None, Query(max_length=16, description="day (default) or hour")]
InvoiceQuery = Annotated[
    str | None, Query(max_length=512, description="Invoice id (default: the current period)")
]

# --------------------------------------------------------------------------- routes


@router.get("/dashboard")
def dashboard_home(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    """The sign-in form; an admin's list of customers; a customer key's own dashboard."""
    principal, from_cookie = caller(request, session, clock)
    if principal is None:
        failed = bearer_secret(request) is not None or from_cookie
        return login_page(
            request, status=401, customer=None, error=_INVALID_KEY if failed else None
        )
    if principal.customer_id is not None:
        return RedirectResponse(dashboard_url(request, principal.customer_id), status_code=303)
    # An admin's list of customers is the operator console's first page.
    return RedirectResponse(f"{root_of(request)}{CONSOLE_PATH}", status_code=303)


@router.post("/dashboard/login")
async def login(request: Request) -> Response:
    """Form ``key`` (and optional ``customer``): check the key, then set the cookie."""
    try:
        body = await read_body(request, _MAX_FORM)
    except ApiError as error:
        return html_page(
            request,
            "base.html",
            status=error.status,
            title="Form too large",
            message=f"The sign-in form is limited to {_MAX_FORM} bytes.",
        )
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return bad_request_page(request, "the form must be URL-encoded UTF-8")
    key = (form.get("key") or [""])[0].strip()
    wanted = (form.get("customer") or [""])[0].strip() or None
    database: Database = request.app.state.database
    expires = request.app.state.clock() + _SESSION

    def check() -> tuple[Principal, str] | None:
        with database.transaction() as session:
            principal = authenticate(session, key) if key else None
            if principal is None:
                return None
            token = dashboard_session_token(
                link_secret(session), principal.key_id, expires_at=expires
            )
            return principal, token

    checked = await run_in_threadpool(check)
    if checked is None:
        return login_page(request, status=401, customer=wanted, error="That key is not valid.")
    principal, token = checked
    if principal.customer_id is not None:
        target = dashboard_url(request, principal.customer_id)
    elif wanted is not None:
        target = dashboard_url(request, wanted)
    else:
        target = f"{root_of(request)}{CONSOLE_PATH}"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(_SESSION.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/dashboard/logout")
def logout(request: Request) -> Response:
    """Forget the key: clear the cookie and go back to the sign-in form."""
    response = RedirectResponse(f"{root_of(request)}/dashboard", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


def _admit(
    request: Request, session: Session, customer_id: str, clock: datetime
) -> tuple[Response | None, bool, bool]:
    """(the refusal to send, or None when the caller may see ``customer_id``; whether the
    key came from the sign-in cookie; whether it is an admin key)."""
    principal, from_cookie = caller(request, session, clock)
    if principal is None:
        failed = bearer_secret(request) is not None or from_cookie
        error = _INVALID_KEY if failed else None
        refusal = login_page(request, status=401, customer=customer_id, error=error)
        return refusal, from_cookie, False
    if not principal.can_see(customer_id):
        return not_found_page(request), from_cookie, False
    return None, from_cookie, principal.customer_id is None


@router.get("/dashboard/{customer_id}")
def customer_dashboard(
    customer_id: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    window: WindowQuery = None,
    invoice: InvoiceQuery = None,
) -> Response:
    """The dashboard for an admin key or the customer's own key (header or cookie)."""
    refused, from_cookie, admin = _admit(request, session, customer_id, clock)
    if refused is not None:
        return refused
    return _dashboard_page(
        request,
        session,
        customer_id,
        clock=clock,
        query=_Query(window, invoice),
        links=_Links(dashboard_url(request, customer_id), signed=False),
        signed_in=from_cookie,
        admin=admin,
    )


@router.get("/dashboard/{customer_id}/breakdown.csv")
def customer_breakdown_csv(
    customer_id: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    window: WindowQuery = None,
    invoice: InvoiceQuery = None,
) -> Response:
    """The breakdown table as CSV, for the same callers as the dashboard."""
    refused, _, _ = _admit(request, session, customer_id, clock)
    if refused is not None:
        return refused
    return _csv_response(request, session, customer_id, clock=clock, query=_Query(window, invoice))


def _token_customer(session: Session, token: str, clock: datetime) -> str | None:
    return verify_dashboard_link_token(link_secret(session), token, now=clock)


@router.get("/d/{token}")
def signed_dashboard(
    token: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    window: WindowQuery = None,
    invoice: InvoiceQuery = None,
) -> Response:
    """The dashboard of a signed link: the token is the only credential."""
    customer_id = _token_customer(session, token, clock)
    if customer_id is None:
        return not_found_page(request)
    return _dashboard_page(
        request,
        session,
        customer_id,
        clock=clock,
        query=_Query(window, invoice),
        links=_Links(f"{root_of(request)}/d/{token}", signed=True),
        signed_in=False,
    )


@router.get("/d/{token}/breakdown.csv")
def signed_breakdown_csv(
    token: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    window: WindowQuery = None,
    invoice: InvoiceQuery = None,
) -> Response:
    """The breakdown CSV of a signed link."""
    customer_id = _token_customer(session, token, clock)
    if customer_id is None:
        return not_found_page(request)
    return _csv_response(request, session, customer_id, clock=clock, query=_Query(window, invoice))
