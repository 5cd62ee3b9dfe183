"""The invoice as a PDF: from its link and from ``meterbill invoices pdf``, with real text
that carries the page's figures in the page's order (it is the page, printed)."""

import io
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from meterbill.cli.main import app as cli
from meterbill.db import catalog as catalog_store
from meterbill.services.jsonio import dumps_text
from meterbill.services.seller import SELLER_KEY
from tests.api.support import TestClient
from tests.pages.conftest import Story
from tests.pages.support import CUSTOMER_NAME, Node, parse_html

SELLER = {
    "name": "Meter Works Ltd",
    "address": "1 Billing Street\nLondon EC1A 1AA",
    "email": "accounts@meter.example",
}


def pdf_text(document: bytes) -> tuple[str, PdfReader]:
    """All the text of the PDF, whitespace collapsed (a wrapped line reads as one)."""
    assert document.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(document))
    text = " ".join(page.extract_text() for page in reader.pages)
    return " ".join(text.split()), reader


# What the page shows, in document order; the PDF must show the same, in the same order.
_FIGURES = (
    "seller-name",
    "invoice-number",
    "customer-name",
    "invoice-period",
    "line-name",
    "line-detail",
    "line-quantity",
    "line-unit-price",
    "line-amount",
    "invoice-subtotal",
    "tax-name",
    "tax-amount",
    "credit-label",
    "credit-amount",
    "invoice-credits",
    "invoice-total",
    "invoice-payments",
    "credit-note-label",
    "credit-note-reason",
    "credit-note-amount",
    "invoice-credit-notes",
    "invoice-amount-due",
)


def page_figures(page: Node) -> list[str]:
    """The texts of the page's figures (:data:`_FIGURES`), in document order."""
    found: list[str] = []

    def walk(node: Node) -> None:
        if node.attrs.get("data-testid") in _FIGURES:
            found.append(node.text)
            return
        for child in node.children:
            if isinstance(child, Node):
                walk(child)

    walk(page)
    return [text for text in found if text]


def assert_in_order(needles: list[str], text: str) -> None:
    position = 0
    for needle in needles:
        found = text.find(needle, position)
        assert found >= 0, f"{needle!r} is not in the PDF after position {position}: {text}"
        position = found + len(needle)


def test_the_pdf_shows_what_the_page_shows(client: TestClient, story: Story) -> None:
    headers = story.admin
    noted = client.post(
        f"/v1/invoices/{story.january}/credit_notes",
        json={"amount": "20.00", "reason": "Outage on 12 January"},
        headers=headers,
    )
    assert noted.status_code == 201, noted.text
    token = story.token(story.january)
    page = parse_html(client.get(f"/invoices/{token}").text)
    figures = page_figures(page)
    assert "Credit note 1" in figures
    assert "-$20.00" in figures
    assert "11,345.5 GiB" in figures
    text, _ = pdf_text(client.get(f"/invoices/{token}/pdf").content)
    assert_in_order(figures, text)


def test_the_pdf_has_the_figures_of_the_page(client: TestClient, story: Story) -> None:
    with story.database.transaction() as session:
        catalog_store.set_meta(session, SELLER_KEY, dumps_text(SELLER))
    token = story.token(story.january)
    page = parse_html(client.get(f"/invoices/{token}").text)
    assert page.one("seller").text == (
        "Meter Works Ltd 1 Billing Street London EC1A 1AA accounts@meter.example"
    )
    number = page.one("invoice-number").text

    response = client.get(page.one("download-pdf").attrs["href"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="invoice-{number}.pdf"'
    text, reader = pdf_text(response.content)
    assert len(reader.pages) == 1
    assert f"Invoice {number}" in text
    assert CUSTOMER_NAME in text
    for needle in ("Meter Works Ltd", "1 Billing Street", "London EC1A 1AA", "accounts@meter"):
        assert needle in text
    for row in page.all("line-row"):
        assert row.one("line-name").text in text
        for testid in ("line-quantity", "line-unit-price", "line-amount"):
            assert row.one(testid).text in text
    for row in page.all("credit-row"):
        assert row.text in text
    for testid in ("invoice-period", "invoice-issued", "invoice-due"):
        assert page.one(testid).text in text
    labels = {
        "invoice-subtotal": "Subtotal",
        "invoice-credits": "Credits applied",
        "invoice-total": "Total",
        "invoice-payments": "Payments",
        "invoice-amount-due": "Amount due",
    }
    for testid, label in labels.items():
        assert f"{label} {page.one(testid).text}" in text, testid
    assert "Subtotal $1,766.82" in text
    assert "Total $1,701.82" in text
    assert reader.metadata is not None
    assert reader.metadata.title == f"Invoice {number} · {CUSTOMER_NAME} · Meter Works Ltd"
    assert reader.metadata.author == "Meter Works Ltd"

    letter = client.get(f"/invoices/{token}/pdf", params={"paper": "letter"})
    _, letter_reader = pdf_text(letter.content)
    box = letter_reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_the_cli_writes_the_pdf_of_any_invoice(db_url: str, story: Story, tmp_path: Path) -> None:
    runner = CliRunner()
    issued = tmp_path / "january.pdf"
    done = runner.invoke(
        cli, ["--database", db_url, "invoices", "pdf", story.january, "-o", str(issued)]
    )
    assert done.exit_code == 0, done.output
    assert f"wrote {issued}" in done.output
    text, _ = pdf_text(issued.read_bytes())
    assert "Invoice 1" in text
    assert "Total $1,701.82" in text
    assert "DRAFT" not in text
    assert "Download PDF" not in text

    draft = tmp_path / "march.pdf"
    done = runner.invoke(
        cli,
        ["--database", db_url, "invoices", "pdf", story.march, "--output", str(draft)],
    )
    assert done.exit_code == 0, done.output
    text, _ = pdf_text(draft.read_bytes())
    assert "Draft invoice DRAFT" in text
    assert CUSTOMER_NAME in text
    assert "Data written on c1" in text
    assert "Support" in text
    # March: 10 on c1 at 0.10 and support; the credits were spent in January.
    assert "Subtotal $1,501.00" in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["invoices", "pdf", "no-such-invoice", "-o", "{out}"], "not found"),
        (["invoices", "pdf", "x", "-o", "{out}", "--paper", "a3"], "--paper must be one of"),
    ],
)
def test_the_cli_refuses_clearly(tmp_path: Path, arguments: list[str], message: str) -> None:
    out = tmp_path / "out.pdf"
    database = f"sqlite:///{tmp_path / 'empty.db'}"
    filled = [argument.replace("{out}", str(out)) for argument in arguments]
    done = CliRunner().invoke(cli, ["--database", database, *filled])
    assert done.exit_code != 0
    assert message in str(done.exception)
    assert not out.exists()
