"""A customer's invoices in period order: which periods exist, what each draft holds.

Pure orchestration over :mod:`meterbill.core.rating`: the caller (a service) supplies the
quantities of each period and what issued invoices already used; this module decides the
periods, places prepaid purchases and late-usage corrections, and draws credits in period
order (spec 4.6, 4.7).
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from meterbill.core.aggregation import GroupKey
from meterbill.core.catalog import Anchor, Catalog, CreditGrant, CreditKind, Customer, Plan
from meterbill.core.credits import expand_grants, opening_balances
from meterbill.core.periods import Span, billing_periods
from meterbill.core.rating import Line, Totals, rate_period, totals

__all__ = [
    "Draft",
    "PeriodRef",
    "closable",
    "customer_periods",
    "draft_invoices",
    "invoice_id",
    "period_anchor",
    "purchases",
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
    corrected: tuple[datetime, ...] = field(default=())


def invoice_id(customer_id: str, ref: PeriodRef) -> str:
    """A stable id for a customer's invoice of one period, the same as draft and issued."""
    return str(uuid.uuid5(_NAMESPACE, f"{customer_id}/{ref.plan}/{ref.period.start.isoformat()}"))


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
    for subscription in customer.subscriptions:
        if (
            subscription.plan == ref.plan
            and subscription.starts_at <= ref.period.start
            and (subscription.ends_at is None or ref.period.start < subscription.ends_at)
        ):
            return subscription.starts_at
    return None


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
    corrections: Mapping[Span, Sequence[Line]] = {},
) -> list[Draft]:
    """Rate the draft periods in order, drawing credits after what issued invoices used.

    ``corrections`` maps an issued period to its late-usage lines; they go on
    the earliest draft that starts at or after that period's end.
    """
    # A recurring grant stands for its occurrences; none starting after the last draft's end
    # can pay any of them (spec 5.5).
    horizon = max((ref.period.end for ref in drafts), default=None)
    grants = expand_grants(customer.credits, before=horizon) if horizon else customer.credits
    balances = opening_balances(grants, used, currency=customer.currency)
    placed = purchases(customer, all_periods)
    pending = dict(corrections)
    result: list[Draft] = []
    for ref in sorted(drafts):
        plan: Plan = catalog.plans[ref.plan]
        lines = rate_period(
            catalog=catalog,
            plan=plan,
            period=ref.period,
            currency=customer.currency,
            usage=usage.get(ref, {}),
            purchases=placed.get(ref, ()),
            anchored_at=period_anchor(customer, catalog, ref),
        )
        taken = sorted(period for period in pending if period.end <= ref.period.start)
        for period in taken:
            lines.extend(pending.pop(period))
        figures = totals(lines, grants=grants, balances=balances, period=ref.period)
        result.append(Draft(ref, tuple(lines), figures, tuple(p.start for p in taken)))
    return result
