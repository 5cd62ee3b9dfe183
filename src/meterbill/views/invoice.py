"""meterbill's own JSON shapes for invoices, their lines and totals, shared by the API and
the CLI.

Every amount and quantity is a decimal string in plain notation, never a JSON number:
clients must not read money through a float. Amounts (line amounts, totals, credits,
payments, credit notes) have exactly the currency's minor digits (``"1732.41"``,
``"512.00"``, ``"0.00"``; ``"17"`` in JPY, ``"1.500"`` in KWD:
:func:`meterbill.core.money.money_text`); quantities and unit prices are exact, without
trailing zeros (``"4738.98998041637241840362549"``, ``"0.0023148"``, ``"1"``).
"""

from collections.abc import Sequence

from meterbill.core.events import time_text
from meterbill.core.money import decimal_text, money_text
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


def line_document(line: Line, currency: str) -> dict[str, object]:
    document: dict[str, object] = {
        "name": line.name,
        "product": line.product,
        "type": line.type,
        "group": line.group_dict,
        "quantity": decimal_text(line.quantity),
        "amount": money_text(line.amount, currency),
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


def totals_document(figures: Totals, currency: str) -> dict[str, object]:
    return {
        "subtotal": money_text(figures.subtotal, currency),
        "tax": money_text(figures.tax, currency),
        "credits_applied": money_text(figures.credits_applied, currency),
        "credits": [
            {
                "credit": use.grant,
                "kind": use.kind.value,
                "amount": money_text(use.amount, currency),
            }
            for use in figures.credits
        ],
        "total": money_text(figures.total, currency),
        "credit_balance_after": money_text(figures.credit_balance_after, currency),
    }


def lines_document(lines: Sequence[Line], currency: str) -> list[dict[str, object]]:
    return [line_document(line, currency) for line in lines]


def invoice_document(view: InvoiceView) -> dict[str, object]:
    """meterbill's invoice shape: the fields of the golden ``expected.json`` and more.

    The invoice's own fields are those its webhook events carry
    (``services.invoicing.invoice_event_data``, one definition for both); this adds the
    lines, the credits drawn and the balance after."""
    return {
        **invoice_event_data(view),
        "replaced_by": view.replaced_by,
        "lines": lines_document(view.lines, view.currency),
        **totals_document(view.totals, view.currency),
    }


def credit_note_document(note: CreditNoteView) -> dict[str, object]:
    """A credit note: ``off_due`` is what it took off the invoice's amount due, ``granted``
    what became the credit grant ``grant`` (null when nothing did). The same fields as its
    ``credit_note.created`` webhook event (``services.invoicing.credit_note_event_data``)."""
    return credit_note_event_data(note)
