"""Pages for people: the invoice page ``/invoices/{token}`` and its PDF.

* ``GET /invoices/{token}``: the invoice as an HTML page that prints cleanly (A4 or US
  Letter, ``?paper=letter`` for the latter); ``token`` is the signed link of
  ``services.links``, the Typesense API's ``invoice_html_url``;
* ``GET /invoices/{token}/pdf``: the same invoice as a PDF download,
  ``invoice-<number>.pdf``: the page's own template and print stylesheet printed by
  WeasyPrint (:func:`invoice_pdf`, also behind ``meterbill invoices pdf``), so the page and
  the PDF are one layout.

The token is the only credential: a tampered token, one signed with another installation's
secret or with a rotated-out one (``services.links.rotate_link_secret``), and a token of a
draft all answer the same plain 404 page, which shows no figure. Void invoices stay
viewable.

Every asset ships in the package: templates in ``api/templates`` (Jinja2), stylesheets in
``api/static``, served under ``/static`` by :func:`static_files`. Pages reference nothing
outside the server, and their Content-Security-Policy forbids it. Other pages can reuse
``base.html`` and ``style.css`` through :func:`render_page`.
"""

from functools import cache
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.staticfiles import StaticFiles

from meterbill import __version__
from meterbill.api.deps import SessionDep
from meterbill.api.models import json_errors
from meterbill.services.links import invoice_for_token
from meterbill.views.pdf import PAPERS, InvoiceSheet, Paper, html_pdf, pdf_filename, read_sheet

__all__ = [
    "PAGE_HEADERS",
    "STATIC_PATH",
    "TEMPLATES",
    "invoice_html",
    "invoice_pdf",
    "not_found_page",
    "render_page",
    "router",
    "static_files",
]

STATIC_PATH = "/static"
TEMPLATES = Environment(
    loader=PackageLoader("meterbill.api", "templates"),
    autoescape=select_autoescape(("html",), default_for_string=True, default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Nothing outside this server may be loaded, framed, posted to or told the page's URL (the
# URL is the credential).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, no-store",
}

router = APIRouter(tags=["Invoice pages"])


def static_files() -> StaticFiles:
    """The package's ``api/static`` folder as an application (mounted at ``/static``)."""
    return StaticFiles(packages=[("meterbill.api", "static")])


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def render_page(
    request: Request, template: str, *, status_code: int = 200, **context: object
) -> HTMLResponse:
    """``template`` rendered as a page. Besides ``context``, every template gets ``root``
    (the application's path prefix), ``static`` (the URL of the static folder) and
    ``version`` (to make asset URLs change with each release)."""
    root = _root(request)
    html = TEMPLATES.get_template(template).render(
        root=root, static=f"{root}{STATIC_PATH}", version=__version__, **context
    )
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


@cache
def _stylesheet(name: str) -> str:
    return files("meterbill.api").joinpath("static", name).read_text(encoding="utf-8")


def invoice_html(
    sheet: InvoiceSheet, *, paper: Paper = "a4", root: str = "", pdf_url: str = ""
) -> str:
    """The invoice page's HTML. Without ``pdf_url`` it is the document the PDF prints: its
    stylesheets inline (``style.css``, then ``print.css`` for print) and no link to itself."""
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {', '.join(PAPERS)}, got {paper!r}")
    inline = (
        None if pdf_url else {"screen": _stylesheet("style.css"), "print": _stylesheet("print.css")}
    )
    return TEMPLATES.get_template("invoice.html").render(
        root=root,
        static=f"{root}{STATIC_PATH}",
        version=__version__,
        sheet=sheet,
        paper=paper,
        pdf_url=pdf_url,
        inline_css=inline,
    )


def invoice_pdf(sheet: InvoiceSheet, *, paper: Paper = "a4") -> bytes:
    """The invoice as a PDF (A4 or US Letter): :func:`invoice_html` printed by WeasyPrint."""
    return html_pdf(invoice_html(sheet, paper=paper))


def not_found_page(request: Request) -> HTMLResponse:
    """The plain 404 page: the same for every link that shows nothing, and no figures."""
    return render_page(
        request,
        "base.html",
        status_code=404,
        title="Invoice not found",
        message="This invoice link is not valid. It may have been mistyped or revoked; "
        "ask the sender for a new link.",
    )


def _paper(value: str | None) -> Paper:
    wanted = (value or "").strip().lower()
    return next((paper for paper in PAPERS if paper == wanted), "a4")


PaperQuery = Annotated[
    str | None, Query(description="Paper size: a4 (default) or letter.", max_length=16)
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Invalid, revoked or foreign link, or a draft"},
    **json_errors(400, 503),
}


@router.get(
    "/invoices/{token}",
    summary="The invoice page of a signed invoice link",
    response_class=HTMLResponse,
    responses=_NOT_FOUND,
)
def invoice_page(
    token: str, request: Request, session: SessionDep, paper: PaperQuery = None
) -> HTMLResponse:
    view = invoice_for_token(session, token)
    if view is None:
        return not_found_page(request)
    chosen = _paper(paper)
    root = _root(request)
    pdf_url = f"{root}/invoices/{token}/pdf"
    html = invoice_html(
        read_sheet(session, view),
        paper=chosen,
        root=root,
        pdf_url=pdf_url if chosen == "a4" else f"{pdf_url}?paper={chosen}",
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


@router.get(
    "/invoices/{token}/pdf",
    summary="The invoice of a signed invoice link as a PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **_NOT_FOUND},
)
def invoice_page_pdf(
    token: str, request: Request, session: SessionDep, paper: PaperQuery = None
) -> Response:
    view = invoice_for_token(session, token)
    if view is None:
        return not_found_page(request)
    sheet = read_sheet(session, view)
    headers = {
        **PAGE_HEADERS,
        "Content-Disposition": f'attachment; filename="{pdf_filename(sheet)}"',
    }
    return Response(
        invoice_pdf(sheet, paper=_paper(paper)), media_type="application/pdf", headers=headers
    )
