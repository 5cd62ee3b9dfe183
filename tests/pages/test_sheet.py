"""How the invoice reads: money by the currency's minor unit, exact quantities and unit
prices, the seller setting, and a PDF that pages long invoices and survives any name."""

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from meterbill.core.catalog import CreditKind, Customer
from meterbill.core.credits import CreditUse
from meterbill.core.invoicing import PeriodRef
from meterbill.core.periods import Span
from meterbill.core.rating import Line, Totals
from meterbill.db import catalog as catalog_store
from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup
from meterbill.services.ingest import rebuild_meter
from meterbill.services.invoicing import InvoiceView
from meterbill.services.seller import DEFAULT_SELLER, SELLER_KEY, Seller, seller_of
from meterbill.views.pdf import (
    format_money,
    format_quantity,
    format_unit_price,
    invoice_pdf,
    invoice_sheet,
    pdf_filename,
)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("1732.41", "USD", "$1,732.41"),
        ("1000", "USD", "$1,000.00"),
        ("0", "USD", "$0.00"),
        ("-5", "USD", "-$5.00"),
        ("0.005", "USD", "$0.01"),
        ("1234567.5", "EUR", "€1,234,567.50"),
        ("12.5", "GBP", "£12.50"),
        ("1200", "JPY", "¥1,200"),
        ("1.2345", "KWD", "KWD 1.235"),
        ("9.9", "CHF", "CHF 9.90"),
    ],
)
def test_money_follows_the_currency(amount: str, currency: str, shown: str) -> None:
    assert format_money(Decimal(amount), currency) == shown


def test_unit_prices_and_quantities_are_never_rounded() -> None:
    assert format_unit_price(Decimal("0.10"), "USD") == "$0.10"
    assert format_unit_price(Decimal("0.000125"), "USD") == "$0.000125"
    assert format_unit_price(Decimal("2"), "JPY") == "¥2"
    assert format_unit_price(Decimal("1500"), "USD") == "$1,500.00"
    assert format_quantity(Decimal("12345.50")) == "12,345.5"
    assert format_quantity(Decimal("1E+3")) == "1,000"
    assert format_quantity(Decimal("0.000")) == "0"
    assert format_quantity(Decimal("4738.98998041637241840362549")) == (
        "4,738.98998041637241840362549"
    )


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


def test_a_long_invoice_runs_over_pages_and_any_name_prints() -> None:
    sheet = invoice_sheet(_view(60, "株式会社 Ünïcode — “Shop”"))
    assert pdf_filename(sheet) == "invoice-42.pdf"
    assert [row.label for row in sheet.credit_rows] == ["Commit credits"]
    reader = PdfReader(io.BytesIO(invoice_pdf(sheet)))
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) >= 3
    assert all(f"Page {n} of {len(pages)}" in text for n, text in enumerate(pages, start=1))
    # The table's headings repeat on every page; the totals come last.
    assert all("DESCRIPTION" in text for text in pages)
    assert "Amount due €914.00" in " ".join(pages[-1].split())
    # Helvetica has no CJK: those characters print as "?", the rest as written.
    assert "?? Ünïcode — “Shop”" in pages[0]
    with pytest.raises(ValueError, match="paper"):
        invoice_pdf(sheet, paper="a3")  # type: ignore[arg-type]


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
    text = " ".join(PdfReader(io.BytesIO(invoice_pdf(sheet))).pages[0].extract_text().split())
    assert "Cloudworks Ltd" in text
    assert "Tax ID GB123456789" in text
    assert "VAT 20%" in text
    assert "Tax €0.10" in text


def test_replacements_voids_and_credit_notes_are_shown() -> None:
    """Spec 5.6 on the page and the PDF: what a replacement replaces, what replaced a void,
    a write-off, and the credit notes that reduce the amount due."""
    view = replace(
        _view(2, "Acme"),
        replaces=7,
        credit_notes=Decimal("0.5"),
        credit_notes_off_due=Decimal("0.5"),
    )
    sheet = invoice_sheet(view)
    assert (sheet.replaces, sheet.credit_notes.text, sheet.credit_notes_deduction) == (
        7,
        "€0.50",
        "-€0.50",
    )
    # 1.50 - 1.00 of credits - 0.50 of credit notes: nothing due.
    assert sheet.amount_due.text == "€0.00"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(invoice_pdf(sheet))).pages)
    assert "Invoice 7 (void)" in text
    assert "Credit notes" in text
    void = invoice_sheet(replace(_view(1, "Acme"), status="void", replaced_by=9, written_off=True))
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(invoice_pdf(void))).pages)
    assert "Replaced by" in text
    assert "Invoice 9" in text
    assert "Period not billed" in text
