"""A customer's invoices in period order: which periods exist, what each draft holds.

Pure orchestration over :mod:`meterbill.core.rating`: the caller (a service) supplies the
quantities of each period and what issued invoices already used; this module decides the
periods, places prepaid purchases and late-usage corrections, and draws credits in period
order (spec 4.6, 4.7).
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from meterbill.core.adjustments import tax_lines
from meterbill.core.aggregation import GroupKey
from meterbill.core.catalog import (
    Anchor,
    Catalog,
    CreditGrant,
    CreditKind,
    Customer,
    Discount,
    Plan,
    Tax,
)
from meterbill.core.credits import expand_grants, opening_balances
from meterbill.core.errors import Unrepresentable
from meterbill.core.money import round_money
from meterbill.core.periods import Span, billing_periods
from meterbill.core.rating import Line, Remember, Totals, rate_period, totals

__all__ = [
    "Draft",
    "PeriodRef",
    "closable",
    "customer_periods",
    "customer_taxes",
    "deduction",
    "draft_invoices",
    "invoice_id",
    "period_anchor",
    "period_discounts",
    "purchases",
    "representable",
    "span_of",
    "subscription_of",
    "with_taxes",
]

_NAMESPACE = uuid.UUID("6f1c8a52-5a55-4c43-9a0f-3f1b9d2c7e10")
Usage = Mapping[str, Mapping[GroupKey, Decimal]]


@dataclass(frozen=True, slots=True, order=True)
class PeriodRef:
    """One billing period of one subscription: what identifies an invoice."""

    period: Span
    plan: str


@dataclass(frozen=True, slots=True)
class Draft:
    ref: PeriodRef
    lines: tuple[Line, ...]
    totals: Totals
    corrected: tuple[PeriodRef, ...] = field(default=())


def invoice_id(customer_id: str, ref: PeriodRef, reissue: int = 0) -> str:
    """A stable id for a customer's invoice of one period, the same as draft and issued.

    ``reissue`` counts the period's void invoices: a replacement has an id of its own.
    """
    name = f"{customer_id}/{ref.plan}/{ref.period.start.isoformat()}"
    if reissue:
        name = f"{name}/{reissue}"
    return str(uuid.uuid5(_NAMESPACE, name))


def deduction(line: Line, number: int) -> Line:
    """The line a replacement carries for a correction ``line`` of its period that invoice
    ``number`` billed: its negative, ``"<line name> (billed on invoice <number>)"`` (spec
    5.6). It keeps the line's key, so later corrections of the period see it billed."""
    base = line.name.split(" (late usage, ")[0]
    return replace(
        line,
        name=f"{base} (billed on invoice {number})",
        quantity=-line.quantity,
        exact=-line.exact,
        amount=-line.amount,
        corrects=None,
        corrects_plan=None,
    )


def customer_periods(customer: Customer, catalog: Catalog, *, until: datetime) -> list[PeriodRef]:
    """Every period of the customer's subscriptions that has started by ``until``."""
    refs = [
        PeriodRef(period, subscription.plan)
        for subscription in customer.subscriptions
        for period in billing_periods(
            catalog.plans[subscription.plan].interval,
            subscription.starts_at,
            subscription.ends_at,
            until=until,
            anchor=catalog.plans[subscription.plan].anchor,
        )
    ]
    return sorted(refs)


def period_anchor(customer: Customer, catalog: Catalog, ref: PeriodRef) -> datetime | None:
    """The ``starts_at`` its periods are anchored at, when the period's subscription is on a
    plan with ``anchor: subscription``; None for calendar periods (``rate_period``'s
    ``anchored_at``)."""
    plan = catalog.plans.get(ref.plan)
    if plan is None or plan.anchor is not Anchor.SUBSCRIPTION:
        return None
    position = subscription_of(customer, ref)
    return None if position is None else customer.subscriptions[position].starts_at


def subscription_of(customer: Customer, ref: PeriodRef) -> int | None:
    """The position in the customer's list of the subscription ``ref`` is a period of.

    Two subscriptions to one plan never overlap (the setup refuses it), so the plan and a
    period identify the subscription; ``None`` when the list no longer holds it.
    """
    for position, subscription in enumerate(customer.subscriptions):
        if (
            subscription.plan == ref.plan
            and subscription.starts_at < ref.period.end
            and (subscription.ends_at is None or subscription.ends_at > ref.period.start)
        ):
            return position
    return None


def period_discounts(customer: Customer, catalog: Catalog, ref: PeriodRef) -> tuple[Discount, ...]:
    """The customer's discounts that apply to the period (spec 6.4, 6.7): those whose
    ``starts_at`` is at or before the period start and, with ``periods``, for which fewer
    than ``periods`` earlier periods of the same subscription start at or after
    ``starts_at``. A period is counted once, whatever happens to its invoice (a voided and
    reissued period is the same period)."""
    position = subscription_of(customer, ref)
    plan = catalog.plans.get(ref.plan)
    if position is None or plan is None:
        return ()
    subscription = customer.subscriptions[position]
    starts = [
        span.start
        for span in billing_periods(
            plan.interval,
            subscription.starts_at,
            subscription.ends_at,
            until=ref.period.start,
            anchor=plan.anchor,
        )
    ]
    result: list[Discount] = []
    for discount in customer.discounts:
        if ref.period.start < discount.starts_at:
            continue
        earlier = sum(1 for start in starts if discount.starts_at <= start < ref.period.start)
        if discount.periods is None or earlier < discount.periods:
            result.append(discount)
    return tuple(result)


def customer_taxes(customer: Customer, catalog: Catalog) -> tuple[Tax, ...]:
    """The customer's taxes, in the customer's order (unknown keys are refused on setup)."""
    found = (catalog.settings.tax(key) for key in customer.taxes)
    return tuple(tax for tax in found if tax is not None)


def with_taxes(lines: Sequence[Line], customer: Customer, catalog: Catalog) -> list[Line]:
    """The lines followed by one line per tax of the customer (spec 6.5): taxes come after
    the subtotal, corrections included."""
    return [
        *lines,
        *tax_lines(
            lines,
            customer_taxes(customer, catalog),
            catalog=catalog,
            discounts=customer.discounts,
            currency=customer.currency,
        ),
    ]


def _carriers(
    customer: Customer, drafts: Sequence[PeriodRef], corrected: Sequence[PeriodRef]
) -> dict[PeriodRef, list[PeriodRef]]:
    """Which draft carries each corrected period's late usage (spec 5.7).

    The first draft of the same subscription that starts at or after the period's end;
    when that subscription has no such draft (it ended, and its later periods are issued
    or there are none), the earliest such draft of the customer's other subscriptions
    (period start, then plan key). An open subscription always has one (its current
    period). A period with no such draft yet waits (its corrections stay pending,
    nothing is lost).
    """
    order = sorted(drafts, key=lambda ref: (ref.period.start, ref.plan))
    owners = {ref: subscription_of(customer, ref) for ref in order}
    carried: dict[PeriodRef, list[PeriodRef]] = {}
    for ref in sorted(corrected, key=lambda ref: (ref.period.start, ref.plan)):
        own = subscription_of(customer, ref)
        later = [draft for draft in order if draft.period.start >= ref.period.end]
        carrier = next((draft for draft in later if owners[draft] == own), None)
        if carrier is None:
            carrier = next((draft for draft in later if owners[draft] != own), None)
        if carrier is not None:
            carried.setdefault(carrier, []).append(ref)
    return carried


def closable(ref: PeriodRef, *, as_of: datetime, grace_hours: Decimal) -> bool:
    """Whether the period ended at least a grace period before ``as_of``."""
    grace = timedelta(seconds=int(grace_hours * 3600))
    return ref.period.end + grace <= as_of


def purchases(customer: Customer, refs: Sequence[PeriodRef]) -> dict[PeriodRef, list[CreditGrant]]:
    """Prepaid grants, each on the first invoice whose period contains its ``starts_at``."""
    placed: dict[PeriodRef, list[CreditGrant]] = {}
    for grant in customer.credits:
        if grant.kind is not CreditKind.PREPAID:
            continue
        for ref in refs:
            if ref.period.contains(grant.starts_at):
                placed.setdefault(ref, []).append(grant)
                break
    return placed


def draft_invoices(
    *,
    customer: Customer,
    catalog: Catalog,
    drafts: Sequence[PeriodRef],
    all_periods: Sequence[PeriodRef],
    usage: Mapping[PeriodRef, Usage],
    used: Mapping[str, Decimal],
    corrections: Mapping[PeriodRef, Sequence[Line]] = {},
    deductions: Mapping[PeriodRef, Sequence[Line]] = {},
    remember: Remember | None = None,
    upto: int | None = None,
) -> list[Draft]:
    """Rate the draft periods in order, drawing credits after what issued invoices used.

    ``corrections`` maps an issued period (subscription and period) to its late-usage
    lines; the draft chosen by :func:`_carriers` carries them. ``deductions`` maps a draft
    period (one whose invoice was voided) to the lines it deducts because another invoice
    already billed them as corrections (:func:`deduction`). ``remember``: see
    :func:`meterbill.core.rating.rate_period`. ``upto``: rate only the first ``upto``
    drafts (a close, the ones it issues); which draft carries a correction and which grant
    occurrences exist still follow every draft, so their figures are those of a full run.
    """
    # A recurring grant stands for its occurrences; none starting after the last draft's end
    # can pay any of them (spec 5.5).
    horizon = max((ref.period.end for ref in drafts), default=None)
    grants = expand_grants(customer.credits, before=horizon) if horizon else customer.credits
    try:
        balances = opening_balances(grants, used, currency=customer.currency)
    except Unrepresentable as error:
        raise error.within(customer=customer.id) from None
    placed = purchases(customer, all_periods)
    carried = _carriers(customer, drafts, list(corrections))
    result: list[Draft] = []
    for ref in sorted(drafts)[:upto]:
        plan: Plan = catalog.plans[ref.plan]
        try:
            lines = rate_period(
                catalog=catalog,
                plan=plan,
                period=ref.period,
                currency=customer.currency,
                usage=usage.get(ref, {}),
                purchases=placed.get(ref, ()),
                anchored_at=period_anchor(customer, catalog, ref),
                discounts=period_discounts(customer, catalog, ref),
                remember=remember,
            )
            lines.extend(deductions.get(ref, ()))
            taken = tuple(carried.get(ref, ()))
            for corrected in taken:
                lines.extend(corrections[corrected])
            lines = with_taxes(lines, customer, catalog)
            figures = totals(lines, grants=grants, balances=balances, period=ref.period)
            representable(figures, customer.currency)
        except Unrepresentable as error:
            raise error.within(customer=customer.id, period=span_of(ref)) from None
        result.append(Draft(ref, tuple(lines), figures, taken))
    return result


def span_of(ref: PeriodRef) -> tuple[datetime, datetime]:
    """The period as the (start, end) pair errors name."""
    return (ref.period.start, ref.period.end)


def representable(figures: Totals, currency: str) -> None:
    """Raise :class:`Unrepresentable` unless every sum fits in minor units: each line does
    (``rate_period`` checks them), but their sum may not."""
    for name, amount in (
        ("subtotal", figures.subtotal),
        ("tax", figures.tax),
        ("subtotal plus tax", figures.subtotal + figures.tax),
        ("credits applied", figures.credits_applied),
        ("total", figures.total),
    ):
        try:
            round_money(amount, currency)
        except Unrepresentable as error:
            raise error.within(product=f"the invoice {name}") from None
