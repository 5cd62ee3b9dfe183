"""Invoice breakdowns: each line cut into hour or day windows that add up to the cent.

A breakdown shows all usage of its period, late events included (spec 4.7): an issued
invoice whose period got late usage is broken down from a re-rating of the period, while
correction lines on a later invoice are not broken down again (their usage already shows in
the windows of the period it belongs to).
"""

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from meterbill.core.adjustments import LINE_TAX, is_adjustment, is_taxable
from meterbill.core.breakdown import WindowFigure, line_figures, line_usage, tax_figures
from meterbill.core.invoicing import (
    customer_periods,
    period_anchor,
    period_discounts,
    purchases,
    with_taxes,
)
from meterbill.core.money import written
from meterbill.core.periods import Span, WindowSize, windows
from meterbill.core.rating import Line, piece_key, price_pieces, rate_period
from meterbill.db import Session
from meterbill.db import invoices as invoice_store
from meterbill.services.catalog import CatalogState, load_catalog
from meterbill.services.invoicing import InvoiceView, period_quantities
from meterbill.services.usage import memoized, remembered, window_usage

__all__ = ["InvoiceBreakdown", "LineFigures", "WindowLines", "breakdown_of", "visible"]


@dataclass(frozen=True, slots=True)
class LineFigures:
    """One line's figure in every window of a breakdown.

    ``rendered`` keeps what views write from them (keyed by the view and all else it
    depends on): kept in the read cache, a line's windows are written once, not on every
    request, and a new event re-writes only the lines it changed.
    """

    figures: tuple[WindowFigure, ...]
    rendered: dict[Hashable, object] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )


@dataclass(frozen=True, slots=True)
class WindowLines:
    """One window of one invoice: each line's figure in it (``lines``).

    ``heads`` are the invoice's lines and ``sources`` their figures over all windows (same
    order), ``index`` this window's place in them; ``rendered`` keeps what views write
    from the window, like ``LineFigures.rendered``.
    """

    window: Span
    heads: tuple[Line, ...]
    sources: tuple[LineFigures, ...]
    index: int
    rendered: dict[Hashable, object] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    _pairs: list[tuple[tuple[Line, WindowFigure], ...]] = field(
        default_factory=list, compare=False, hash=False, repr=False
    )

    @property
    def lines(self) -> tuple[tuple[Line, WindowFigure], ...]:
        """Each line with its figure in this window (made on first use)."""
        if not self._pairs:
            self._pairs.append(
                tuple(
                    (line, source.figures[self.index])
                    for line, source in zip(self.heads, self.sources, strict=True)
                )
            )
        return self._pairs[0]


@dataclass(frozen=True, slots=True)
class InvoiceBreakdown:
    invoice: InvoiceView
    size: WindowSize
    windows: tuple[WindowLines, ...]


def _lines(session: Session, state: CatalogState, view: InvoiceView, as_of: datetime) -> list[Line]:
    own = [line for line in view.lines if line.corrects is None]
    if view.status == "draft":
        return own
    billed = invoice_store.lines_for_period(
        session,
        customer_id=view.customer.id,
        plan_key=view.ref.plan,
        period_start=view.ref.period.start,
    )
    if not any(row.corrects_period_start is not None for row in billed) and not _late(
        session, view
    ):
        return own
    refs = customer_periods(view.customer, state.catalog, until=max(as_of, view.ref.period.start))
    rerated = rate_period(
        catalog=state.catalog,
        plan=state.catalog.plans[view.ref.plan],
        period=view.ref.period,
        currency=view.currency,
        usage=period_quantities(session, state, view.customer.id, view.ref),
        purchases=purchases(view.customer, refs).get(view.ref, ()),
        anchored_at=period_anchor(view.customer, state.catalog, view.ref),
        discounts=period_discounts(view.customer, state.catalog, view.ref),
    )
    return with_taxes(rerated, view.customer, state.catalog)


def _late(session: Session, view: InvoiceView) -> bool:
    row = invoice_store.get_invoice(session, view.id)
    return row is not None and row.late_usage


def breakdown_of(
    session: Session, view: InvoiceView, *, size: WindowSize, as_of: datetime
) -> InvoiceBreakdown:
    """The invoice's lines over every window of its period.

    In a read transaction the windows are kept in the read cache under the customer's usage
    stamp, keyed by all else they depend on: the catalog version, the lines, the windows,
    the currency and the customer's discount scopes (``services.usage.remembered``); callers
    must not change them.
    """
    state = load_catalog(session)
    lines = _lines(session, state, view, as_of)
    spans = windows(view.ref.period, size)
    scoped = {discount.key: discount.products for discount in view.customer.discounts}

    def compute(buckets: object) -> tuple[WindowLines, ...]:
        sources = tuple(_figures(session, state, view, lines, spans, size, scoped))
        heads = tuple(lines)
        return tuple(
            WindowLines(window, heads, sources, index) for index, window in enumerate(spans)
        )

    if state.version is None:
        return InvoiceBreakdown(view, size, compute(None))
    key = (
        "breakdown",
        state.version,
        tuple(lines),
        tuple(spans),
        size,
        view.currency,
        tuple(sorted(scoped.items())),
    )
    # Twice the figures: the windows' rendered documents live with them.
    per_window = remembered(
        session, view.customer.id, key, compute, weight=lambda w: 2 * len(lines) * len(w)
    )
    return InvoiceBreakdown(view, size, per_window)


def _figures(
    session: Session,
    state: CatalogState,
    view: InvoiceView,
    lines: Sequence[Line],
    spans: Sequence[Span],
    size: WindowSize,
    scoped: Mapping[str, tuple[str, ...]],
) -> list[LineFigures]:
    """Per line, its figure in every window (``core.breakdown``). In a read transaction
    each line's figures are kept in the read cache under all they are computed from (the
    catalog version, the windows, the currency, the line and its usage), so after a new
    event only the lines whose usage changed are computed again, and their tax lines."""
    catalog = state.catalog
    groups: dict[str, set[tuple[str, ...]]] = {}
    split: dict[tuple[str, datetime], set[tuple[str, ...]]] = {}
    for line in lines:
        if (
            line.product is not None
            and not is_adjustment(line)
            and catalog.products[line.product].meter is not None
        ):
            group = tuple(v for _, v in line.group)
            if line.since is not None:
                split.setdefault((line.product, line.since), set()).add(group)
            else:
                groups.setdefault(line.product, set()).add(group)
    # One read per meter and divisor (as written: 10 and 10.0 divide into other digits),
    # however many products price it.
    by_meter: dict[tuple[str, str | None], tuple[Decimal, set[tuple[str, ...]]]] = {}
    for key, wanted in groups.items():
        product = catalog.products[key]
        divisor = product.quantity_divisor
        entry = by_meter.setdefault((product.meter or "", written(divisor)), (divisor, set()))
        entry[1].update(wanted)
    measured = {
        read: window_usage(
            session,
            state.meters[read[0]],
            customer_id=view.customer.id,
            windows=spans,
            size=size,
            groups=wanted,
            divisor=divisor,
        )
        for read, (divisor, wanted) in by_meter.items()
    }
    usage: dict[str, dict[tuple[str, ...], list[Decimal]]] = {}
    for key, wanted in groups.items():
        product = catalog.products[key]
        series = measured[product.meter or "", written(product.quantity_divisor)]
        usage[key] = {group: series[group] for group in wanted}
    for (key, since), wanted in split.items():
        usage[piece_key(key, since)] = _piece_series(
            session, state, view, key, since, spans, size, wanted
        )
    own: list[LineFigures | None] = []
    for line in lines:
        if line.type == LINE_TAX:
            own.append(None)
            continue

        def compute(line: Line = line) -> LineFigures:
            figures = line_figures(
                line, catalog=catalog, windows=spans, usage=usage, currency=view.currency
            )
            return LineFigures(tuple(figures))

        if state.version is None:
            own.append(compute())
            continue
        memo_key = (
            "line figures",
            state.version,
            view.ref.period,  # with size: the windows (``spans`` are the period's windows)
            size,
            view.currency,
            line,
            _digits(line.quantity, line.unit_price, line.exact, line.amount),
            tuple(
                (key, _digits(*series)) for key, series in line_usage(line, catalog, spans, usage)
            ),
        )
        own.append(memoized(session, memo_key, compute, weight=2 * len(spans)))
    every = tax_figures(
        lines,
        [None if figures is None else figures.figures for figures in own],
        windows=spans,
        currency=view.currency,
        taxable=lambda line: is_taxable(line, catalog=catalog, discount_products=scoped),
    )
    return [
        figures if figures is not None else LineFigures(tuple(taxed))
        for figures, taxed in zip(own, every, strict=True)
    ]


def _digits(*values: Decimal | None) -> tuple[str | None, ...]:
    """Values as written (``core.money.written``), for a key by content."""
    return tuple(written(value) for value in values)


def _piece_series(
    session: Session,
    state: CatalogState,
    view: InvoiceView,
    key: str,
    since: datetime,
    spans: Sequence[Span],
    size: WindowSize,
    groups: set[tuple[str, ...]],
) -> dict[tuple[str, ...], list[Decimal]]:
    """A split product's quantities per window over one price piece (spec 5.1): windows
    are cut at the piece's bounds, and windows outside it hold nothing."""
    product = state.catalog.products[key]
    piece = next(p for p in price_pieces(product, view.ref.period) if p.span.start == since)
    clipped = [(index, window.clip(piece.span)) for index, window in enumerate(spans)]
    inside = [(index, window) for index, window in clipped if window is not None]
    measured = window_usage(
        session,
        state.meters[product.meter or ""],
        customer_id=view.customer.id,
        windows=[window for _, window in inside],
        size=size,
        groups=groups,
        divisor=None,
    )
    result: dict[tuple[str, ...], list[Decimal]] = {}
    for group in groups:
        series = [Decimal(0)] * len(spans)
        for (index, _), value in zip(inside, measured.get(group, []), strict=False):
            series[index] = value / product.quantity_divisor
        result[group] = series
    return result


def visible(entry: WindowLines, *, skip_zero: bool) -> Sequence[tuple[Line, WindowFigure]]:
    """A window's lines, without the zero-quantity ones when ``skip_zero`` is set."""
    if not skip_zero:
        return entry.lines
    return [(line, figure) for line, figure in entry.lines if figure.quantity != 0]
