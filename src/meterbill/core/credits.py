"""Credit grants paying invoices (spec 4.6).

Grants are drawn per invoice, invoices in period order. For one invoice the grants that can
pay are those that started before the period ends, have not expired by the period start, and
have a balance left; they pay in order of ``priority``, then earliest expiry (never-expiring
last), then ``starts_at``, then ``key``. Credits never pay a prepaid credit purchase.

A grant with ``recurrence`` stands for a series of grants (spec 5.5), expanded by
:func:`occurrences` up to a horizon: occurrence *i* starts at ``starts_at`` stepped *i*
intervals (``core.periods.step``, clamped like anchored periods), expires at the next
occurrence's start or the grant's ``expires_at`` (whichever is first: nothing rolls over),
and is keyed ``<key>/<YYYY-MM-DD of its start>``. None starts at or after ``until`` or
``expires_at``.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from meterbill.core.catalog import CreditGrant, CreditKind
from meterbill.core.errors import Unrepresentable
from meterbill.core.money import round_money
from meterbill.core.periods import Span, step

__all__ = [
    "CreditUse",
    "balance_after",
    "draw_credits",
    "draw_order",
    "expand_grants",
    "occurrences",
    "opening_balances",
]

_ZERO = Decimal(0)
_NEVER = datetime.max.replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class CreditUse:
    """How much one grant paid of one invoice."""

    grant: str
    kind: CreditKind
    amount: Decimal


def draw_order(grant: CreditGrant) -> tuple[int, datetime, datetime, str]:
    expiry = grant.expires_at.replace(tzinfo=None) if grant.expires_at else _NEVER
    return (grant.priority, expiry, grant.starts_at.replace(tzinfo=None), grant.key)


def occurrences(grant: CreditGrant, *, before: datetime) -> list[CreditGrant]:
    """The grants a recurring grant stands for that start before ``before``, in order; a
    grant without ``recurrence`` is its own single occurrence.

    ``before`` bounds the series (pass the end of the latest period being rated: a grant
    starting at or after it can pay none of them), so it is never infinite.
    """
    if grant.recurrence is None:
        return [grant]
    stop = min(moment for moment in (before, grant.until, grant.expires_at) if moment is not None)
    result: list[CreditGrant] = []
    index, start = 0, grant.starts_at
    while start < stop:
        index += 1
        following = step(grant.starts_at, grant.recurrence, index)
        result.append(
            replace(
                grant,
                key=f"{grant.key}/{start:%Y-%m-%d}",
                starts_at=start,
                expires_at=following
                if grant.expires_at is None
                else min(following, grant.expires_at),
                recurrence=None,
                until=None,
            )
        )
        start = following
    return result


def expand_grants(grants: Iterable[CreditGrant], *, before: datetime) -> tuple[CreditGrant, ...]:
    """Every grant, recurring ones replaced by their occurrences starting before ``before``."""
    return tuple(occurrence for grant in grants for occurrence in occurrences(grant, before=before))


def opening_balances(
    grants: Iterable[CreditGrant], used: Mapping[str, Decimal], *, currency: str
) -> dict[str, Decimal]:
    """Each grant's amount, in the currency's minor unit, less what invoices already used."""
    balances: dict[str, Decimal] = {}
    for grant in grants:
        try:
            balances[grant.key] = round_money(grant.amount, currency) - used.get(grant.key, _ZERO)
        except Unrepresentable as error:
            raise error.within(product=f"credit grant {grant.key}") from None
    return balances


def draw_credits(
    grants: Iterable[CreditGrant],
    balances: dict[str, Decimal],
    *,
    period: Span,
    payable: Decimal,
) -> list[CreditUse]:
    """Pay up to ``payable`` from the grants that can pay ``period``; updates ``balances``."""
    uses: list[CreditUse] = []
    owed = payable
    for grant in sorted(grants, key=draw_order):
        if owed <= 0:
            break
        balance = balances.get(grant.key, _ZERO)
        if not _can_pay(grant, period) or balance <= 0:
            continue
        paid = min(balance, owed)
        balances[grant.key] = balance - paid
        owed -= paid
        uses.append(CreditUse(grant.key, grant.kind, paid))
    return uses


def balance_after(
    grants: Iterable[CreditGrant], balances: Mapping[str, Decimal], *, period: Span
) -> Decimal:
    """What remains on the grants that started before ``period`` ends and do not expire by
    its end (spec 4.6): a grant (or recurring occurrence) starting later is not counted."""
    return sum(
        (
            balances.get(g.key, _ZERO)
            for g in grants
            if g.starts_at < period.end and (g.expires_at is None or g.expires_at > period.end)
        ),
        _ZERO,
    )


def _can_pay(grant: CreditGrant, period: Span) -> bool:
    return grant.starts_at < period.end and (
        grant.expires_at is None or grant.expires_at > period.start
    )
