"""Read models for the APIs: breakdowns over a range, credit balances, usage series.

They return values; the JSON the native API writes for them is made in ``views.reports``."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterbill.core.aggregation import GroupKey
from meterbill.core.catalog import CreditGrant
from meterbill.core.credits import expand_grants
from meterbill.core.errors import InvalidRequest
from meterbill.core.money import from_minor, round_money
from meterbill.core.periods import Span, WindowSize, windows
from meterbill.db import Session
from meterbill.db import invoices as invoice_store
from meterbill.services.breakdowns import WindowLines, breakdown_of
from meterbill.services.catalog import load_catalog, load_customer, meter_ref
from meterbill.services.invoicing import InvoiceView, billing_customer, customer_invoices
from meterbill.services.usage import meter_series

__all__ = [
    "MAX_WINDOWS",
    "CreditBalance",
    "RangeWindow",
    "UsageSeries",
    "credit_balances",
    "range_breakdowns",
    "usage_series",
]

MAX_WINDOWS = 24 * 400
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class RangeWindow:
    invoice: InvoiceView
    entry: WindowLines


@dataclass(frozen=True, slots=True)
class CreditBalance:
    """One grant: its amount (rounded to the currency), what issued invoices used of it, what
    the drafts will draw, and whether it has expired at ``as_of``; ``currency`` is the
    customer's."""

    grant: CreditGrant
    amount: Decimal
    used: Decimal
    pending_draft: Decimal
    expired: bool
    currency: str


@dataclass(frozen=True, slots=True)
class UsageSeries:
    """A meter's values per window (``windows``) for every group with usage in the span."""

    windows: list[Span]
    group_by: tuple[str, ...]
    values: dict[GroupKey, list[Decimal]]


def range_breakdowns(
    session: Session,
    customer_id: str,
    *,
    span: Span,
    size: WindowSize,
    as_of: datetime,
    statuses: set[str] | None = None,
) -> list[RangeWindow]:
    """Every window of the customer's invoices that lies in ``span``, in time order."""
    if len(windows(span, size)) > MAX_WINDOWS:
        raise InvalidRequest(f"at most {MAX_WINDOWS} windows per request; narrow the range")
    result: list[RangeWindow] = []
    for view in customer_invoices(session, customer_id, as_of=as_of):
        if not view.ref.period.overlaps(span) or view.status == "void":
            continue
        if statuses is not None and view.status not in statuses:
            continue
        for entry in breakdown_of(session, view, size=size, as_of=as_of).windows:
            if span.start <= entry.window.start and entry.window.end <= span.end:
                result.append(RangeWindow(view, entry))
    return sorted(result, key=lambda item: (item.entry.window.start, item.invoice.ref.plan))


def credit_balances(
    session: Session,
    customer_id: str,
    *,
    as_of: datetime,
    views: Sequence[InvoiceView] | None = None,
) -> list[CreditBalance]:
    """Each grant: its amount, what issued invoices used, what the drafts will draw.

    A recurring grant is listed as its occurrences (spec 5.5) that start before the end of
    the customer's latest period at ``as_of`` (or before ``as_of``): every one an invoice
    shown at ``as_of`` can draw from. ``views``: the customer's invoices at ``as_of`` when
    the caller has them already (``customer_invoices``).
    """
    customer = billing_customer(session, customer_id)
    issued = invoice_store.credit_usage(session, customer_id=customer_id)
    pending: dict[str, Decimal] = {}
    if views is None:
        views = customer_invoices(session, customer_id, as_of=as_of)
    for view in views:
        if view.status == "draft":
            for use in view.totals.credits:
                pending[use.grant] = pending.get(use.grant, _ZERO) + use.amount
    horizon = max([as_of, *(view.ref.period.end for view in views)])
    return [
        CreditBalance(
            grant=grant,
            amount=round_money(grant.amount, customer.currency),
            used=from_minor(issued.get(grant.key, 0), customer.currency),
            pending_draft=pending.get(grant.key, _ZERO),
            expired=grant.expires_at is not None and grant.expires_at <= as_of,
            currency=customer.currency,
        )
        for grant in expand_grants(customer.credits, before=horizon)
    ]


def usage_series(
    session: Session, customer_id: str, *, meter: str, span: Span, size: WindowSize
) -> UsageSeries:
    """The meter per window and group over ``span`` (groups with usage in the span)."""
    ref = meter_ref(load_catalog(session), meter)
    load_customer(session, customer_id)
    spans = windows(span, size)
    if len(spans) > MAX_WINDOWS:
        raise InvalidRequest(f"at most {MAX_WINDOWS} windows per request; narrow the range")
    series = meter_series(
        session, ref, customer_id=customer_id, span=span, windows=spans, size=size
    )
    return UsageSeries(windows=spans, group_by=ref.meter.group_by, values=series)
