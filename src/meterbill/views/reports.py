"""The JSON shapes of the native API's read models (``services.reports``): breakdown windows
over a range, credit balances and usage series. Every figure is exact decimal text: amounts
with exactly the currency's minor digits (:func:`meterbill.core.money.money_text`; a
breakdown window's amount is already whole minor units, spec 4.8), quantities and usage
values without trailing zeros."""

from collections.abc import Sequence
from decimal import Decimal

from meterbill.core.events import time_text
from meterbill.core.money import decimal_text, money_text
from meterbill.services.breakdowns import visible
from meterbill.services.reports import CreditBalance, RangeWindow, UsageSeries

__all__ = ["credit_balance_document", "range_window_documents", "usage_series_documents"]


def range_window_documents(
    items: Sequence[RangeWindow], *, skip_zero: bool
) -> list[dict[str, object]]:
    """Each window of an invoice's breakdown: its lines (without the all-zero ones when
    ``skip_zero``) and the total of all its lines. A line's own fields are written once and
    shared by every window it appears in (a month of days repeats each line 31 times)."""
    heads: dict[int, tuple[str, str | None, str, dict[str, str]]] = {}
    documents: list[dict[str, object]] = []
    for item in items:
        currency = item.invoice.currency
        lines: list[dict[str, object]] = []
        for line, fig in visible(item.entry, skip_zero=skip_zero):
            head = heads.get(id(line))
            if head is None:
                head = heads[id(line)] = (line.name, line.product, line.type, line.group_dict)
            lines.append(
                {
                    "name": head[0],
                    "product": head[1],
                    "type": head[2],
                    "group": head[3],
                    "quantity": decimal_text(fig.quantity),
                    "amount": money_text(fig.amount, currency),
                }
            )
        total = sum((fig.amount for _, fig in item.entry.lines), Decimal(0))
        documents.append(
            {
                "invoice_id": item.invoice.id,
                "status": item.invoice.status,
                "start": time_text(item.entry.window.start),
                "end": time_text(item.entry.window.end),
                "lines": lines,
                "total": money_text(total, currency),
            }
        )
    return documents


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
