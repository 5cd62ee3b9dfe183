"""The human-readable invoice: its figures as people read them, and the invoice as a PDF.

:func:`invoice_sheet` turns an :class:`~meterbill.services.invoicing.InvoiceView` into an
:class:`InvoiceSheet`: every figure of the invoice both as the exact decimal string of the
JSON API (``value``) and as shown (``text``, e.g. ``$1,732.41``, ``11,945.266 GiB``);
:func:`read_sheet` gathers what a sheet needs besides the view (the seller, the credit
notes, the products' units). Nothing here prices anything.

There is one layout: the invoice page's template and print stylesheet (``api/pages.py``
renders them). :func:`html_pdf` prints that HTML to PDF with WeasyPrint, so the page, its
browser print-out and the PDF show the same document. WeasyPrint takes its fonts from
fontconfig: every script the installed fonts cover prints as written (docs/operations.md
says which Debian font packages to install), and it fetches nothing (:func:`html_pdf`).

Which invoice a public link (``/invoices/{token}``) names is ``services.links``' answer; the
seller block is the ``seller`` setting (``services.seller``).
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from meterbill.core.catalog import Aggregation, Catalog, CreditKind, Meter, Product, Settings
from meterbill.core.events import format_timestamp
from meterbill.core.money import decimal_text, money_text
from meterbill.core.numbers import format_money, format_quantity, format_unit_price
from meterbill.core.rating import Line
from meterbill.db import Session
from meterbill.services.catalog import load_catalog
from meterbill.services.invoicing import CreditNoteView, InvoiceView, invoice_credit_notes
from meterbill.services.seller import DEFAULT_SELLER, Seller, seller_of, text_lines

if TYPE_CHECKING:
    from weasyprint.urls import URLFetcherResponse

__all__ = [
    "CREDIT_LABELS",
    "PAPERS",
    "STATUS_LABELS",
    "CreditRow",
    "Figure",
    "InvoiceSheet",
    "NoteRow",
    "Paper",
    "SheetLine",
    "TaxRow",
    "html_pdf",
    "invoice_sheet",
    "pdf_filename",
    "read_sheet",
    "unit_of",
    "units_of",
]

_DEFAULT_SETTINGS = Settings()  # net 30: DEFAULT_NET_PAYMENT_TERMS
Paper = Literal["a4", "letter"]
PAPERS: tuple[Paper, ...] = ("a4", "letter")
STATUS_LABELS = {"draft": "Draft", "issued": "Issued", "paid": "Paid", "void": "Void"}
CREDIT_LABELS = {
    CreditKind.FREE.value: "Free credits",
    CreditKind.COMMIT.value: "Commit credits",
    CreditKind.PREPAID.value: "Prepaid credits",
    CreditKind.CREDIT_NOTE.value: "Credit-note credits",
}
_TAX = "tax"
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure: ``value`` as the JSON API writes it (``"1732.41"``, a timestamp, or ``""``
    when there is none), ``text`` as people read it (``"$1,732.41"``, ``"2026-03-05"``)."""

    value: str
    text: str


@dataclass(frozen=True, slots=True)
class SheetLine:
    """A line: ``name`` is its description, else its name; ``detail`` says more (the
    product and tier behind a description, the group values, a late-usage correction);
    ``kind`` is the line's type (``usage``, ``flat``, ``discount``, ``minimum``...)."""

    name: str
    detail: str | None
    kind: str
    quantity: Figure
    unit_price: Figure
    amount: Figure


@dataclass(frozen=True, slots=True)
class TaxRow:
    """A tax line (``VAT 20%``), shown under the subtotal."""

    name: str
    amount: Figure


@dataclass(frozen=True, slots=True)
class CreditRow:
    """The credits of one grant kind (``free``, ``commit``, ``prepaid``) drawn on the invoice."""

    kind: str
    label: str
    amount: Figure
    deduction: str


@dataclass(frozen=True, slots=True)
class NoteRow:
    """A credit note on the invoice: ``Credit note 3``, its reason and date; ``amount`` is
    the whole note, ``off_due`` what it took off the amount due."""

    number: int
    label: str
    reason: str
    date: Figure
    amount: Figure
    deduction: str
    off_due: Figure


@dataclass(frozen=True, slots=True)
class InvoiceSheet:
    """Everything the invoice page and the PDF show, already formatted."""

    id: str
    number: int | None
    title: str
    status: str
    status_label: str
    currency: str
    seller: Seller
    customer_id: str
    customer_name: str
    billing_email: str | None
    billing_information: tuple[str, ...]
    period: Figure
    period_start: str
    period_end: str
    issued: Figure
    due: Figure
    paid: Figure
    voided: Figure
    lines: tuple[SheetLine, ...]  # every line but the taxes: they add up to the subtotal
    subtotal: Figure
    tax_rows: tuple[TaxRow, ...]
    tax: Figure
    taxed: bool  # the invoice has tax lines: the totals then show them and a tax row
    credit_rows: tuple[CreditRow, ...]
    credits: Figure
    credits_deduction: str
    total: Figure
    payments: Figure
    payments_deduction: str
    amount_due: Figure
    credit_notes: Figure
    credit_notes_deduction: str
    note_rows: tuple[NoteRow, ...]
    replaces: int | None
    replaced_by: int | None
    written_off: bool
    credit_balance_after: Figure
    created: str = field(default="")  # the PDF's creation date: the issue time, if any

    @property
    def is_draft(self) -> bool:
        return self.status == "draft"

    @property
    def is_void(self) -> bool:
        return self.status == "void"


# --- formatting ---------------------------------------------------------------------------


def _money(amount: Decimal, currency: str) -> Figure:
    return Figure(money_text(amount, currency), format_money(amount, currency))


def _deduction(amount: Decimal, currency: str) -> str:
    """A credit or payment as it reduces the invoice: ``-$30.00`` (``$0.00`` when nothing)."""
    return format_money(-amount if amount else _ZERO, currency)


def _date(moment: datetime | None) -> Figure:
    if moment is None:
        return Figure("", "")
    return Figure(format_timestamp(moment), moment.date().isoformat())


# --- units --------------------------------------------------------------------------------


def _as_unit(name: str) -> str:
    """A meter's name as a unit after a number: ``Node hours`` → ``node hours``; a first
    word in capitals stays (``API calls``)."""
    first, _, rest = name.strip().partition(" ")
    if len(first) > 1 and first.isupper():
        return name.strip()
    return f"{first[:1].lower()}{first[1:]}{' ' if rest else ''}{rest}"


def unit_of(product: Product, meter: Meter | None) -> str | None:
    """What one unit of ``product``'s quantity is called: its ``unit`` setting, else its
    meter's name when that names the quantity as billed (no ``quantity_divisor``, not a
    time-weighted meter, whose quantity is value × hours), else nothing."""
    if product.unit:
        return product.unit
    if (
        meter is None
        or product.quantity_divisor != 1
        or meter.aggregation is Aggregation.TIME_WEIGHTED
    ):
        return None
    return _as_unit(meter.name) or None


def units_of(catalog: Catalog) -> dict[str, str]:
    """Product key → unit, for the usage products that have one (:func:`unit_of`)."""
    units: dict[str, str] = {}
    for key, product in catalog.products.items():
        if product.meter is None:
            continue
        unit = unit_of(product, catalog.meters.get(product.meter))
        if unit is not None:
            units[key] = unit
    return units


# --- the sheet ----------------------------------------------------------------------------


def _detail(line: Line) -> str | None:
    parts: list[str] = []
    if line.description and line.description != line.name:
        parts.append(line.name)
    elif line.group:
        parts.append(", ".join(f"{key}: {value}" for key, value in line.group))
    if line.corrects is not None:
        parts.append(f"late usage of the period from {line.corrects.date().isoformat()}")
    return " · ".join(parts) or None


def _sheet_line(line: Line, currency: str, units: Mapping[str, str]) -> SheetLine:
    if line.unit_price is None:
        unit_price = Figure("", "")
    else:
        unit_price = Figure(
            decimal_text(line.unit_price), format_unit_price(line.unit_price, currency)
        )
    unit = None if line.product is None else units.get(line.product)
    return SheetLine(
        name=line.description or line.name,
        detail=_detail(line),
        kind=line.type,
        quantity=Figure(decimal_text(line.quantity), format_quantity(line.quantity, unit)),
        unit_price=unit_price,
        amount=_money(line.amount, currency),
    )


def _credit_rows(view: InvoiceView) -> tuple[CreditRow, ...]:
    by_kind: dict[str, Decimal] = defaultdict(Decimal)
    for use in view.totals.credits:
        by_kind[use.kind.value] += use.amount
    currency = view.currency
    return tuple(
        CreditRow(
            kind=kind,
            label=label,
            amount=_money(by_kind[kind], currency),
            deduction=_deduction(by_kind[kind], currency),
        )
        for kind, label in CREDIT_LABELS.items()
        if by_kind.get(kind)
    )


def _note_row(note: CreditNoteView) -> NoteRow:
    return NoteRow(
        number=note.number,
        label=f"Credit note {note.number}",
        reason=note.reason,
        date=_date(note.at),
        amount=_money(note.amount, note.currency),
        deduction=_deduction(note.amount, note.currency),
        off_due=_money(note.off_due, note.currency),
    )


def invoice_sheet(
    view: InvoiceView,
    seller: Seller = DEFAULT_SELLER,
    *,
    notes: tuple[CreditNoteView, ...] = (),
    units: Mapping[str, str] | None = None,
    settings: Settings = _DEFAULT_SETTINGS,
) -> InvoiceSheet:
    """The invoice as shown: every figure of ``view`` as the API writes it and formatted;
    ``notes`` are its credit notes, ``units`` names the products' units (:func:`units_of`),
    ``settings`` give the payment terms (the due date)."""
    currency = view.currency
    customer = view.customer
    period = view.ref.period
    last_day = (period.end - timedelta(microseconds=1)).date()
    totals = view.totals
    due_at = None if view.issued_at is None else settings.due_at(view.issued_at)
    title = "Draft invoice" if view.number is None else f"Invoice {view.number}"
    chosen = units or {}
    taxes = tuple(line for line in view.lines if line.type == _TAX)
    return InvoiceSheet(
        id=view.id,
        number=view.number,
        title=title,
        status=view.status,
        status_label=STATUS_LABELS.get(view.status, view.status.capitalize()),
        currency=currency,
        seller=seller,
        customer_id=customer.id,
        customer_name=customer.name,
        billing_email=customer.billing_email,
        billing_information=text_lines(customer.additional_billing_information),
        period=Figure(
            f"{format_timestamp(period.start)}/{format_timestamp(period.end)}",
            f"{period.start.date().isoformat()} – {last_day.isoformat()}",
        ),
        period_start=format_timestamp(period.start),
        period_end=format_timestamp(period.end),
        issued=_date(view.issued_at),
        due=_date(due_at),
        paid=_date(view.paid_at),
        voided=_date(view.voided_at),
        lines=tuple(
            _sheet_line(line, currency, chosen) for line in view.lines if line.type != _TAX
        ),
        subtotal=_money(totals.subtotal, currency),
        tax_rows=tuple(
            TaxRow(name=line.description or line.name, amount=_money(line.amount, currency))
            for line in taxes
        ),
        tax=_money(totals.tax, currency),
        taxed=bool(taxes),
        credit_rows=_credit_rows(view),
        credits=_money(totals.credits_applied, currency),
        credits_deduction=_deduction(totals.credits_applied, currency),
        total=_money(totals.total, currency),
        payments=_money(view.payments, currency),
        payments_deduction=_deduction(view.payments, currency),
        amount_due=_money(view.amount_due, currency),
        credit_notes=_money(view.credit_notes, currency),
        credit_notes_deduction=_deduction(view.credit_notes, currency),
        note_rows=tuple(_note_row(note) for note in notes),
        replaces=view.replaces,
        replaced_by=view.replaced_by,
        written_off=view.written_off,
        credit_balance_after=_money(totals.credit_balance_after, currency),
        created="" if view.issued_at is None else format_timestamp(view.issued_at),
    )


def read_sheet(session: Session, view: InvoiceView) -> InvoiceSheet:
    """:func:`invoice_sheet` with the installation's seller, the invoice's credit notes
    and the current catalog's units."""
    notes: tuple[CreditNoteView, ...] = ()
    if view.number is not None and view.credit_notes:
        notes = tuple(invoice_credit_notes(session, view.id))
    catalog = load_catalog(session).catalog
    return invoice_sheet(
        view,
        seller_of(session),
        notes=notes,
        units=units_of(catalog),
        settings=catalog.settings,
    )


def pdf_filename(sheet: InvoiceSheet) -> str:
    """``invoice-12.pdf``; a draft (no number yet) is ``invoice-draft.pdf``."""
    return f"invoice-{'draft' if sheet.number is None else sheet.number}.pdf"


# --- the PDF ------------------------------------------------------------------------------


def _refusing_fetcher() -> Any:
    """A WeasyPrint URL fetcher that answers ``data:`` URLs and refuses every other one
    (built on first use: WeasyPrint is imported only to print)."""
    from weasyprint.urls import URLFetcher

    class Fetcher(URLFetcher):  # type: ignore[misc]
        refused: list[str]

        def fetch(self, url: str, headers: object = None) -> "URLFetcherResponse":
            if url.startswith("data:"):
                response: URLFetcherResponse = super().fetch(url, headers)
                return response
            self.refused.append(url)
            raise ValueError(f"meterbill's PDFs load nothing: refused {url}")

    fetcher = Fetcher(timeout=1, allowed_protocols=("data",), allow_redirects=False)
    fetcher.refused = []
    return fetcher


def html_pdf(html: str, *, refused: list[str] | None = None) -> bytes:
    """``html`` (a whole document, its stylesheets inline) printed to PDF by WeasyPrint, with
    its print styles (``@page`` sets the paper). Nothing is fetched: a URL other than
    ``data:`` is refused (the document prints without it) and added to ``refused``."""
    from weasyprint import HTML

    fetcher = _refusing_fetcher()
    document: bytes = HTML(string=html, url_fetcher=fetcher, media_type="print").write_pdf()
    if refused is not None:
        refused.extend(fetcher.refused)
    return document
