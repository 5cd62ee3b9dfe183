"""The operator console: every customer, every invoice, what is owed and how late, and one
customer's page with the actions on its invoices; HTML rendered on the server for admin keys.

It is built on the usage dashboard (``api.dashboard``): the same sign-in (``/dashboard``'s
form and its ``meterbill_session`` cookie, or ``Authorization: Bearer``), the same page frame,
stylesheets and Jinja environment, and the customer page draws the dashboard's daily cost
chart with the dashboard's own code and template. The figures come from ``views.console``.
No page has any JavaScript; every page carries the console's navigation bar.

Routes (none in the OpenAPI document), for admin keys only (a customer key gets the 403
page, no key the sign-in form with 401):

* ``GET /console``: the customers with their draft total, credit balance, last invoice and
  amount due (the landing page, and ``/``'s target);
* ``GET /console/invoices``: all invoices; ``?status=draft|issued|paid|void``,
  ``?period=YYYY-MM`` (the month the period starts in), ``?overdue=1``, ``?customer=ID``;
* ``GET /console/receivables``: open amounts by age (current, 1–30, 31–60, > 60 days past due);
* ``GET /console/customers/{id}``: one customer: figures, chart, invoices, credits, credit
  notes, webhook deliveries and the action forms;
* ``POST /console/customers/{id}/void`` (``invoice``, optional ``write_off``),
  ``POST /console/customers/{id}/payments`` (``invoice``, ``amount``, optional
  ``reference``) and ``POST /console/customers/{id}/credit-notes`` (``invoice``,
  ``amount``, ``reason``) call ``void_invoice``, ``record_payment`` and
  ``issue_credit_note`` for that customer's invoice, then send the browser back to the
  customer page (303) with a notice. A refused action answers its 4xx page with the
  service's message and changes nothing;
* ``POST /console/customers/{id}/webhooks/resend`` (``endpoint_id``, ``message_id``) calls
  ``services.webhooks.resend`` for a delivery of a message about that customer (another
  customer's message is not found; a pending one is a 409 conflict).

Forms posted with the sign-in cookie must carry ``csrf``, the session's form token
(``services.links.form_token``); a request with a key in ``Authorization`` needs none (a
browser never adds that header on its own).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from meterbill.api.bodies import read_body
from meterbill.api.dashboard import (
    CONSOLE_PATH,
    COOKIE_NAME,
    caller,
    dashboard_url,
    html_page,
    invoice_links,
    login_page,
    root_of,
    usage_chart,
)
from meterbill.api.deps import ClockDep, SessionDep, bearer_secret
from meterbill.api.errors import ApiError, status_for
from meterbill.core.errors import BillingError, InvalidRequest, NotFound
from meterbill.db import Session
from meterbill.db.database import Database
from meterbill.services import invoicing, webhooks
from meterbill.services.keys import Principal
from meterbill.services.links import form_token, link_secret, verify_form_token
from meterbill.views import console as figures

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_MAX_FORM = 16 * 1024
_AMOUNT = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,12})?")
_MAX_TEXT = 500
_INVALID_KEY = "That key is not valid (any more). Sign in again."

# --------------------------------------------------------------------------- callers


@dataclass(frozen=True, slots=True)
class _Operator:
    """An admin caller: its principal and the sign-in cookie it came with (None: a key in
    ``Authorization``, which needs no form token)."""

    principal: Principal
    cookie: str | None


class _Refused(Exception):
    """A request the console answers with ``response`` instead."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def _forbidden(request: Request) -> HTMLResponse:
    return _message(
        request,
        403,
        "Admin key needed",
        "The operator console is for admin keys. A customer key opens its own usage dashboard.",
        links=(("Your dashboard", f"{root_of(request)}/dashboard"),),
    )


def _operator(request: Request, session: Session, clock: datetime) -> _Operator:
    """The admin caller, or :class:`_Refused` with the sign-in form (401) or the 403 page."""
    principal, from_cookie = caller(request, session, clock)
    if principal is None:
        failed = bearer_secret(request) is not None or from_cookie
        raise _Refused(
            login_page(request, status=401, customer=None, error=_INVALID_KEY if failed else None)
        )
    if principal.customer_id is not None:
        raise _Refused(_forbidden(request))
    return _Operator(principal, request.cookies.get(COOKIE_NAME) if from_cookie else None)


def _guarded(
    request: Request, session: Session, clock: datetime, build: Callable[[_Operator], Response]
) -> Response:
    try:
        return build(_operator(request, session, clock))
    except _Refused as refused:
        return refused.response


# --------------------------------------------------------------------------- pages


def _url(request: Request, path: str = "", **query: str) -> str:
    pairs = {name: value for name, value in query.items() if value}
    suffix = f"?{urlencode(pairs)}" if pairs else ""
    return f"{root_of(request)}{CONSOLE_PATH}{path}{suffix}"


def _customer_url(request: Request, customer_id: str, **query: str) -> str:
    return _url(request, f"/customers/{quote(customer_id, safe='')}", **query)


def _nav(request: Request, current: str) -> dict[str, object]:
    """What every console page's navigation bar and frame need."""
    return {
        "nav": (
            ("customers", "Customers", _url(request)),
            ("invoices", "Invoices", _url(request, "/invoices")),
            ("receivables", "Receivables", _url(request, "/receivables")),
        ),
        "current": current,
        "docs_url": f"{root_of(request)}/docs",
        "logout_url": f"{root_of(request)}/dashboard/logout",
        "home_url": _url(request),
        "invoices_url": lambda **query: _url(request, "/invoices", **query),
        "customer_url": lambda customer_id, **query: _customer_url(request, customer_id, **query),
    }


def _page(
    request: Request, template: str, current: str, *, status: int = 200, **context: object
) -> HTMLResponse:
    return html_page(request, template, status=status, **_nav(request, current), **context)


def _message(
    request: Request,
    status: int,
    title: str,
    message: str,
    *,
    links: tuple[tuple[str, str], ...] = (),
) -> HTMLResponse:
    return _page(
        request,
        "console_message.html",
        "",
        status=status,
        title=title,
        message=message,
        links=links,
    )


def _bad_request(request: Request, message: str, back: str | None = None) -> HTMLResponse:
    links = (("Back", back),) if back else ()
    return _message(request, 400, "Bad request", message, links=links)


def _not_found(request: Request, what: str) -> HTMLResponse:
    return _message(request, 404, "Not found", what, links=(("All customers", _url(request)),))


StatusQuery = Annotated[str | None, Query(max_length=16)]
PeriodQuery = Annotated[str | None, Query(max_length=16)]
FlagQuery = Annotated[str | None, Query(max_length=8)]
CustomerQuery = Annotated[str | None, Query(max_length=512)]
NoticeQuery = Annotated[str | None, Query(max_length=32)]
NumberQuery = Annotated[str | None, Query(max_length=18)]


@router.get(CONSOLE_PATH)
def console_customers(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    """Every customer with its draft total, credit balance, last invoice and amount due."""

    def build(_: _Operator) -> Response:
        data = figures.customers(session, as_of=clock)
        return _page(request, "console_customers.html", "customers", data=data)

    return _guarded(request, session, clock, build)


@router.get(f"{CONSOLE_PATH}/invoices")
def console_invoices(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    status: StatusQuery = None,
    period: PeriodQuery = None,
    overdue: FlagQuery = None,
    customer: CustomerQuery = None,
) -> Response:
    """All invoices, filtered, with their totals."""

    def build(_: _Operator) -> Response:
        try:
            chosen = figures.invoice_filter(
                status=status, period=period, overdue=overdue, customer=customer
            )
        except InvalidRequest as error:
            return _bad_request(request, str(error), _url(request, "/invoices"))
        data = figures.invoice_list(session, as_of=clock, filters=chosen)
        views = tuple(row.view for row in data.rows)
        return _page(
            request,
            "console_invoices.html",
            "invoices",
            data=data,
            statuses=figures.STATUSES,
            invoice_links=invoice_links(session, views, root_of(request)),
        )

    return _guarded(request, session, clock, build)


@router.get(f"{CONSOLE_PATH}/receivables")
def console_receivables(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    """Open amounts by age."""

    def build(_: _Operator) -> Response:
        data = figures.receivables(session, as_of=clock)
        return _page(
            request, "console_receivables.html", "receivables", data=data, ages=figures.AGES
        )

    return _guarded(request, session, clock, build)


def _notice(done: str | None, number: str | None) -> str | None:
    """The sentence a finished action's redirect asks the customer page to show."""
    if done == "resent":
        return "Webhook message queued again: it is sent at once, with the same webhook-id."
    if number is None or not number.isdigit():
        return None
    sentences = {
        "void": f"Invoice {number} is void; the next close issues its replacement.",
        "write-off": f"Invoice {number} is void and written off: its period is not billed again.",
        "payment": f"Payment recorded on invoice {number}.",
        "paid": f"Payment recorded: invoice {number} is paid.",
        "credit-note": f"Credit note {number} issued.",
    }
    return sentences.get(done or "")


@router.get(f"{CONSOLE_PATH}/customers/{{customer_id}}")
def console_customer(
    customer_id: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    done: NoticeQuery = None,
    n: NumberQuery = None,
) -> Response:
    """One customer: figures, usage chart, invoices, credits and the actions."""

    def build(operator: _Operator) -> Response:
        try:
            data = figures.customer_page(session, customer_id, as_of=clock)
        except NotFound:
            return _not_found(request, f"There is no customer {customer_id!r}.")
        csrf = form_token(link_secret(session), operator.cookie) if operator.cookie else ""
        return _page(
            request,
            "console_customer.html",
            "customers",
            page=data,
            data=data.usage,
            customer=data.customer,
            currency=data.customer.currency,
            chart=usage_chart(data.usage),
            invoice_links=invoice_links(session, data.usage.invoices, root_of(request)),
            dashboard=dashboard_url(request, customer_id),
            csrf=csrf,
            notice=_notice(done, n),
            action=lambda name: _customer_url(request, customer_id) + f"/{name}",
        )

    return _guarded(request, session, clock, build)


# --------------------------------------------------------------------------- actions


async def _form(request: Request, back: str) -> dict[str, str]:
    """The URL-encoded form of ``request`` (one value per field), or :class:`_Refused`."""
    try:
        body = await read_body(request, _MAX_FORM)
    except ApiError as error:
        raise _Refused(
            _message(
                request,
                error.status,
                "Form too large",
                f"Console forms are limited to {_MAX_FORM} bytes.",
                links=(("Back", back),),
            )
        ) from None
    try:
        parsed = parse_qs(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20
        )
    except (UnicodeDecodeError, ValueError):
        raise _Refused(_bad_request(request, "The form must be URL-encoded UTF-8.", back)) from None
    return {name: values[0] for name, values in parsed.items()}


def _amount(text: str, back: str, request: Request) -> Decimal:
    cleaned = text.strip()
    if not _AMOUNT.fullmatch(cleaned):
        raise _Refused(
            _bad_request(
                request,
                f"amount must be a positive decimal like 12.50 (a dot, no separators), got "
                f"{cleaned[:40]!r}",
                back,
            )
        )
    try:
        return Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the pattern lets no such text through
        raise _Refused(_bad_request(request, "amount is not a decimal", back)) from None


def _text(form: dict[str, str], name: str, back: str, request: Request) -> str:
    value = form.get(name, "").strip()
    if len(value) > _MAX_TEXT:
        raise _Refused(_bad_request(request, f"{name} is limited to {_MAX_TEXT} characters", back))
    return value


Action = Callable[[Session, dict[str, str], str, datetime], tuple[str, int | None]]
"""(session, form, chosen id, now) → (notice key, number shown or None): one console
action."""


async def _act(
    request: Request,
    customer_id: str,
    action: Action,
    *,
    field: str = "invoice",
    missing: str = "choose an invoice",
) -> Response:
    """Check the caller and the form token, run ``action`` in one transaction, and send the
    browser back to the customer page; a refused action rolls back and answers its page.
    ``field`` is the form field naming what the action is done to (``missing``: the
    message when it is empty)."""
    back = _customer_url(request, customer_id)
    try:
        form = await _form(request, back)
    except _Refused as refused:
        return refused.response
    database: Database = request.app.state.database
    now = request.app.state.clock()

    def run() -> tuple[str, int | None]:
        with database.transaction() as session:
            operator = _operator(request, session, now)
            if operator.cookie is not None and not verify_form_token(
                link_secret(session), operator.cookie, form.get("csrf", "")
            ):
                raise _Refused(
                    _message(
                        request,
                        403,
                        "Form expired",
                        "This form does not belong to your current sign-in (it may come "
                        "from another site or an older session). Open the page again and "
                        "resubmit.",
                        links=(("Back", back),),
                    )
                )
            chosen = form.get(field, "").strip()
            if not chosen:
                raise _Refused(_bad_request(request, missing, back))
            return action(session, form, chosen, now)

    try:
        done, number = await run_in_threadpool(run)
    except _Refused as refused:
        return refused.response
    except BillingError as error:
        return _message(
            request,
            status_for(error),
            "Not done",
            str(error),
            links=(("Back to the customer", back),),
        )
    shown = "" if number is None else str(number)
    return RedirectResponse(
        _customer_url(request, customer_id, done=done, n=shown), status_code=303
    )


def _number(view: invoicing.InvoiceView) -> int:
    assert view.number is not None
    return view.number


@router.post(f"{CONSOLE_PATH}/customers/{{customer_id}}/void")
async def console_void(customer_id: str, request: Request) -> Response:
    """Void one of the customer's issued, unpaid invoices (``write_off``: no replacement)."""

    def void(
        session: Session, form: dict[str, str], invoice: str, now: datetime
    ) -> tuple[str, int]:
        write_off = form.get("write_off", "") in ("1", "on", "true")
        view = invoicing.void_invoice(
            session, invoice, now=now, write_off=write_off, customer_id=customer_id
        )
        return ("write-off" if write_off else "void"), _number(view)

    return await _act(request, customer_id, void)


@router.post(f"{CONSOLE_PATH}/customers/{{customer_id}}/payments")
async def console_payment(customer_id: str, request: Request) -> Response:
    """Record a payment on one of the customer's issued invoices."""
    back = _customer_url(request, customer_id)

    def pay(session: Session, form: dict[str, str], invoice: str, now: datetime) -> tuple[str, int]:
        amount = _amount(form.get("amount", ""), back, request)
        reference = _text(form, "reference", back, request) or None
        view = invoicing.record_payment(
            session, invoice, amount=amount, now=now, reference=reference, customer_id=customer_id
        )
        return ("paid" if view.status == "paid" else "payment"), _number(view)

    return await _act(request, customer_id, pay)


@router.post(f"{CONSOLE_PATH}/customers/{{customer_id}}/credit-notes")
async def console_credit_note(customer_id: str, request: Request) -> Response:
    """Issue a credit note on one of the customer's issued or paid invoices."""
    back = _customer_url(request, customer_id)

    def credit(
        session: Session, form: dict[str, str], invoice: str, now: datetime
    ) -> tuple[str, int]:
        amount = _amount(form.get("amount", ""), back, request)
        reason = _text(form, "reason", back, request)
        note = invoicing.issue_credit_note(
            session, invoice, amount=amount, reason=reason, at=now, now=now, customer_id=customer_id
        )
        return "credit-note", note.number

    return await _act(request, customer_id, credit)


@router.post(f"{CONSOLE_PATH}/customers/{{customer_id}}/webhooks/resend")
async def console_webhook_resend(customer_id: str, request: Request) -> Response:
    """Send a failed (or delivered) webhook message about the customer to an endpoint again."""

    def resend(
        session: Session, form: dict[str, str], message_id: str, now: datetime
    ) -> tuple[str, int | None]:
        endpoint_id = form.get("endpoint_id", "").strip()
        if not endpoint_id:
            raise _Refused(
                _bad_request(request, "choose an endpoint", _customer_url(request, customer_id))
            )
        webhooks.resend(session, endpoint_id, message_id, now=now, customer_id=customer_id)
        return "resent", None

    return await _act(
        request, customer_id, resend, field="message_id", missing="choose a message to resend"
    )
