"""An invoice's lines cut into hour or day windows that add up to the cent (spec 4.8).

Every window's figures are computed exactly first; then each line's rounded amount is split
into minor units by largest remainder of the exact window amounts, so the windows of a line
add up to the line, and the windows of an invoice to its subtotal.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from meterbill.core.adjustments import LINE_TAX, is_adjustment
from meterbill.core.aggregation import GroupKey
from meterbill.core.catalog import (
    Aggregation,
    Catalog,
    GraduatedPrice,
    PackagePrice,
    PerUnitPrice,
    VolumePrice,
)
from meterbill.core.money import allocate
from meterbill.core.periods import Span
from meterbill.core.pricing import charged, graduated_slices, package_amount
from meterbill.core.rating import LINE_PURCHASE, Line, piece_key, price_pieces

__all__ = ["WindowFigure", "break_down", "line_figures", "line_usage", "tax_figures"]

_ZERO = Decimal(0)
_ADDITIVE = {Aggregation.COUNT, Aggregation.SUM, Aggregation.TIME_WEIGHTED}


@dataclass(frozen=True, slots=True)
class WindowFigure:
    """One line's share of one window: quantity, exact amount, amount in minor units."""

    window: Span
    quantity: Decimal
    exact: Decimal
    amount: Decimal


def break_down(
    lines: Sequence[Line],
    *,
    catalog: Catalog,
    windows: Sequence[Span],
    usage: Mapping[str, Mapping[GroupKey, Sequence[Decimal]]],
    currency: str,
    taxable: Callable[[Line], bool] | None = None,
) -> list[list[WindowFigure]]:
    """Per line (same order), its figure in every window of the period.

    ``usage`` maps a usage product to each group's quantity per window (aligned with
    ``windows``, already divided): for count, sum and time_weighted meters the meter over
    the window, for the others the aggregation inside it. Lines without a product (minimum,
    discounts, purchases), product minimum and maximum lines (quantity 0) and flat lines are
    spread evenly. A tax line follows the taxable share of each window: its amount in
    proportion to the window amounts of the lines ``taxable`` accepts (by default every
    line but purchases), split by largest remainder like every line (spec 6.7).
    """
    figures = [
        None
        if line.type == LINE_TAX
        else line_figures(line, catalog=catalog, windows=windows, usage=usage, currency=currency)
        for line in lines
    ]
    return tax_figures(lines, figures, windows=windows, currency=currency, taxable=taxable)


def line_figures(
    line: Line,
    *,
    catalog: Catalog,
    windows: Sequence[Span],
    usage: Mapping[str, Mapping[GroupKey, Sequence[Decimal]]],
    currency: str,
) -> list[WindowFigure]:
    """One line's figure in every window (any line but a tax line; see :func:`break_down`).

    It depends on the line, the catalog, the windows, the currency and, of ``usage``, only
    what :func:`line_usage` returns for the line."""
    quantities, exacts = _exact_figures(line, catalog, windows, usage)
    return _figures(line, windows, quantities, exacts, currency)


def line_usage(
    line: Line,
    catalog: Catalog,
    windows: Sequence[Span],
    usage: Mapping[str, Mapping[GroupKey, Sequence[Decimal]]],
) -> tuple[tuple[str, tuple[Decimal, ...]], ...]:
    """The part of ``usage`` that :func:`line_figures` reads for ``line``: its group's
    series of its product, or for a line of a price piece of its piece and every earlier
    one (free quantity carries over from them), or nothing for a line without metered
    usage."""
    product = catalog.products.get(line.product or "")
    if product is None or product.meter is None or is_adjustment(line) or line.corrects is not None:
        return ()
    group = tuple(value for _, value in line.group)
    if line.since is None:
        keys = [product.key]
    else:
        period = Span(windows[0].start, windows[-1].end)
        keys = [
            piece_key(product.key, piece.span.start)
            for piece in price_pieces(product, period)
            if piece.span.start <= line.since
        ]
    return tuple((key, tuple(usage.get(key, {}).get(group, ()))) for key in keys)


def tax_figures(
    lines: Sequence[Line],
    figures: Sequence[Sequence[WindowFigure] | None],
    *,
    windows: Sequence[Span],
    currency: str,
    taxable: Callable[[Line], bool] | None = None,
) -> list[list[WindowFigure]]:
    """``figures`` (per line, None for a tax line) with every tax line's figures filled in:
    its amount in proportion to the window amounts of the lines ``taxable`` accepts."""
    counts = taxable or (lambda line: line.type not in (LINE_PURCHASE, LINE_TAX))
    base = [_ZERO] * len(windows)
    for line, own in zip(lines, figures, strict=True):
        if own is not None and counts(line):
            base = [total + figure.amount for total, figure in zip(base, own, strict=True)]
    result: list[list[WindowFigure]] = []
    for line, own in zip(lines, figures, strict=True):
        if own is None:
            exacts = _proportional(line.amount, base)
            result.append(_figures(line, windows, [_ZERO] * len(windows), exacts, currency))
        else:
            result.append(list(own))
    return result


def _figures(
    line: Line,
    windows: Sequence[Span],
    quantities: Sequence[Decimal],
    exacts: Sequence[Decimal],
    currency: str,
) -> list[WindowFigure]:
    amounts = allocate(line.amount, exacts, currency)
    return [
        WindowFigure(window, quantity, exact, amount)
        for window, quantity, exact, amount in zip(
            windows, quantities, exacts, amounts, strict=True
        )
    ]


def _exact_figures(
    line: Line,
    catalog: Catalog,
    windows: Sequence[Span],
    usage: Mapping[str, Mapping[GroupKey, Sequence[Decimal]]],
) -> tuple[list[Decimal], list[Decimal]]:
    product = catalog.products.get(line.product or "")
    if is_adjustment(line):
        share = line.exact / len(windows)
        # A product minimum or maximum holds no units of the product (spec 6.7).
        quantity = _ZERO if line.product is not None else line.quantity
        return [quantity] * len(windows), [share] * len(windows)
    if product is not None and line.since is not None and line.corrects is None:
        # A line of a price piece (spec 5.1): its windows are the piece's only.
        period = Span(windows[0].start, windows[-1].end)
        pieces = price_pieces(product, period)
        piece = next(p for p in pieces if p.span.start == line.since)
        price = piece.price
        if product.meter is None:
            weights = [_overlap(window, piece.span) for window in windows]
            return [line.quantity if w else _ZERO for w in weights], _proportional(
                line.exact, weights
            )
        usage_key = piece_key(product.key, line.since)
        # Free quantity is per group and period: the earlier pieces used theirs first.
        group = tuple(value for _, value in line.group)
        earlier = sum(
            (
                sum(usage.get(piece_key(product.key, p.span.start), {}).get(group, []), _ZERO)
                for p in pieces
                if p.span.start < line.since
            ),
            _ZERO,
        )
        free = max(_ZERO, product.free_quantity - earlier)
    elif product is None or product.meter is None or line.corrects is not None:
        share = line.exact / len(windows)
        return [line.quantity] * len(windows), [share] * len(windows)
    else:
        price = product.price_at(windows[0].start)
        usage_key = product.key
        free = product.free_quantity
    assert product.meter is not None
    meter = catalog.meters[product.meter]
    group = tuple(value for _, value in line.group)
    series = list(usage.get(usage_key, {}).get(group, [_ZERO] * len(windows)))
    if meter.aggregation not in _ADDITIVE:
        return series, _proportional(line.exact, series)
    cumulative = _ZERO
    quantities: list[Decimal] = []
    exacts: list[Decimal] = []
    paid: list[Decimal] = []
    for quantity in series:
        # Free units are used up in time order: a window pays only for what its slice of
        # the cumulative quantity has beyond them (spec 6.2).
        start, cumulative = cumulative, cumulative + quantity
        paid.append(quantity if free == 0 else charged(cumulative, free) - charged(start, free))
        if isinstance(price, GraduatedPrice):
            slices = [
                c
                for c in graduated_slices(price.tiers, start, cumulative, free=free)
                if c.tier == line.tier
            ]
            quantities.append(sum((c.quantity for c in slices), _ZERO))
            exacts.append(sum((c.amount for c in slices), _ZERO))
        elif isinstance(price, PackagePrice):
            quantities.append(quantity)
            exacts.append(
                package_amount(price, charged(cumulative, free))
                - package_amount(price, charged(start, free))
            )
        elif isinstance(price, PerUnitPrice):
            quantities.append(quantity)
            exacts.append(paid[-1] * (line.unit_price or _ZERO))
        else:
            quantities.append(quantity)
    if isinstance(price, VolumePrice):
        # The volume line, its tier's flat amount included, in proportion to the charged
        # quantities (the window quantities when nothing is free).
        return quantities, _proportional(line.exact, paid)
    return quantities, exacts


def _overlap(window: Span, piece: Span) -> Decimal:
    inside = window.clip(piece)
    return _ZERO if inside is None else inside.seconds


def _proportional(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    whole = sum(weights, _ZERO)
    if whole == 0:
        return [amount / len(weights)] * len(weights)
    return [amount * weight / whole for weight in weights]
