"""Credit grants paying invoices (spec 4.6).

Grants are drawn per invoice, invoices in period order. For one invoice the grants that can
pay are those that started before the period ends, have not expired by the period start, and
have a balance left; they pay in order of ``priority``, then earliest expiry (never-expiring
last), then ``starts_at``, then ``key``. Credits never pay a prepaid credit purchase.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterbill.core.catalog import CreditGrant, CreditKind
from meterbill.core.money import round_money
from meterbill.core.periods import Span

__all__ = ["CreditUse", "balance_after", "draw_credits", "draw_order", "opening_balances"]

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


def opening_balances(
    grants: Iterable[CreditGrant], used: Mapping[str, Decimal], *, currency: str
) -> dict[str, Decimal]:
    """Each grant's amount, in the currency's minor unit, less what invoices already used."""
    return {g.key: round_money(g.amount, currency) - used.get(g.key, _ZERO) for g in grants}


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
    """What remains on every grant that could still pay an invoice after ``period``."""
    return sum(
        (
            balances.get(g.key, _ZERO)
            for g in grants
            if g.expires_at is None or g.expires_at > period.end
        ),
        _ZERO,
    )


def _can_pay(grant: CreditGrant, period: Span) -> bool:
    return grant.starts_at < period.end and (
        grant.expires_at is None or grant.expires_at > period.start
    )
