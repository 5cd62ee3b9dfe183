"""The figures of a customer's usage dashboard, all taken from the invoices and breakdowns.

Nothing is computed twice in another way: the live draft is the invoicing service's draft,
the daily chart and the top groups are sums of the day breakdowns' per-window cent amounts,
and the breakdown table and its CSV are those windows line by line. So the dashboard shows
exactly what the API answers for the same moment, to the cent.

* **current period**: the non-void invoices whose period holds ``as_of`` (else the latest
  ones that started before it); their drafts are the *live drafts*;
* **previous period**: the invoices whose period ends where the current one starts (a void
  one leaves its days empty, as the breakdown API does);
* **accrued / projected** (the live draft's head): *accrued* is the sum of the draft's day
  windows that started by ``as_of`` (the chart's bars up to today: usage so far, and flat
  fees and minimums spread over the period's days); *projected* is the draft itself, as it
  would be issued if no more usage came (flat fees and minimums in full, a time-weighted
  value held until the period ends), with tax and credits;
* **top groups**: the current period's cost per group of usage lines; a group that names
  one of the customer's resources (a cluster, say) is that resource, whatever the other
  dimensions (memory size, region) are;
* **alerts**: each spend alert in the current period, its value now and whether and when
  it fired there (``services.alerts.alert_statuses`` on the same invoices);
* **breakdown rows**: every window of the chosen invoices (the current period by default)
  for every line, without the rows whose quantity and amount are both zero.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from meterbill.core.breakdown import WindowFigure
from meterbill.core.catalog import Customer
from meterbill.core.errors import NotFound
from meterbill.core.events import time_text
from meterbill.core.money import decimal_text, money_text
from meterbill.core.periods import Span, WindowSize, floor_to, windows
from meterbill.core.rating import Line
from meterbill.db import Session
from meterbill.services.alerts import AlertStatus, alert_statuses
from meterbill.services.breakdowns import InvoiceBreakdown, breakdown_of
from meterbill.services.catalog import load_catalog, load_customer
from meterbill.services.invoicing import InvoiceView, customer_invoices
from meterbill.services.jsonio import dumps_text

__all__ = [
    "CSV_COLUMNS",
    "BreakdownRow",
    "BreakdownTable",
    "ChartDay",
    "Dashboard",
    "GroupCost",
    "Series",
    "breakdown_csv",
    "breakdown_table",
    "dashboard",
]

CSV_COLUMNS = (
    "window_start",
    "window_end",
    "invoice_id",
    "line",
    "product",
    "group",
    "quantity",
    "amount",
)
_ZERO = Decimal(0)
# A spreadsheet reads a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Series:
    """One stack of the daily chart: a product (or a line type for lines without one)."""

    key: str
    name: str


@dataclass(frozen=True, slots=True)
class ChartDay:
    """One UTC day of the chart: its cost per series (non-zero ones, in series order)."""

    day: date
    period: str  # "previous" or "current"
    segments: tuple[tuple[str, Decimal], ...]
    future: bool

    @property
    def total(self) -> Decimal:
        return sum((amount for _, amount in self.segments), _ZERO)


@dataclass(frozen=True, slots=True)
class GroupCost:
    """A group's cost over the current period: its label, its dimensions and its amount."""

    label: str
    dimensions: tuple[tuple[str, str], ...]
    amount: Decimal


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    """One line of one invoice in one window."""

    invoice: InvoiceView
    line: Line
    figure: WindowFigure

    @property
    def window(self) -> Span:
        return self.figure.window


@dataclass(frozen=True, slots=True)
class BreakdownTable:
    """The breakdown rows of some invoices, window by window, in time order."""

    size: WindowSize
    invoices: tuple[InvoiceView, ...]
    rows: tuple[BreakdownRow, ...]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the dashboard page shows for one customer at ``as_of``."""

    customer: Customer
    as_of: datetime
    invoices: tuple[InvoiceView, ...]
    current: tuple[InvoiceView, ...]
    previous: tuple[InvoiceView, ...]
    drafts: tuple[InvoiceView, ...]
    accrued: dict[str, Decimal]
    """Per live draft id: its charges accrued by ``as_of`` (day windows started by then)."""
    current_span: Span | None
    previous_span: Span | None
    series: tuple[Series, ...]
    days: tuple[ChartDay, ...]
    top_groups: tuple[GroupCost, ...]
    table: BreakdownTable
    alerts: tuple[AlertStatus, ...] = ()


class _Breakdowns:
    """Breakdowns by (invoice, window size), each computed once per request."""

    def __init__(self, session: Session, as_of: datetime) -> None:
        self._session = session
        self._as_of = as_of
        self._done: dict[tuple[str, WindowSize], InvoiceBreakdown] = {}

    def of(self, view: InvoiceView, size: WindowSize) -> InvoiceBreakdown:
        key = (view.id, size)
        if key not in self._done:
            self._done[key] = breakdown_of(self._session, view, size=size, as_of=self._as_of)
        return self._done[key]


def _periods(
    views: Sequence[InvoiceView], as_of: datetime
) -> tuple[list[InvoiceView], list[InvoiceView], Span | None, Span | None]:
    live = [view for view in views if view.status != "void"]
    current = [view for view in live if view.ref.period.contains(as_of)]
    if not current:
        started = [view for view in live if view.ref.period.start <= as_of]
        if not started:
            return [], [], None, None
        latest = max(view.ref.period.start for view in started)
        current = [view for view in started if view.ref.period.start == latest]
    current_span = Span(
        min(view.ref.period.start for view in current),
        max(view.ref.period.end for view in current),
    )
    before = [view for view in views if view.ref.period.end <= current_span.start]
    if not before:
        return current, [], current_span, None
    end = max(view.ref.period.end for view in before)
    earlier = [view for view in before if view.ref.period.end == end]
    previous_span = Span(min(view.ref.period.start for view in earlier), end)
    previous = [view for view in earlier if view.status != "void"]
    return current, previous, current_span, previous_span


def _accrued(breakdowns: _Breakdowns, view: InvoiceView, as_of: datetime) -> Decimal:
    """The draft's charges so far: its day windows that started by ``as_of``, summed."""
    return sum(
        (
            figure.amount
            for entry in breakdowns.of(view, WindowSize.DAY).windows
            if entry.window.start <= as_of
            for _line, figure in entry.lines
        ),
        _ZERO,
    )


def _series_key(line: Line) -> str:
    return line.product if line.product is not None else line.type


def _chart(
    session: Session,
    breakdowns: _Breakdowns,
    views: Sequence[InvoiceView],
    span: Span,
    current_span: Span,
    as_of: datetime,
) -> tuple[tuple[Series, ...], tuple[ChartDay, ...]]:
    catalog = load_catalog(session).catalog
    names: dict[str, str] = {}
    per_day: dict[date, dict[str, Decimal]] = {}
    for view in views:
        for entry in breakdowns.of(view, WindowSize.DAY).windows:
            day = floor_to(entry.window.start, WindowSize.DAY).date()
            amounts = per_day.setdefault(day, {})
            for line, figure in entry.lines:
                key = _series_key(line)
                product = catalog.products.get(line.product or "")
                names.setdefault(key, product.name if product is not None else line.name)
                amounts[key] = amounts.get(key, _ZERO) + figure.amount
    # Bigger series at the bottom of the stacks; the order is stable between requests.
    totals: dict[str, Decimal] = {}
    for amounts in per_day.values():
        for key, amount in amounts.items():
            totals[key] = totals.get(key, _ZERO) + amount
    shown = [key for key in names if any(amounts.get(key) for amounts in per_day.values())]
    order = sorted(shown, key=lambda key: (-totals.get(key, _ZERO), key))
    series = tuple(Series(key, names[key]) for key in order)
    today = floor_to(as_of, WindowSize.DAY).date()
    days: list[ChartDay] = []
    for window in windows(span, WindowSize.DAY):
        day = window.start.date()
        amounts = per_day.get(day, {})
        days.append(
            ChartDay(
                day=day,
                period="current" if current_span.overlaps(window) else "previous",
                segments=tuple((key, amounts[key]) for key in order if amounts.get(key, _ZERO)),
                future=day > today,
            )
        )
    return series, tuple(days)


def _group_of(line: Line, customer: Customer) -> GroupCost:
    """The line's group with a zero amount: a resource it names, else all its dimensions."""
    resources = {resource.id: resource for resource in customer.resources}
    for dimension, value in line.group:
        resource = resources.get(value)
        if resource is not None:
            return GroupCost(resource.name or resource.id, ((dimension, value),), _ZERO)
    label = ", ".join(f"{dimension}: {value}" for dimension, value in line.group)
    return GroupCost(label, line.group, _ZERO)


def _top_groups(
    breakdowns: _Breakdowns, views: Sequence[InvoiceView], customer: Customer
) -> tuple[GroupCost, ...]:
    found: dict[tuple[tuple[str, str], ...], GroupCost] = {}
    for view in views:
        for entry in breakdowns.of(view, WindowSize.DAY).windows:
            for line, figure in entry.lines:
                if not line.group:
                    continue
                group = _group_of(line, customer)
                known = found.get(group.dimensions, group)
                found[group.dimensions] = replace(known, amount=known.amount + figure.amount)
    return tuple(sorted(found.values(), key=lambda group: (-group.amount, group.label)))


def _table(
    breakdowns: _Breakdowns, views: Sequence[InvoiceView], size: WindowSize
) -> BreakdownTable:
    rows: list[BreakdownRow] = []
    for view in views:
        for entry in breakdowns.of(view, size).windows:
            rows.extend(
                BreakdownRow(view, line, figure)
                for line, figure in entry.lines
                if figure.quantity != 0 or figure.amount != 0
            )
    # Stable: inside a window, invoices keep their period order and lines their invoice order.
    rows.sort(key=lambda row: row.window.start)
    return BreakdownTable(size, tuple(views), tuple(rows))


def _chosen(
    views: Sequence[InvoiceView], current: Sequence[InvoiceView], invoice_id: str | None
) -> list[InvoiceView]:
    if invoice_id is None:
        return list(current)
    for view in views:
        if view.id == invoice_id and view.status != "void":
            return [view]
    raise NotFound(f"invoice '{invoice_id}' not found")


def breakdown_table(
    session: Session,
    customer_id: str,
    *,
    as_of: datetime,
    size: WindowSize,
    invoice_id: str | None = None,
) -> BreakdownTable:
    """The breakdown rows of one of the customer's invoices, or of the current period."""
    views = customer_invoices(session, customer_id, as_of=as_of)
    current, _, _, _ = _periods(views, as_of)
    chosen = _chosen(views, current, invoice_id)
    return _table(_Breakdowns(session, as_of), chosen, size)


def dashboard(
    session: Session,
    customer_id: str,
    *,
    as_of: datetime,
    size: WindowSize = WindowSize.DAY,
    invoice_id: str | None = None,
) -> Dashboard:
    """Every figure of the customer's dashboard at ``as_of`` (``NotFound`` if unknown)."""
    views = customer_invoices(session, customer_id, as_of=as_of)
    customer = views[0].customer if views else load_customer(session, customer_id)
    current, previous, current_span, previous_span = _periods(views, as_of)
    breakdowns = _Breakdowns(session, as_of)
    drafts = tuple(view for view in current if view.status == "draft")
    series: tuple[Series, ...] = ()
    days: tuple[ChartDay, ...] = ()
    if current_span is not None:
        span = Span(
            previous_span.start if previous_span is not None else current_span.start,
            current_span.end,
        )
        series, days = _chart(session, breakdowns, [*previous, *current], span, current_span, as_of)
    return Dashboard(
        customer=customer,
        as_of=as_of,
        invoices=tuple(views),
        current=tuple(current),
        previous=tuple(previous),
        drafts=drafts,
        accrued={view.id: _accrued(breakdowns, view, as_of) for view in drafts},
        current_span=current_span,
        previous_span=previous_span,
        series=series,
        days=days,
        top_groups=_top_groups(breakdowns, current, customer),
        table=_table(breakdowns, _chosen(views, current, invoice_id), size),
        alerts=tuple(alert_statuses(session, customer_id, at=as_of, views=views)),
    )


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def breakdown_csv(rows: Iterable[BreakdownRow]) -> str:
    """The rows as CSV (``CSV_COLUMNS``): times in RFC 3339, quantities as exact decimal
    text, amounts with the currency's minor digits (``money_text``), the group as a JSON
    object (empty for a line without one)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            (
                time_text(row.window.start),
                time_text(row.window.end),
                _cell(row.invoice.id),
                _cell(row.line.name),
                _cell(row.line.product or ""),
                dumps_text(row.line.group_dict) if row.line.group else "",
                decimal_text(row.figure.quantity),
                money_text(row.figure.amount, row.invoice.currency),
            )
        )
    return buffer.getvalue()
