"""The JSON shapes of the native API's read models (``services.reports``): breakdown windows
over a range, credit balances and usage series. Every figure is exact decimal text."""

from decimal import Decimal

from meterbill.core.events import time_text
from meterbill.core.money import decimal_text
from meterbill.services.breakdowns import visible
from meterbill.services.reports import CreditBalance, RangeWindow, UsageSeries

__all__ = ["credit_balance_document", "range_window_document", "usage_series_documents"]


def range_window_document(item: RangeWindow, *, skip_zero: bool) -> dict[str, object]:
    """One window of an invoice's breakdown: its lines (without the all-zero ones when
    ``skip_zero``) and the total of all its lines."""
    return {
        "invoice_id": item.invoice.id,
        "status": item.invoice.status,
        "start": time_text(item.entry.window.start),
        "end": time_text(item.entry.window.end),
        "lines": [
            {
                "name": line.name,
                "product": line.product,
                "type": line.type,
                "group": line.group_dict,
                "quantity": decimal_text(fig.quantity),
                "amount": decimal_text(fig.amount),
            }
            for line, fig in visible(item.entry, skip_zero=skip_zero)
        ],
        "total": decimal_text(sum((fig.amount for _, fig in item.entry.lines), Decimal(0))),
    }


def credit_balance_document(balance: CreditBalance) -> dict[str, object]:
    """A grant with its balance (amount - used) and what stays available after the drafts."""
    grant = balance.grant
    return {
        "key": grant.key,
        "kind": grant.kind.value,
        "amount": decimal_text(balance.amount),
        "priority": grant.priority,
        "starts_at": time_text(grant.starts_at),
        "expires_at": time_text(grant.expires_at),
        "used": decimal_text(balance.used),
        "balance": decimal_text(balance.amount - balance.used),
        "pending_draft": decimal_text(balance.pending_draft),
        "available": decimal_text(balance.amount - balance.used - balance.pending_draft),
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
