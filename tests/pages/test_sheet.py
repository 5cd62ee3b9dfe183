"""How the invoice reads: the seller setting, taxes, discounts, credits and credit notes,
quantities with their unit, and a PDF (the page's own HTML printed by WeasyPrint) that
pages long invoices, prints every script the fonts cover and loads nothing."""

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from meterbill.api.pages import invoice_html, invoice_pdf
from meterbill.core.catalog import (
    Aggregation,
    CreditKind,
    Customer,
    FlatPrice,
    Meter,
    PerUnitPrice,
    Product,
)
from meterbill.core.credits import CreditUse
from meterbill.core.invoicing import PeriodRef
from meterbill.core.periods import Span
from meterbill.core.rating import Line, Totals
from meterbill.db import catalog as catalog_store
from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup
from meterbill.services.ingest import rebuild_meter
from meterbill.services.invoicing import CreditNoteView, InvoiceView
from meterbill.services.seller import DEFAULT_SELLER, SELLER_KEY, Seller, seller_of
from meterbill.views.pdf import html_pdf, invoice_sheet, pdf_filename, unit_of


def pdf_pages(document: bytes) -> list[str]:
    """Each page's text, whitespace collapsed."""
    assert document.startswith(b"%PDF-")
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(document)).pages]


def test_the_seller_setting_and_its_default(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/seller.db")
    try:
        with database.transaction() as session:
            assert seller_of(session) == DEFAULT_SELLER
            for broken in ("not json", "[1, 2]", '{"name": 5}'):
                catalog_store.set_meta(session, SELLER_KEY, broken)
                assert seller_of(session).name == "meterbill"
            catalog_store.set_meta(
                session,
                SELLER_KEY,
                '{"name": " Acme ", "address": ["1 Road", " ", "Town"], "email": "a@b.example"}',
            )
            assert seller_of(session) == Seller("Acme", ("1 Road", "Town"), "a@b.example")
    finally:
        database.dispose()


def _view(lines: int, name: str) -> InvoiceView:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = tuple(
        Line(
            key=f"line-{index}",
            name=f"Line item number {index} with a name long enough to wrap in its cell " * 2,
            product="p",
            type="usage",
            group=(("region", f"r{index}"),),
            quantity=Decimal(index),
            unit_price=Decimal("0.5"),
            exact=Decimal(index) / 2,
            amount=Decimal(index) / 2,
        )
        for index in range(1, lines + 1)
    )
    subtotal = sum((row.amount for row in rows), Decimal(0))
    return InvoiceView(
        id="inv-1",
        customer=Customer(id="c-1", name=name, currency="EUR"),
        ref=PeriodRef(Span(start, start + timedelta(days=31)), "pro"),
        status="issued",
        number=42,
        lines=rows,
        totals=Totals(
            subtotal=subtotal,
            credits=(CreditUse("g", CreditKind.COMMIT, Decimal(1)),),
            credits_applied=Decimal(1),
            total=subtotal - 1,
            credit_balance_after=Decimal(0),
        ),
        issued_at=start + timedelta(days=32),
    )


def test_a_long_invoice_runs_over_pages() -> None:
    sheet = invoice_sheet(_view(60, "Acme"))
    assert pdf_filename(sheet) == "invoice-42.pdf"
    assert [row.label for row in sheet.credit_rows] == ["Commit credits"]
    pages = pdf_pages(invoice_pdf(sheet))
    assert len(pages) >= 3
    assert all(f"Page {n} of {len(pages)}" in text for n, text in enumerate(pages, start=1))
    # The table's headings repeat on every page; the totals come last.
    assert all("DESCRIPTION QUANTITY UNIT PRICE AMOUNT" in text.upper() for text in pages)
    assert "Amount due €914.00" in pages[-1]
    with pytest.raises(ValueError, match="paper"):
        invoice_pdf(sheet, paper="a3")  # type: ignore[arg-type]


@pytest.mark.usefixtures("japanese_fonts")
def test_polish_and_japanese_names_print_as_written() -> None:
    """The fonts of docs/operations.md cover both: no "?" and no look-alike letters."""
    seller = Seller("Łódź Cloud", ("ul. Piotrkowska 104", "90-926 Łódź"), tax_id="PL7251234567")
    view = _view(1, "株式会社テスト")
    view = replace(view, lines=(replace(view.lines[0], description="Łódź Cloud — 株式会社テスト"),))
    document = invoice_pdf(invoice_sheet(view, seller))
    reader = PdfReader(io.BytesIO(document))
    text = reader.pages[0].extract_text()
    for name in ("Łódź Cloud", "株式会社テスト", "90-926 Łódź", "Łódź Cloud — 株式会社テスト"):
        assert name in text, name
    assert "?" not in text
    assert reader.metadata is not None
    assert reader.metadata.title == "Invoice 42 · 株式会社テスト · Łódź Cloud"
    assert reader.metadata.author == "Łódź Cloud"


def test_the_pdf_loads_nothing() -> None:
    """No URL leaves the process: the stylesheets are inline, anything else is refused."""
    sheet = invoice_sheet(_view(1, "Acme"))
    html = invoice_html(sheet)
    assert '<link rel="stylesheet"' not in html
    assert "Download PDF" not in html
    refused: list[str] = []
    hostile = html.replace(
        "</body>",
        '<img src="http://127.0.0.1:9/track.png"><img src="file:///etc/hostname">'
        '<link rel="stylesheet" href="https://example.invalid/x.css"></body>',
    )
    assert pdf_pages(html_pdf(hostile, refused=refused))
    assert sorted(refused) == [
        "file:///etc/hostname",
        "http://127.0.0.1:9/track.png",
        "https://example.invalid/x.css",
    ]
    refused.clear()
    html_pdf(html, refused=refused)
    assert refused == []


def test_quantities_read_rounded_with_their_unit_and_stay_exact_in_the_value() -> None:
    view = _view(1, "Acme")
    line = replace(view.lines[0], quantity=Decimal("11945.26627147663384675979614"))
    sheet = invoice_sheet(replace(view, lines=(line,)), units={"p": "GiB"})
    shown = sheet.lines[0].quantity
    assert (shown.value, shown.text) == ("11945.26627147663384675979614", "11,945.266 GiB")
    assert invoice_sheet(replace(view, lines=(line,))).lines[0].quantity.text == "11,945.266"


def test_the_unit_comes_from_the_product_else_the_meter() -> None:
    per_unit = PerUnitPrice(unit_price=Decimal("0.1"))
    meter = Meter("node_hours", "Node hours", ("node",), Aggregation.SUM, "nodes")
    assert unit_of(Product("n", "Node", per_unit, meter="node_hours"), meter) == "node hours"
    calls = Meter("calls", "API calls", ("call",), Aggregation.COUNT)
    assert unit_of(Product("c", "Calls", per_unit, meter="calls"), calls) == "API calls"
    # A divisor or a time-weighted meter changes what a unit is: only the product knows.
    divided = Product("g", "GiB written", per_unit, meter="node_hours", quantity_divisor=Decimal(8))
    assert unit_of(divided, meter) is None
    assert unit_of(replace(divided, unit="GiB"), meter) == "GiB"
    stored = Meter("stored", "Stored GiB", ("gauge",), Aggregation.TIME_WEIGHTED, "gib")
    assert unit_of(Product("s", "Storage", per_unit, meter="stored"), stored) is None
    flat = Product("f", "Support", FlatPrice(Decimal(5)))
    assert unit_of(flat, None) is None


def test_the_setup_seller_comes_first_and_the_pdf_shows_it_with_the_tax(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/seller.db")
    setup = {
        "settings": {
            "seller": {
                "name": "Cloudworks Ltd",
                "address": "1 Example Street\nLondon",
                "tax_id": "GB123456789",
            }
        }
    }
    try:
        with database.transaction() as session:
            catalog_store.set_meta(session, SELLER_KEY, '{"name": "Old"}')
            apply_setup(session, setup, now=datetime(2026, 1, 1, tzinfo=UTC), rebuild=rebuild_meter)
        with database.transaction() as session:
            seller = seller_of(session)
    finally:
        database.dispose()
    assert seller == Seller(
        "Cloudworks Ltd", ("1 Example Street", "London"), None, tax_id="GB123456789"
    )
    view = _view(1, "Nimbus")
    tax = Line(
        key="tax:vat20",
        name="VAT 20%",
        product=None,
        type="tax",
        group=(),
        quantity=Decimal(1),
        unit_price=None,
        exact=Decimal("0.10"),
        amount=Decimal("0.10"),
    )
    # Subtotal 0.50, tax 0.10, credits 1 → total 0 (never below zero).
    view = replace(
        view,
        lines=(*view.lines, tax),
        totals=replace(view.totals, tax=Decimal("0.10"), total=Decimal(0)),
    )
    sheet = invoice_sheet(view, seller)
    assert (sheet.subtotal.text, sheet.tax.text) == ("€0.50", "€0.10")
    # The tax is not a charge: it shows under the subtotal, by name.
    assert [line.kind for line in sheet.lines] == ["usage"]
    assert [(row.name, row.amount.text) for row in sheet.tax_rows] == [("VAT 20%", "€0.10")]
    [text] = pdf_pages(invoice_pdf(sheet))
    assert "Cloudworks Ltd" in text
    assert "Tax ID GB123456789" in text
    assert "Subtotal €0.50 VAT 20% €0.10 Tax €0.10" in text


def test_replacements_voids_and_credit_notes_are_shown() -> None:
    """Spec 5.6 on the page and the PDF: what a replacement replaces, what replaced a void,
    a write-off, and the credit notes that reduce the amount due."""
    view = replace(
        _view(2, "Acme"),
        replaces=7,
        credit_notes=Decimal("0.5"),
        credit_notes_off_due=Decimal("0.5"),
    )
    note = CreditNoteView(
        number=3,
        invoice_id="inv-1",
        invoice_number=42,
        customer_id="c-1",
        currency="EUR",
        amount=Decimal("0.5"),
        off_due=Decimal("0.5"),
        granted=Decimal(0),
        reason="Outage on 12 January",
        at=datetime(2026, 2, 10, tzinfo=UTC),
        created_at=datetime(2026, 2, 10, tzinfo=UTC),
    )
    sheet = invoice_sheet(view, notes=(note,))
    assert (sheet.replaces, sheet.credit_notes.text, sheet.credit_notes_deduction) == (
        7,
        "€0.50",
        "-€0.50",
    )
    # 1.50 - 1.00 of credits - 0.50 of credit notes: nothing due.
    assert sheet.amount_due.text == "€0.00"
    text = " ".join(pdf_pages(invoice_pdf(sheet)))
    assert "Invoice 7 (void)" in text
    assert "Credit note 3 2026-02-10 · Outage on 12 January -€0.50 Credit notes -€0.50" in text
    void = invoice_sheet(replace(_view(1, "Acme"), status="void", replaced_by=9, written_off=True))
    text = " ".join(pdf_pages(invoice_pdf(void)))
    assert "Replaced by Invoice 9" in text
    assert "Period not billed" in text


def test_discounts_are_lines_and_credits_sit_under_one_heading() -> None:
    view = _view(2, "Acme")
    discount = Line(
        key="discount:launch",
        name="Launch discount 10%",
        product=None,
        type="discount",
        group=(),
        quantity=Decimal(1),
        unit_price=None,
        exact=Decimal("-0.15"),
        amount=Decimal("-0.15"),
    )
    credits = (
        CreditUse("welcome", CreditKind.FREE, Decimal("0.25")),
        CreditUse("c-1", CreditKind.COMMIT, Decimal("0.5")),
        CreditUse("c-2", CreditKind.COMMIT, Decimal("0.25")),
    )
    # 0.50 + 1.00 - 0.15 = 1.35; credits 1.00 → 0.35.
    view = replace(
        view,
        lines=(*view.lines, discount),
        totals=replace(
            view.totals,
            subtotal=Decimal("1.35"),
            credits=credits,
            credits_applied=Decimal(1),
            total=Decimal("0.35"),
        ),
    )
    sheet = invoice_sheet(view)
    assert [(line.kind, line.amount.text) for line in sheet.lines] == [
        ("usage", "€0.50"),
        ("usage", "€1.00"),
        ("discount", "-€0.15"),
    ]
    assert [(row.label, row.deduction) for row in sheet.credit_rows] == [
        ("Free credits", "-€0.25"),
        ("Commit credits", "-€0.75"),
    ]
    [text] = pdf_pages(invoice_pdf(sheet))
    assert "Launch discount 10% 1 -€0.15" in text
    assert (
        "Subtotal €1.35 Credits Free credits -€0.25 Commit credits -€0.75 "
        "Credits applied -€1.00 Total €0.35"
    ) in text
