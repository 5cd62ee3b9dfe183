"""meterbill's own JSON shapes for invoices, their lines and totals, shared by the API and
the CLI.

Every amount and quantity is a decimal string in plain notation (``"1732.41"``, ``"0"``,
``"4738.98998041637241840362549"``), never a JSON number: clients must not read money
through a float.
"""

from collections.abc import Sequence

from meterbill.core.events import time_text
from meterbill.core.money import decimal_text
from meterbill.core.rating import Line, Totals
from meterbill.services.invoicing import (
    CreditNoteView,
    InvoiceView,
    credit_note_event_data,
    invoice_event_data,
)

__all__ = [
    "credit_note_document",
    "invoice_document",
    "line_document",
    "lines_document",
    "totals_document",
]


def line_document(line: Line) -> dict[str, object]:
    document: dict[str, object] = {
        "name": line.name,
        "product": line.product,
        "type": line.type,
        "group": line.group_dict,
        "quantity": decimal_text(line.quantity),
        "amount": decimal_text(line.amount),
    }
    if line.unit_price is not None:
        document["unit_price"] = decimal_text(line.unit_price)
    if line.description is not None:
        document["description"] = line.description
    if line.tier is not None:
        document["tier"] = line.tier
    if line.corrects is not None:
        document["corrects_period_start"] = time_text(line.corrects)
    return document


def totals_document(figures: Totals) -> dict[str, object]:
    return {
        "subtotal": decimal_text(figures.subtotal),
        "tax": decimal_text(figures.tax),
        "credits_applied": decimal_text(figures.credits_applied),
        "credits": [
            {"credit": use.grant, "kind": use.kind.value, "amount": decimal_text(use.amount)}
            for use in figures.credits
        ],
        "total": decimal_text(figures.total),
        "credit_balance_after": decimal_text(figures.credit_balance_after),
    }


def lines_document(lines: Sequence[Line]) -> list[dict[str, object]]:
    return [line_document(line) for line in lines]


def invoice_document(view: InvoiceView) -> dict[str, object]:
    """meterbill's invoice shape: the fields of the golden ``expected.json`` and more.

    The invoice's own fields are those its webhook events carry
    (``services.invoicing.invoice_event_data``, one definition for both); this adds the
    lines, the credits drawn and the balance after."""
    return {
        **invoice_event_data(view),
        "replaced_by": view.replaced_by,
        "lines": lines_document(view.lines),
        **totals_document(view.totals),
    }


def credit_note_document(note: CreditNoteView) -> dict[str, object]:
    """A credit note: ``off_due`` is what it took off the invoice's amount due, ``granted``
    what became the credit grant ``grant`` (null when nothing did). The same fields as its
    ``credit_note.created`` webhook event (``services.invoicing.credit_note_event_data``)."""
    return credit_note_event_data(note)
