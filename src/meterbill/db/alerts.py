"""Storage of spend-alert firings, and the query that tells the evaluator whom to look at.

A firing is inserted or nothing: the unique constraint on (customer, alert, plan, period
start) decides, so several evaluators racing on one crossing record it once whichever
commits first (on PostgreSQL the second insert waits for the first transaction, then does
nothing; SQLite serializes write transactions).
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from meterbill.db.models import AlertFiring, EventRow
from meterbill.db.session import upsert_insert

__all__ = [
    "AlertFiring",
    "customers_with_events",
    "firings",
    "insert_firing",
    "last_event_id",
    "set_message_id",
]


def insert_firing(
    session: Session,
    *,
    customer_id: str,
    alert_key: str,
    kind: str,
    plan_key: str,
    period_start: datetime,
    period_end: datetime,
    currency: str,
    threshold: Decimal,
    value: Decimal,
    fired_at: datetime,
) -> int | None:
    """Record that an alert fired for a period; the new row's id, or None if that alert
    already fired for that period (nothing is written then)."""
    insert = upsert_insert(session)
    statement = (
        insert(AlertFiring)
        .values(
            customer_id=customer_id,
            alert_key=alert_key,
            kind=kind,
            plan_key=plan_key,
            period_start=period_start,
            period_end=period_end,
            currency=currency,
            threshold=threshold,
            value=value,
            fired_at=fired_at,
            message_id="",
        )
        .on_conflict_do_nothing(
            index_elements=["customer_id", "alert_key", "plan_key", "period_start"]
        )
        .returning(AlertFiring.id)
    )
    row = session.execute(statement).first()
    return None if row is None else int(row[0])


def set_message_id(session: Session, firing_id: int, message_id: str) -> None:
    """Link a firing to the outbox message that announced it."""
    session.execute(
        update(AlertFiring).where(AlertFiring.id == firing_id).values(message_id=message_id)
    )


def firings(session: Session, customer_id: str, *, at: datetime | None = None) -> list[AlertFiring]:
    """The customer's firings (only those of periods holding ``at`` if given), oldest first."""
    query = select(AlertFiring).where(AlertFiring.customer_id == customer_id)
    if at is not None:
        query = query.where(AlertFiring.period_start <= at, AlertFiring.period_end > at)
    return list(session.scalars(query.order_by(AlertFiring.fired_at, AlertFiring.id)))


def last_event_id(session: Session) -> int:
    """The highest event id stored (0 with no events)."""
    return int(session.scalar(select(func.coalesce(func.max(EventRow.id), 0))) or 0)


def customers_with_events(session: Session, *, after: int, up_to: int) -> Sequence[str]:
    """The customers with an event whose id lies in ``(after, up_to]``, by id."""
    query = (
        select(EventRow.customer_id)
        .where(EventRow.id > after, EventRow.id <= up_to)
        .distinct()
        .order_by(EventRow.customer_id)
    )
    return list(session.scalars(query))
