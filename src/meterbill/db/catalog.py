"""Meters, products, plans, customers, aliases and settings: queries and upserts.

Definitions are stored as the JSON text of their setup-document form, so the setup that is
applied is exactly the setup that is read back.
"""

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from meterbill.db.models import CustomerAlias, CustomerRow, Meta, MeterRow, PlanRow, ProductRow

__all__ = [
    "PlanRow",
    "ProductRow",
    "alias_owners",
    "customer_ids",
    "customer_rows",
    "customers_by_id",
    "get_customer",
    "get_meta",
    "lock_customers",
    "meter_rows",
    "plan_rows",
    "product_rows",
    "resolve_customers",
    "set_meta",
    "upsert_customer",
    "upsert_meter",
    "upsert_plan",
    "upsert_product",
]


def get_meta(session: Session, key: str) -> str | None:
    row = session.get(Meta, key)
    return None if row is None else row.value


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value


def meter_rows(session: Session) -> list[MeterRow]:
    return list(session.scalars(select(MeterRow).order_by(MeterRow.position, MeterRow.id)))


def product_rows(session: Session) -> list[ProductRow]:
    return list(session.scalars(select(ProductRow).order_by(ProductRow.position)))


def plan_rows(session: Session) -> list[PlanRow]:
    return list(session.scalars(select(PlanRow).order_by(PlanRow.position)))


def _next_position(
    session: Session, model: type[MeterRow] | type[ProductRow] | type[PlanRow]
) -> int:
    return int(session.scalar(select(func.coalesce(func.max(model.position), 0))) or 0) + 1


def upsert_meter(
    session: Session, *, key: str, name: str, definition: str, fingerprint: str
) -> tuple[MeterRow, bool, bool]:
    """Create or update a meter; returns (row, changed at all, fingerprint changed)."""
    row = session.scalar(select(MeterRow).where(MeterRow.key == key))
    if row is None:
        row = MeterRow(
            key=key,
            name=name,
            definition=definition,
            fingerprint=fingerprint,
            position=_next_position(session, MeterRow),
        )
        session.add(row)
        session.flush()
        return row, True, True
    refingerprinted = row.fingerprint != fingerprint
    changed = row.definition != definition or row.archived_at is not None
    row.name, row.definition, row.fingerprint, row.archived_at = name, definition, fingerprint, None
    return row, changed, refingerprinted


def upsert_product(session: Session, *, key: str, definition: str) -> bool:
    """Create or update a product; returns whether anything changed."""
    row = session.get(ProductRow, key)
    if row is None:
        position = _next_position(session, ProductRow)
        session.add(ProductRow(key=key, definition=definition, position=position))
        session.flush()
        return True
    changed = row.definition != definition
    row.definition = definition
    return changed


def upsert_plan(session: Session, *, key: str, definition: str) -> bool:
    """Create or update a plan; returns whether anything changed."""
    row = session.get(PlanRow, key)
    if row is None:
        session.add(
            PlanRow(key=key, definition=definition, position=_next_position(session, PlanRow))
        )
        session.flush()
        return True
    changed = row.definition != definition
    row.definition = definition
    return changed


def get_customer(session: Session, customer_id: str) -> CustomerRow | None:
    return session.get(CustomerRow, customer_id)


def customer_ids(session: Session) -> list[str]:
    """Every customer's id, in order."""
    return list(session.scalars(select(CustomerRow.id).order_by(CustomerRow.id)))


def customers_by_id(session: Session, customer_ids: Iterable[str]) -> dict[str, CustomerRow]:
    """These customers' rows (those that exist), by id."""
    result: dict[str, CustomerRow] = {}
    for chunk in _chunks(sorted(set(customer_ids)), 5000):
        query = select(CustomerRow).where(CustomerRow.id.in_(chunk))
        result.update({row.id: row for row in session.scalars(query)})
    return result


def customer_rows(
    session: Session,
    *,
    after: str | None = None,
    limit: int | None = None,
    include_archived: bool = True,
) -> list[CustomerRow]:
    query = select(CustomerRow).order_by(CustomerRow.id)
    if after is not None:
        query = query.where(CustomerRow.id > after)
    if not include_archived:
        query = query.where(CustomerRow.archived_at.is_(None))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def upsert_customer(
    session: Session,
    *,
    customer_id: str,
    name: str,
    currency: str,
    definition: str,
    aliases: Sequence[str],
    now: datetime,
) -> bool:
    """Create or update a customer and replace its aliases; returns whether anything changed."""
    row = session.get(CustomerRow, customer_id)
    if row is None:
        session.add(
            CustomerRow(
                id=customer_id,
                name=name,
                currency=currency,
                definition=definition,
                uuid=str(uuid.uuid4()),
                created_at=now,
                archived_at=None,
                ingest_lock=0,
            )
        )
        session.flush()
        changed = True
    else:
        changed = row.definition != definition
        row.name, row.currency, row.definition = name, currency, definition
    stored = set(
        session.scalars(select(CustomerAlias.alias).where(CustomerAlias.customer_id == customer_id))
    )
    if stored != set(aliases):
        session.execute(delete(CustomerAlias).where(CustomerAlias.customer_id == customer_id))
        session.flush()
        session.add_all(CustomerAlias(alias=a, customer_id=customer_id) for a in aliases)
        changed = True
    session.flush()
    return changed


def alias_owners(session: Session, names: Iterable[str]) -> dict[str, str]:
    """Which customer each of ``names`` belongs to, as an alias or as a customer id."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    owners: dict[str, str] = {}
    for chunk in _chunks(wanted, 500):
        query = select(CustomerAlias.alias, CustomerAlias.customer_id).where(
            CustomerAlias.alias.in_(chunk)
        )
        owners.update((alias, owner) for alias, owner in session.execute(query))
        owners.update(
            (cid, cid)
            for cid in session.scalars(select(CustomerRow.id).where(CustomerRow.id.in_(chunk)))
        )
    return owners


def resolve_customers(session: Session, given: Iterable[str]) -> dict[str, str]:
    """Map each given customer id, alias or Metronome id (``customers.uuid``) to the customer
    id it names (unknown: absent)."""
    wanted = set(given)
    owners = alias_owners(session, wanted)
    rest = sorted(wanted - owners.keys())
    for chunk in _chunks(rest, 500):
        query = select(CustomerRow.uuid, CustomerRow.id).where(CustomerRow.uuid.in_(chunk))
        owners.update((uuid_, cid) for uuid_, cid in session.execute(query))
    return owners


def lock_customers(session: Session, customer_ids: Iterable[str], *, shared: bool = False) -> None:
    """Take the write lock of each customer, in id order so that writers never deadlock.

    On PostgreSQL this is a row lock held to the end of the transaction; SQLite's write
    transactions are serialized as a whole (BEGIN IMMEDIATE), which gives the same guarantee.
    ``shared`` takes it in share mode (``FOR SHARE``): holders of the shared lock do not
    wait for each other, only for (and against) holders of the exclusive one.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return
    session.execute(
        select(CustomerRow.id)
        .where(or_(CustomerRow.id.in_(ids)))
        .order_by(CustomerRow.id)
        .with_for_update(read=shared)
    ).all()


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]
