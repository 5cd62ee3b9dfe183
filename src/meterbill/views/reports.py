"""The JSON shapes of the native API's read models (``services.reports``): breakdown windows
over a range, credit balances and usage series. Every figure is exact decimal text: amounts
with exactly the currency's minor digits (:func:`meterbill.core.money.money_text`; a
breakdown window's amount is already whole minor units, spec 4.8), quantities and usage
values without trailing zeros."""

from collections.abc import Sequence
from decimal import Decimal
from typing import cast

from meterbill.core.events import time_text
from meterbill.core.money import decimal_text, money_text
from meterbill.core.rating import Line
from meterbill.services.breakdowns import LineFigures
from meterbill.services.reports import CreditBalance, RangeWindow, UsageSeries

__all__ = ["credit_balance_document", "range_window_documents", "usage_series_documents"]


def range_window_documents(
    items: Sequence[RangeWindow], *, skip_zero: bool
) -> list[dict[str, object]]:
    """Each window of an invoice's breakdown: its lines (without the all-zero ones when
    ``skip_zero``) and the total of all its lines.

    Each line's windows are written once and kept with its figures
    (``LineFigures.rendered``), and each window's document with the window
    (``WindowLines.rendered``): what the read cache holds is written once, and a new event
    writes again only the lines it changed. Callers must not change the documents."""
    documents: list[dict[str, object]] = []
    columns: dict[int, list[list[dict[str, object]]]] = {}
    for item in items:
        invoice, entry = item.invoice, item.entry
        memo = ("range", invoice.id, invoice.status, invoice.currency, skip_zero)
        document = entry.rendered.get(memo)
        if document is None:
            # The windows of one breakdown share their lines' figures and so their columns.
            mine = columns.get(id(entry.sources))
            if mine is None:
                mine = columns[id(entry.sources)] = [
                    _line_windows(source, line, invoice.currency)
                    for line, source in zip(entry.heads, entry.sources, strict=True)
                ]
            document = entry.rendered[memo] = _range_window(item, mine, skip_zero=skip_zero)
        documents.append(cast(dict[str, object], document))
    return documents


def _range_window(
    item: RangeWindow, columns: list[list[dict[str, object]]], *, skip_zero: bool
) -> dict[str, object]:
    entry = item.entry
    index = entry.index
    figures = [source.figures[index] for source in entry.sources]
    lines = [
        column[index]
        for column, figure in zip(columns, figures, strict=True)
        if not skip_zero or figure.quantity != 0
    ]
    total = sum((figure.amount for figure in figures), Decimal(0))
    return {
        "invoice_id": item.invoice.id,
        "status": item.invoice.status,
        "start": time_text(entry.window.start),
        "end": time_text(entry.window.end),
        "lines": lines,
        "total": money_text(total, item.invoice.currency),
    }


def _line_windows(source: LineFigures, line: Line, currency: str) -> list[dict[str, object]]:
    """A line's document in every window, written once per line and kept with its figures
    (the figures of one line: ``line`` need not be in the key)."""
    memo = ("range line", currency)
    found = source.rendered.get(memo)
    if found is None:
        group = line.group_dict
        found = source.rendered[memo] = [
            {
                "name": line.name,
                "product": line.product,
                "type": line.type,
                "group": group,
                "quantity": decimal_text(fig.quantity),
                "amount": money_text(fig.amount, currency),
            }
            for fig in source.figures
        ]
    return cast(list[dict[str, object]], found)


def credit_balance_document(balance: CreditBalance) -> dict[str, object]:
    """A grant with its balance (amount - used) and what stays available after the drafts."""
    grant = balance.grant
    currency = balance.currency
    return {
        "key": grant.key,
        "kind": grant.kind.value,
        "amount": money_text(balance.amount, currency),
        "priority": grant.priority,
        "starts_at": time_text(grant.starts_at),
        "expires_at": time_text(grant.expires_at),
        "used": money_text(balance.used, currency),
        "balance": money_text(balance.amount - balance.used, currency),
        "pending_draft": money_text(balance.pending_draft, currency),
        "available": money_text(balance.amount - balance.used - balance.pending_draft, currency),
        "expired": balance.expired,
    }


def usage_series_documents(series: UsageSeries) -> list[dict[str, object]]:
    """One row per window and group, windows in time order, groups sorted within each."""
    rows: list[dict[str, object]] = []
    for index, window in enumerate(series.windows):
        for group in sorted(series.values):
            rows.append(
                {
                    "start": time_text(window.start),
                    "end": time_text(window.end),
                    "group": dict(zip(series.group_by, group, strict=True)),
                    "value": decimal_text(series.values[group][index]),
                }
            )
    return rows
