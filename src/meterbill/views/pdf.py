"""The human-readable invoice: the figures as people read them, and the invoice as a PDF.

:func:`invoice_sheet` turns an :class:`~meterbill.services.invoicing.InvoiceView` into an
:class:`InvoiceSheet`: every figure of the invoice both as the exact decimal string of the
JSON API (``value``) and as shown (``text``, e.g. ``$1,732.41``). The invoice page
(``api/pages.py``) and :func:`invoice_pdf` both draw that one sheet, so they cannot
disagree with each other or with the API. Nothing here prices anything.

Which invoice a public link (``/invoices/{token}``) names is ``services.links``' answer; the
seller block is the ``seller`` setting (``services.seller``).

The PDF uses the standard Helvetica font, so its text is real, extractable text in every
viewer without shipping a font file. That font covers Windows-1252 (Western European
scripts); any other character is replaced by its closest ASCII form or ``?`` in the PDF
only (the HTML page shows every character).
"""

import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, VAlign
from fpdf.fonts import FontFace

from meterbill import __version__
from meterbill.core.catalog import CreditKind
from meterbill.core.events import format_timestamp
from meterbill.core.money import decimal_text, minor_exponent, round_money
from meterbill.core.rating import Line
from meterbill.services.invoicing import InvoiceView
from meterbill.services.seller import DEFAULT_SELLER, Seller, text_lines

__all__ = [
    "CREDIT_LABELS",
    "DUE_DAYS",
    "PAPERS",
    "STATUS_LABELS",
    "CreditRow",
    "Figure",
    "InvoiceSheet",
    "Paper",
    "SheetLine",
    "format_money",
    "format_quantity",
    "format_unit_price",
    "invoice_pdf",
    "invoice_sheet",
    "pdf_filename",
]

DUE_DAYS = 30
Paper = Literal["a4", "letter"]
PAPERS: tuple[Paper, ...] = ("a4", "letter")
STATUS_LABELS = {"draft": "Draft", "issued": "Issued", "paid": "Paid", "void": "Void"}
CREDIT_LABELS = {
    CreditKind.FREE.value: "Free credits",
    CreditKind.COMMIT.value: "Commit credits",
    CreditKind.PREPAID.value: "Prepaid credits",
    CreditKind.CREDIT_NOTE.value: "Credit-note credits",
}
# Symbols printed before the amount; every other currency is shown as "CHF 1,732.41".
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
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
    product and tier behind a description, the group values, a late-usage correction)."""

    name: str
    detail: str | None
    quantity: Figure
    unit_price: Figure
    amount: Figure


@dataclass(frozen=True, slots=True)
class CreditRow:
    """The credits of one grant kind (``free``, ``commit``, ``prepaid``) drawn on the invoice."""

    kind: str
    label: str
    amount: Figure
    deduction: str


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
    lines: tuple[SheetLine, ...]
    subtotal: Figure
    tax: Figure
    taxed: bool  # the invoice has tax lines: the totals then show a tax row
    credit_rows: tuple[CreditRow, ...]
    credits: Figure
    credits_deduction: str
    total: Figure
    payments: Figure
    payments_deduction: str
    amount_due: Figure
    credit_notes: Figure
    credit_notes_deduction: str
    replaces: int | None
    replaced_by: int | None
    written_off: bool
    credit_balance_after: Figure

    @property
    def is_draft(self) -> bool:
        return self.status == "draft"

    @property
    def is_void(self) -> bool:
        return self.status == "void"


# --- formatting ---------------------------------------------------------------------------


def _grouped(value: Decimal, places: int) -> str:
    return format(value, f",.{places}f")


def format_money(amount: Decimal, currency: str) -> str:
    """``$1,732.41``, ``-$5.00``, ``€12.50``, ``¥1,200``, ``CHF 9.90``: the amount rounded
    (half-up) to the currency's minor unit, with thousands separators."""
    places = minor_exponent(currency)
    rounded = round_money(amount, currency)
    digits = _grouped(abs(rounded), places)
    sign = "-" if rounded < 0 else ""
    symbol = _SYMBOLS.get(currency)
    if symbol is not None:
        return f"{sign}{symbol}{digits}"
    return f"{sign}{currency} {digits}"


def format_unit_price(price: Decimal, currency: str) -> str:
    """A unit price with every significant decimal: ``$0.10``, ``$0.000125`` (never rounded)."""
    places = max(minor_exponent(currency), _decimals(price))
    digits = _grouped(abs(price), places)
    sign = "-" if price < 0 else ""
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{digits}" if symbol is not None else f"{sign}{currency} {digits}"


def _decimals(value: Decimal) -> int:
    """How many decimals ``value`` needs to be written exactly (``1.50`` → 1, ``100`` → 0)."""
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def format_quantity(quantity: Decimal) -> str:
    """A quantity exactly, with thousands separators: ``1,234.5``, ``130``."""
    return _grouped(quantity, _decimals(quantity)) if quantity else "0"


def _money(amount: Decimal, currency: str) -> Figure:
    return Figure(decimal_text(amount), format_money(amount, currency))


def _deduction(amount: Decimal, currency: str) -> str:
    """A credit or payment as it reduces the invoice: ``-$30.00`` (``$0.00`` when nothing)."""
    return format_money(-amount if amount else _ZERO, currency)


def _date(moment: datetime | None) -> Figure:
    if moment is None:
        return Figure("", "")
    return Figure(format_timestamp(moment), moment.date().isoformat())


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


def _sheet_line(line: Line, currency: str) -> SheetLine:
    if line.unit_price is None:
        unit = Figure("", "")
    else:
        unit = Figure(decimal_text(line.unit_price), format_unit_price(line.unit_price, currency))
    return SheetLine(
        name=line.description or line.name,
        detail=_detail(line),
        quantity=Figure(decimal_text(line.quantity), format_quantity(line.quantity)),
        unit_price=unit,
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


def invoice_sheet(view: InvoiceView, seller: Seller = DEFAULT_SELLER) -> InvoiceSheet:
    """The invoice as shown: every figure of ``view`` as the API writes it and formatted."""
    currency = view.currency
    customer = view.customer
    period = view.ref.period
    last_day = (period.end - timedelta(microseconds=1)).date()
    totals = view.totals
    due_at = None if view.issued_at is None else view.issued_at + timedelta(days=DUE_DAYS)
    title = "Draft invoice" if view.number is None else f"Invoice {view.number}"
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
        lines=tuple(_sheet_line(line, currency) for line in view.lines),
        subtotal=_money(totals.subtotal, currency),
        tax=_money(totals.tax, currency),
        taxed=any(line.type == "tax" for line in view.lines),
        credit_rows=_credit_rows(view),
        credits=_money(totals.credits_applied, currency),
        credits_deduction=_deduction(totals.credits_applied, currency),
        total=_money(totals.total, currency),
        payments=_money(view.payments, currency),
        payments_deduction=_deduction(view.payments, currency),
        amount_due=_money(view.amount_due, currency),
        credit_notes=_money(view.credit_notes, currency),
        credit_notes_deduction=_deduction(view.credit_notes, currency),
        replaces=view.replaces,
        replaced_by=view.replaced_by,
        written_off=view.written_off,
        credit_balance_after=_money(totals.credit_balance_after, currency),
    )


def pdf_filename(sheet: InvoiceSheet) -> str:
    """``invoice-12.pdf``; a draft (no number yet) is ``invoice-draft.pdf``."""
    return f"invoice-{'draft' if sheet.number is None else sheet.number}.pdf"


# --- the PDF ------------------------------------------------------------------------------

_ENCODING = "windows-1252"
_FONT = "Helvetica"
_INK = (17, 24, 39)
_MUTED = (100, 108, 122)
_RULE = (209, 213, 219)
_MARGIN = 16.0
_LINE = 5.0


def _pdf_text(text: str) -> str:
    """``text`` in the characters Helvetica has (Windows-1252), the rest approximated."""
    out: list[str] = []
    for char in text:
        if char in "\t\r\n":
            out.append(" " if char != "\n" else char)
            continue
        if unicodedata.category(char).startswith("C"):
            continue
        try:
            char.encode(_ENCODING)
        except UnicodeEncodeError:
            folded = unicodedata.normalize("NFKD", char)
            ascii_form = folded.encode("ascii", "ignore").decode("ascii")
            out.append(ascii_form or "?")
        else:
            out.append(char)
    return "".join(out)


class _Document(FPDF):
    """A page with the invoice's footer: who issued it, which invoice, page n of m."""

    def __init__(self, sheet: InvoiceSheet, paper: Paper) -> None:
        super().__init__(orientation="portrait", unit="mm", format=paper.upper())
        self.sheet = sheet
        self.core_fonts_encoding = _ENCODING
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(auto=True, margin=_MARGIN + 6)
        self.set_text_color(*_INK)

    def write_line(
        self,
        text: str,
        *,
        size: float = 10,
        style: Literal["", "B"] = "",
        color: tuple[int, int, int] = _INK,
        align: Align = Align.L,
        width: float = 0,
        height: float = _LINE,
    ) -> None:
        self.set_font(_FONT, style, size)
        self.set_text_color(*color)
        self.multi_cell(
            width or self.epw, height, _pdf_text(text), align=align, new_x="LMARGIN", new_y="NEXT"
        )
        self.set_text_color(*_INK)

    def footer(self) -> None:
        self.set_y(-_MARGIN)
        self.set_font(_FONT, "", 8)
        self.set_text_color(*_MUTED)
        sheet = self.sheet
        where = f"{sheet.seller.name} · {sheet.title} · {sheet.customer_name}"
        self.cell(self.epw * 0.75, 4, _pdf_text(where), align=Align.L)
        self.cell(self.epw * 0.25, 4, f"Page {self.page_no()} of {{nb}}", align=Align.R)
        self.set_text_color(*_INK)


def _facts(sheet: InvoiceSheet) -> list[tuple[str, str]]:
    facts = [
        ("Invoice number", "DRAFT" if sheet.number is None else str(sheet.number)),
        ("Status", sheet.status_label),
        ("Period", sheet.period.text),
    ]
    for label, figure in (
        ("Issued", sheet.issued),
        ("Due", sheet.due),
        ("Paid", sheet.paid),
        ("Voided", sheet.voided),
    ):
        if figure.text and not (label == "Due" and sheet.is_void):
            facts.append((label, figure.text))
    if sheet.replaces is not None:
        facts.append(("Replaces", f"Invoice {sheet.replaces} (void)"))
    if sheet.replaced_by is not None:
        facts.append(("Replaced by", f"Invoice {sheet.replaced_by}"))
    if sheet.written_off:
        facts.append(("Written off", "Period not billed"))
    facts.append(("Currency", sheet.currency))
    return facts


def _header(pdf: _Document, sheet: InvoiceSheet) -> None:
    top = pdf.get_y()
    half = pdf.epw / 2
    pdf.write_line(sheet.seller.name, size=15, style="B", width=half, height=7)
    for line in sheet.seller.address:
        pdf.write_line(line, color=_MUTED, width=half)
    if sheet.seller.email:
        pdf.write_line(sheet.seller.email, color=_MUTED, width=half)
    if sheet.seller.tax_id:
        pdf.write_line(f"Tax ID {sheet.seller.tax_id}", color=_MUTED, width=half)
    seller_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + half, top)
    pdf.set_font(_FONT, "B", 18)
    heading = "DRAFT INVOICE" if sheet.is_draft else "INVOICE"
    pdf.cell(half, 8, heading, align=Align.R, new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(pdf.l_margin + half)
    pdf.set_font(_FONT, "", 11)
    number = "Not yet numbered" if sheet.number is None else f"No. {sheet.number}"
    pdf.cell(half, 6, number, align=Align.R, new_x="LMARGIN", new_y="NEXT")
    if sheet.is_draft or sheet.is_void:
        pdf.set_x(pdf.l_margin + half)
        pdf.set_font(_FONT, "B", 12)
        pdf.set_text_color(185, 28, 28)
        banner = "DRAFT - figures change until the period closes" if sheet.is_draft else "VOID"
        pdf.cell(half, 6, banner, align=Align.R, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*_INK)
    pdf.set_y(max(seller_bottom, pdf.get_y()) + 8)


def _parties(pdf: _Document, sheet: InvoiceSheet) -> None:
    top = pdf.get_y()
    half = pdf.epw / 2
    pdf.write_line("BILL TO", size=8, style="B", color=_MUTED, width=half)
    pdf.write_line(sheet.customer_name, size=12, style="B", width=half, height=6)
    if sheet.billing_email:
        pdf.write_line(sheet.billing_email, width=half)
    for line in sheet.billing_information:
        pdf.write_line(line, color=_MUTED, width=half)
    pdf.write_line(f"Customer {sheet.customer_id}", size=8, color=_MUTED, width=half)
    customer_bottom = pdf.get_y()
    pdf.set_y(top)
    for label, value in _facts(sheet):
        pdf.set_x(pdf.l_margin + half)
        pdf.set_font(_FONT, "", 9)
        pdf.set_text_color(*_MUTED)
        pdf.cell(half * 0.42, _LINE, label, align=Align.L)
        pdf.set_font(_FONT, "B", 9)
        pdf.set_text_color(*_INK)
        pdf.cell(half * 0.58, _LINE, _pdf_text(value), align=Align.R, new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(customer_bottom, pdf.get_y()) + 8)


def _lines(pdf: _Document, sheet: InvoiceSheet) -> None:
    pdf.set_font(_FONT, "", 9)
    pdf.set_draw_color(*_RULE)
    heading = FontFace(emphasis="BOLD", color=_MUTED, size_pt=8)
    with pdf.table(
        col_widths=(58, 16, 13, 13),
        text_align=(Align.L, Align.R, Align.R, Align.R),
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=heading,
        line_height=4.6,
        padding=(1.6, 1.2),
        v_align=VAlign.T,
    ) as table:
        head = table.row()
        for title in ("DESCRIPTION", "QUANTITY", "UNIT PRICE", "AMOUNT"):
            head.cell(title)
        if not sheet.lines:
            empty = table.row()
            empty.cell("No charges in this period.", colspan=4)
        for line in sheet.lines:
            row = table.row()
            name = line.name if line.detail is None else f"{line.name}\n{line.detail}"
            row.cell(_pdf_text(name))
            row.cell(_pdf_text(line.quantity.text))
            row.cell(_pdf_text(line.unit_price.text))
            row.cell(_pdf_text(line.amount.text))
    pdf.ln(4)


def _totals(pdf: _Document, sheet: InvoiceSheet) -> None:
    rows: list[tuple[str, str, bool]] = [("Subtotal", sheet.subtotal.text, False)]
    if sheet.taxed:
        rows.append(("Tax", sheet.tax.text, False))
    rows.extend((credit.label, credit.deduction, False) for credit in sheet.credit_rows)
    rows.append(("Credits applied", sheet.credits_deduction, False))
    rows.append(("Total", sheet.total.text, True))
    rows.append(("Payments", sheet.payments_deduction, False))
    if sheet.credit_notes.value != "0":
        rows.append(("Credit notes", sheet.credit_notes_deduction, False))
    rows.append(("Amount due", sheet.amount_due.text, True))
    width = pdf.epw * 0.5
    left = pdf.l_margin + pdf.epw - width
    if pdf.will_page_break(_LINE * (len(rows) + 1) + 4):
        pdf.add_page()
    for label, value, strong in rows:
        pdf.set_x(left)
        pdf.set_font(_FONT, "B" if strong else "", 11 if strong else 10)
        if strong:
            pdf.set_draw_color(*_RULE)
            pdf.line(left, pdf.get_y(), left + width, pdf.get_y())
        pdf.cell(width * 0.55, _LINE + 1, _pdf_text(label), align=Align.L)
        pdf.cell(width * 0.45, _LINE + 1, _pdf_text(value), align=Align.R)
        pdf.ln(_LINE + 1)
    pdf.ln(4)


def _notes(pdf: _Document, sheet: InvoiceSheet) -> None:
    notes: list[str] = []
    if sheet.is_draft:
        notes.append(
            "This is a draft: its figures change as usage arrives until the period closes."
        )
    elif sheet.is_void:
        notes.append(f"This invoice was voided on {sheet.voided.text}; nothing is due.")
    elif sheet.status == "paid":
        notes.append(f"Paid in full on {sheet.paid.text}. Thank you.")
    else:
        notes.append(f"Please pay {sheet.amount_due.text} by {sheet.due.text}.")
    if sheet.credit_balance_after.value not in ("", "0"):
        notes.append(f"Credit balance after this invoice: {sheet.credit_balance_after.text}.")
    for note in notes:
        pdf.write_line(note, size=9, color=_MUTED)


def invoice_pdf(sheet: InvoiceSheet, *, paper: Paper = "a4") -> bytes:
    """The invoice as a PDF (A4 or US Letter) with the same figures as the invoice page."""
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {', '.join(PAPERS)}, got {paper!r}")
    pdf = _Document(sheet, paper)
    pdf.set_title(_pdf_text(f"{sheet.title} - {sheet.customer_name}"))
    pdf.set_author(_pdf_text(sheet.seller.name))
    pdf.set_subject(_pdf_text(f"{sheet.title} for {sheet.period.text}"))
    pdf.set_creator(f"meterbill {__version__}")
    pdf.set_lang("en")
    if sheet.issued.value:
        pdf.set_creation_date(datetime.fromisoformat(sheet.issued.value.replace("Z", "+00:00")))
    pdf.add_page()
    _header(pdf, sheet)
    _parties(pdf, sheet)
    _lines(pdf, sheet)
    _totals(pdf, sheet)
    _notes(pdf, sheet)
    return bytes(pdf.output())
