"""Raw events and pre-aggregated usage buckets: the queries, and rows ↔ core values.

Buckets hold a meter's :class:`~meterbill.core.aggregation.Partial` per customer, group and
UTC hour or day. They are written in the same transaction as the events they summarise, so
invoices and breakdowns read a few thousand bucket rows instead of scanning raw events.
"""

import functools
import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    Column,
    ColumnElement,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from meterbill.core.aggregation import GroupKey, Partial
from meterbill.core.events import Event
from meterbill.core.limits import group_text
from meterbill.core.periods import EPOCH, Span, WindowSize, epoch_seconds
from meterbill.db.base import datetime_to_micros
from meterbill.db.models import (
    EventRow,
    UsageBucket,
    UsageBucketValue,
    UsagePending,
    UsageRevision,
)
from meterbill.db.readcache import read_cache
from meterbill.db.session import upsert_insert

__all__ = [
    "ALL_CUSTOMERS",
    "BucketKey",
    "add_buckets",
    "any_pending",
    "customers_pending",
    "decode_group",
    "delete_buckets",
    "encode_group",
    "fetch_events",
    "insert_events",
    "iter_customer_events",
    "latest_before",
    "load_buckets",
    "load_customers_buckets",
    "pending_count",
    "pending_events",
    "raise_revisions",
    "read_cache",
    "restore_pending",
    "still_pending",
    "take_pending",
    "usage_stamp",
    "write_buckets",
    "write_many_buckets",
]

T = TypeVar("T")

# The ``usage_revisions`` row raised when a meter's buckets change for every customer (no
# customer id is empty).
ALL_CUSTOMERS = ""

# (group, size, window start) of one bucket of one meter and customer.
BucketKey = tuple[GroupKey, WindowSize, datetime]


@functools.lru_cache(maxsize=65536)
def encode_group(group: GroupKey) -> str:
    # One definition with the size limit it is checked against (core.limits.group_fits);
    # cached because every batch writes the same few groups again and again.
    return group_text(group)


@functools.lru_cache(maxsize=65536)
def decode_group(text: str) -> GroupKey:
    return tuple(json.loads(text))


def _loads_properties(text: str) -> dict[str, object]:
    # Stored by services with every Decimal as a string, so orjson meets no fraction here;
    # integers wider than 64 bits make it give up, and the standard library reads them.
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = json.loads(text, parse_float=Decimal)
    return value if isinstance(value, dict) else {}


def insert_events(
    session: Session, rows: Sequence[Mapping[str, object]], *, pending: Iterable[str] = ()
) -> set[tuple[str, str]]:
    """Insert events, skipping any whose (customer, transaction_id) is already stored.

    Returns the keys actually inserted. The unique constraint decides, so concurrent
    writers in several processes can never store an event twice. Each inserted event whose
    type is in ``pending`` is listed in ``usage_pending`` in the same transaction (its
    order-free meters' buckets do not hold it yet).
    """
    if not rows:
        return set()
    wanted = set(pending)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _insert_events_postgresql(session, rows, sorted(wanted))
    table = EventRow.__table__
    statement = (
        sqlite.insert(table)
        .on_conflict_do_nothing(index_elements=["customer_id", "transaction_id"])
        .returning(table.c.id, table.c.customer_id, table.c.transaction_id, table.c.event_type)
    )
    inserted: set[tuple[str, str]] = set()
    waiting: list[dict[str, object]] = []
    for event_id, customer_id, transaction_id, event_type in session.execute(statement, list(rows)):
        inserted.add((customer_id, transaction_id))
        if event_type in wanted:
            waiting.append({"event_id": event_id, "customer_id": customer_id})
    if waiting:
        session.execute(insert(UsagePending.__table__), waiting)
    return inserted


_STAGE_COLUMNS = "customer_id, transaction_id, event_type, stamp, arrived, properties"
_CREATE_STAGE_PG = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS meterbill_stage_events (customer_id text, "
    "transaction_id text, event_type text, stamp bigint, arrived bigint, properties text) "
    "ON COMMIT DELETE ROWS"
)
_COPY_STAGE_PG = f"COPY meterbill_stage_events ({_STAGE_COLUMNS}) FROM STDIN"
_INSERT_STAGED_PG = (
    'WITH new AS (INSERT INTO events (customer_id, transaction_id, event_type, "timestamp", '
    f"arrived_at, properties) SELECT {_STAGE_COLUMNS} FROM meterbill_stage_events "
    "ON CONFLICT (customer_id, transaction_id) DO NOTHING "
    "RETURNING id, customer_id, transaction_id, event_type), "
    "waiting AS (INSERT INTO usage_pending (event_id, customer_id) "
    "SELECT id, customer_id FROM new WHERE event_type = ANY(%s::text[])) "
    "SELECT customer_id, transaction_id FROM new"
)


def _insert_events_postgresql(
    session: Session, rows: Sequence[Mapping[str, object]], pending: list[str]
) -> set[tuple[str, str]]:
    """COPY the batch into a temporary staging table (one per connection, emptied at
    commit), then one ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`` that also lists
    the new events in ``usage_pending``: the unique key decides what is new, and COPY spares
    psycopg adapting a dozen thousand-element arrays. Rows are inserted in the order given
    (the caller sorts them by key, so concurrent writers of the same keys wait for each
    other instead of deadlocking)."""

    def micros(value: object) -> int:
        assert isinstance(value, datetime)
        return datetime_to_micros(value)

    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(_CREATE_STAGE_PG)
        with cursor.copy(_COPY_STAGE_PG) as copy:
            for row in rows:
                copy.write_row(
                    (
                        row["customer_id"],
                        row["transaction_id"],
                        row["event_type"],
                        micros(row["timestamp"]),
                        micros(row["arrived_at"]),
                        row["properties"],
                    )
                )
        cursor.execute(_INSERT_STAGED_PG, (pending,))
        inserted = {(row[0], row[1]) for row in cursor.fetchall()}
        # A transaction may stage several batches; commit empties the table anyway.
        cursor.execute("DELETE FROM meterbill_stage_events")
    return inserted


def pending_events(
    session: Session, *, customer_id: str, event_types: Iterable[str], span: Span
) -> list[tuple[int, Event]]:
    """The customer's events of these types in ``span`` that wait in ``usage_pending``,
    with their ids."""
    query = (
        select(_EVENTS.c.id, *_EVENT_COLUMNS)
        .join(UsagePending, UsagePending.event_id == _EVENTS.c.id)
        .where(
            UsagePending.customer_id == customer_id,
            _EVENTS.c.event_type.in_(sorted(set(event_types))),
            _EVENTS.c.timestamp >= span.start,
            _EVENTS.c.timestamp < span.end,
        )
    )
    return [(row[0], _event(row[1:])) for row in session.execute(query)]


def customers_pending(
    session: Session, customer_ids: Sequence[str], span: Span
) -> dict[str, list[tuple[int, Event]]]:
    """These customers' events in ``span`` that wait in ``usage_pending``, with their ids,
    per customer that has any."""
    dialect = session.get_bind().dialect.name
    result: dict[str, list[tuple[int, Event]]] = {}
    pending = UsagePending.__table__
    for chunk in _chunks(sorted(set(customer_ids)), 10000):
        query = (
            select(_EVENTS.c.id, *_EVENT_COLUMNS)
            .join(pending, pending.c.event_id == _EVENTS.c.id)
            .where(
                *_among(pending.c.customer_id, chunk, dialect),
                _EVENTS.c.timestamp >= span.start,
                _EVENTS.c.timestamp < span.end,
            )
        )
        for row in session.execute(query):
            event = _event(row[1:])
            result.setdefault(event.customer_id, []).append((row[0], event))
    return result


def still_pending(session: Session, event_ids: Sequence[int]) -> int:
    """How many of ``event_ids`` still wait in ``usage_pending``."""
    dialect = session.get_bind().dialect.name
    found = 0
    for chunk in _chunks(sorted(set(event_ids)), 10000):
        query = select(func.count()).where(
            _one_of(UsagePending.__table__.c.event_id, chunk, dialect)
        )
        found += session.execute(query).scalar_one()
    return found


def take_pending(
    session: Session, *, limit: int, skip: Collection[str] = ()
) -> list[tuple[int, Event]]:
    """Remove up to ``limit`` events from ``usage_pending`` (oldest first, none of the
    customers in ``skip``) and return them with their ids.

    On PostgreSQL rows another transaction is taking are skipped (``SKIP LOCKED``), so
    several folders take disjoint batches; the removal commits or rolls back with the
    caller's bucket writes.
    """
    table = UsagePending.__table__
    dialect = session.get_bind().dialect.name
    oldest = select(table.c.event_id).order_by(table.c.event_id).limit(limit)
    if skip:
        oldest = oldest.where(table.c.customer_id.not_in(sorted(skip)))
    if dialect == "postgresql":
        # Two statements: the ids first (locked, skipping those another folder holds),
        # then their delete. As one ``DELETE … WHERE event_id IN (SELECT … LIMIT … FOR
        # UPDATE SKIP LOCKED)``, a queue whose statistics say it is empty (just vacuumed
        # or analyzed before a burst) is planned as a nested loop that runs the locking
        # subquery again for every row: minutes for a million pending events.
        ids = list(session.scalars(oldest.with_for_update(skip_locked=True)))
        if not ids:
            return []
        removing = delete(table).where(_one_of(table.c.event_id, ids, dialect))
    else:
        removing = delete(table).where(table.c.event_id.in_(oldest.scalar_subquery()))
    rows = session.execute(removing.returning(table.c.event_id, table.c.customer_id)).all()
    if not rows:
        return []
    taken = [event_id for event_id, _ in rows]
    raise_revisions(session, {customer_id for _, customer_id in rows})
    events: list[tuple[int, Event]] = []
    for chunk in _chunks(sorted(taken), 10000):
        query = select(_EVENTS.c.id, *_EVENT_COLUMNS).where(_one_of(_EVENTS.c.id, chunk, dialect))
        events.extend((row[0], _event(row[1:])) for row in session.execute(query))
    return events


def restore_pending(session: Session, events: Sequence[tuple[int, Event]]) -> None:
    """List taken events in ``usage_pending`` again (a fold that could not write them)."""
    if events:
        session.execute(
            insert(UsagePending.__table__),
            [
                {"event_id": event_id, "customer_id": event.customer_id}
                for event_id, event in events
            ],
        )


def raise_revisions(session: Session, customer_ids: Iterable[str]) -> None:
    """Raise the usage revision of each customer (``ALL_CUSTOMERS``: everyone's), in id
    order so that concurrent writers wait for each other instead of deadlocking.

    Every change to stored usage other than a new pending event calls this in the same
    transaction (bucket writes, events taken out of ``usage_pending``), so a reader can tell
    from :func:`usage_stamp` whether anything changed since it last computed.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return
    table = UsageRevision.__table__
    statement = upsert_insert(session)(table).on_conflict_do_update(
        index_elements=[table.c.customer_id], set_={"revision": table.c.revision + 1}
    )
    session.execute(statement, [{"customer_id": id_, "revision": 1} for id_ in ids])


def usage_stamp(session: Session, customer_id: str) -> tuple[int, int, int]:
    """What the customer's usage reads are computed from, named in one statement:
    (everyone's revision, the customer's revision, how many of its events are pending).

    Between two raises of the revisions the customer's pending events only grow in number
    (only the fold takes them out, and it raises the revision), so an equal stamp means the
    same events, buckets and pending list, whatever committed in between.
    """
    table = UsageRevision.__table__
    everyone = select(table.c.revision).where(table.c.customer_id == ALL_CUSTOMERS)
    mine = select(table.c.revision).where(table.c.customer_id == customer_id)
    waiting = (
        select(func.count())
        .select_from(UsagePending)
        .where(UsagePending.customer_id == customer_id)
    )
    row = session.execute(
        select(everyone.scalar_subquery(), mine.scalar_subquery(), waiting.scalar_subquery())
    ).one()
    return (row[0] or 0, row[1] or 0, row[2] or 0)


def any_pending(session: Session) -> bool:
    """Whether any event waits to be folded (one index probe)."""
    return session.execute(select(select(UsagePending.event_id).exists())).scalar_one()


def pending_count(session: Session) -> int:
    """Events waiting to be folded into buckets."""
    return session.execute(select(func.count()).select_from(UsagePending)).scalar_one()


_EVENTS = EventRow.__table__
# Events are read as plain rows (no ORM objects: the fold and every read of pending events
# go through here), in the order ``_event`` takes them.
_EVENT_COLUMNS = (
    _EVENTS.c.transaction_id,
    _EVENTS.c.customer_id,
    _EVENTS.c.event_type,
    _EVENTS.c.timestamp,
    _EVENTS.c.properties,
)


def _event(row: Sequence[Any]) -> Event:
    """An event from a row of ``_EVENT_COLUMNS``."""
    return Event(row[0], row[1], row[2], row[3], _loads_properties(row[4]))


def fetch_events(
    session: Session, *, customer_id: str, event_types: Iterable[str], span: Span
) -> list[Event]:
    """The customer's raw events of these types with ``timestamp`` in ``span``."""
    query = select(*_EVENT_COLUMNS).where(
        _EVENTS.c.customer_id == customer_id,
        _EVENTS.c.event_type.in_(sorted(set(event_types))),
        _EVENTS.c.timestamp >= span.start,
        _EVENTS.c.timestamp < span.end,
    )
    return [_event(row) for row in session.execute(query)]


def iter_customer_events(
    session: Session,
    *,
    customer_id: str,
    event_types: Iterable[str],
    batch: int = 5000,
    folded_only: bool = False,
) -> Iterable[list[Event]]:
    """All the customer's events of these types, in id order, a batch at a time;
    ``folded_only``: leave out the events waiting in ``usage_pending``."""
    last_id = 0
    types = sorted(set(event_types))
    while True:
        query = select(_EVENTS.c.id, *_EVENT_COLUMNS).where(
            _EVENTS.c.customer_id == customer_id,
            _EVENTS.c.event_type.in_(types),
            _EVENTS.c.id > last_id,
        )
        if folded_only:
            waiting = select(UsagePending.event_id).where(UsagePending.event_id == _EVENTS.c.id)
            query = query.where(~waiting.exists())
        rows = session.execute(query.order_by(_EVENTS.c.id).limit(batch)).all()
        if not rows:
            return
        last_id = rows[-1][0]
        yield [_event(row[1:]) for row in rows]


def _start(moment: datetime) -> int:
    return epoch_seconds(moment)


def _moment(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def _partial(row: RowMapping) -> Partial:
    latest = None
    if row["latest_ts"] is not None and row["latest_value"] is not None:
        latest = (row["latest_ts"], row["latest_txid"] or "", row["latest_value"])
    first = None
    if row["first_ts"] is not None and row["first_value"] is not None:
        first = (row["first_ts"], row["first_value"])
    last = None
    if row["last_ts"] is not None and row["last_value"] is not None:
        last = (row["last_ts"], row["last_value"])
    return Partial(
        count=row["count"],
        skipped=row["skipped"],
        total=row["total"],
        maximum=row["maximum"],
        latest=latest,
        first=first,
        last=last,
        weighted=row["weighted"] or Decimal(0),
    )


def _columns(partial: Partial) -> dict[str, object]:
    latest_ts, latest_txid, latest_value = partial.latest or (None, None, None)
    first_ts, first_value = partial.first or (None, None)
    last_ts, last_value = partial.last or (None, None)
    return {
        "count": partial.count,
        "skipped": partial.skipped,
        "total": partial.total,
        "maximum": partial.maximum,
        "latest_ts": latest_ts,
        "latest_txid": latest_txid,
        "latest_value": latest_value,
        "first_ts": first_ts,
        "first_value": first_value,
        "last_ts": last_ts,
        "last_value": last_value,
        "weighted": partial.weighted if partial.first is not None else None,
    }


def load_buckets(
    session: Session,
    *,
    meter_id: int,
    customer_id: str,
    size: WindowSize,
    span: Span,
    with_values: bool = False,
) -> dict[GroupKey, list[tuple[datetime, Partial]]]:
    """Bucket partials of ``size`` starting in ``span``, per group, in time order."""
    found = load_customers_buckets(
        session,
        meter_id=meter_id,
        customer_ids=[customer_id],
        size=size,
        span=span,
        with_values=with_values,
    )
    return found.get(customer_id, {})


def load_customers_buckets(
    session: Session,
    *,
    meter_id: int,
    customer_ids: Sequence[str],
    size: WindowSize,
    span: Span,
    with_values: bool = False,
) -> dict[str, dict[GroupKey, list[tuple[datetime, Partial]]]]:
    """:func:`load_buckets` for several customers at once: per customer that has any."""
    dialect = session.get_bind().dialect.name
    result: dict[str, dict[GroupKey, list[tuple[datetime, Partial]]]] = {}
    table = UsageBucket.__table__
    values_table = UsageBucketValue.__table__
    for chunk in _chunks(sorted(set(customer_ids)), 10000):
        where = and_(
            table.c.meter_id == meter_id,
            *_among(table.c.customer_id, chunk, dialect),
            table.c.width == size.seconds,
            table.c.start >= _start(span.start),
            table.c.start < _start(span.end),
        )
        by_key: dict[tuple[str, str, int], Partial] = {}
        query = select(table).where(where).order_by(table.c.start)
        for row in session.execute(query).mappings():
            partial = _partial(row)
            customer = row["customer_id"]
            by_key[(customer, row["group_key"], row["start"])] = partial
            groups = result.setdefault(customer, {})
            groups.setdefault(decode_group(row["group_key"]), []).append(
                (_moment(row["start"]), partial)
            )
        if not with_values:
            continue
        values = select(
            values_table.c.customer_id,
            values_table.c.group_key,
            values_table.c.start,
            values_table.c.value,
        ).where(
            values_table.c.meter_id == meter_id,
            *_among(values_table.c.customer_id, chunk, dialect),
            values_table.c.width == size.seconds,
            values_table.c.start >= _start(span.start),
            values_table.c.start < _start(span.end),
        )
        for customer, group_text_, start, value in session.execute(values):
            bucket = by_key.get((customer, group_text_, start))
            if bucket is not None:
                bucket.values.add(value)
    return result


def latest_before(
    session: Session, *, meter_id: int, customer_id: str, moment: datetime
) -> dict[GroupKey, Decimal]:
    """Per group, the last value of the latest hour bucket that ends by ``moment``.

    This is the time-weighted value carried into a span starting at ``moment`` when
    ``moment`` is hour-aligned; the caller adds any raw events of a sub-hour edge.
    """
    hour = WindowSize.HOUR.seconds
    conditions = (
        UsageBucket.meter_id == meter_id,
        UsageBucket.customer_id == customer_id,
        UsageBucket.width == hour,
        UsageBucket.start <= _start(moment) - hour,
        UsageBucket.last_ts.is_not(None),
    )
    newest = (
        select(UsageBucket.group_key, func.max(UsageBucket.start).label("start"))
        .where(*conditions)
        .group_by(UsageBucket.group_key)
        .subquery()
    )
    query = (
        select(UsageBucket.group_key, UsageBucket.last_value)
        .join(
            newest,
            and_(UsageBucket.group_key == newest.c.group_key, UsageBucket.start == newest.c.start),
        )
        .where(*conditions[:3])
    )
    return {
        decode_group(group): value for group, value in session.execute(query) if value is not None
    }


def write_buckets(
    session: Session,
    *,
    meter_id: int,
    customer_id: str,
    updates: Mapping[BucketKey, Partial],
    replace: bool,
    merge: Callable[[Partial, Partial], Partial],
) -> None:
    """:func:`write_many_buckets` for one customer."""
    write_many_buckets(
        session,
        meter_id=meter_id,
        updates={(customer_id, *key): partial for key, partial in updates.items()},
        replace=replace,
        merge=merge,
    )


def write_many_buckets(
    session: Session,
    *,
    meter_id: int,
    updates: Mapping[tuple[str, GroupKey, WindowSize, datetime], Partial],
    replace: bool,
    merge: Callable[[Partial, Partial], Partial],
) -> None:
    """Merge ``updates`` (keyed by customer, group, size, start) into the stored buckets, or
    overwrite them when ``replace``.

    The caller holds the customers' write locks, so reading and rewriting a bucket cannot
    race with another writer. However many customers a batch holds, this is one select per
    size (per 1,000 window starts), one executemany insert and one executemany update.
    """
    table = UsageBucket.__table__
    dialect = session.get_bind().dialect.name
    raise_revisions(session, {customer_id for customer_id, *_ in updates})
    by_size: dict[WindowSize, dict[tuple[str, str, int], Partial]] = defaultdict(dict)
    for (customer_id, group, size, start), partial in updates.items():
        by_size[size][(customer_id, encode_group(group), _start(start))] = partial
    for size, partials in by_size.items():
        # Each key column is filtered with a plain list (an index range on PostgreSQL and
        # SQLite alike; a tuple IN is a filter PostgreSQL applies row by row), and the few
        # extra combinations this also matches are dropped here.
        existing: dict[tuple[str, str, int], RowMapping] = {}
        customers = sorted({customer for customer, _, _ in partials})
        groups = sorted({group for _, group, _ in partials})
        for starts in _chunks(sorted({start for _, _, start in partials}), 1000):
            query = select(table).where(
                table.c.meter_id == meter_id,
                _one_of(table.c.customer_id, customers, dialect),
                table.c.width == size.seconds,
                _one_of(table.c.start, starts, dialect),
                _one_of(table.c.group_key, groups, dialect),
            )
            for found in session.execute(query).mappings():
                key = (found["customer_id"], found["group_key"], found["start"])
                if key in partials:
                    existing[key] = found
        inserts: list[dict[str, object]] = []
        changes: list[dict[str, object]] = []
        values: list[dict[str, object]] = []
        for key, partial in partials.items():
            identity = {
                "meter_id": meter_id,
                "customer_id": key[0],
                "width": size.seconds,
                "start": key[2],
                "group_key": key[1],
            }
            row = existing.get(key)
            if row is None:
                inserts.append({**identity, **_columns(partial)})
            else:
                merged = partial if replace else merge(_partial(row), partial)
                changes.append({**{f"k_{k}": v for k, v in identity.items()}, **_columns(merged)})
            values.extend({**identity, "value": value} for value in partial.values)
        if dialect == "postgresql":
            _bulk_postgresql(session, table, inserts, changes)
            _insert_values(session, values)
            continue
        if inserts:
            session.execute(insert(table), inserts)
        if changes:
            statement = (
                update(table)
                .where(
                    table.c.meter_id == bindparam("k_meter_id"),
                    table.c.customer_id == bindparam("k_customer_id"),
                    table.c.width == bindparam("k_width"),
                    table.c.start == bindparam("k_start"),
                    table.c.group_key == bindparam("k_group_key"),
                )
                .values({name: bindparam(name) for name in _columns(Partial())})
            )
            session.execute(statement, changes)
        _insert_values(session, values)


_KEYS = ("meter_id", "customer_id", "width", "start", "group_key")

_ADDED = ("count", "skipped", "total", "maximum", "latest_ts", "latest_txid", "latest_value")
_TAKE_LATEST = (
    "CASE WHEN b.latest_ts IS NULL OR b.latest_value IS NULL OR (excluded.latest_ts IS NOT "
    "NULL AND excluded.latest_value IS NOT NULL AND (excluded.latest_ts, "
    "COALESCE(excluded.latest_txid, '') COLLATE \"C\") >= (b.latest_ts, "
    "COALESCE(b.latest_txid, '') COLLATE \"C\")) THEN excluded.{0} ELSE b.{0} END"
)
_BUCKET_COLUMNS = "meter_id, customer_id, width, start, group_key, " + ", ".join(
    f'"{n}"' for n in _ADDED
)
_CREATE_BUCKET_STAGE_PG = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS meterbill_stage_buckets (meter_id integer, "
    "customer_id text, width integer, start bigint, group_key text, count bigint, "
    "skipped bigint, total text, maximum text, latest_ts bigint, latest_txid text, "
    "latest_value text) ON COMMIT DELETE ROWS"
)
_COPY_BUCKET_STAGE_PG = f"COPY meterbill_stage_buckets ({_BUCKET_COLUMNS}) FROM STDIN"
_ADD_BUCKETS_PG = (
    f"INSERT INTO usage_buckets AS b ({_BUCKET_COLUMNS}) "
    f"SELECT {_BUCKET_COLUMNS} FROM meterbill_stage_buckets "
    "ON CONFLICT (meter_id, customer_id, width, start, group_key) DO UPDATE SET "
    '"count" = b."count" + excluded."count", '
    "skipped = b.skipped + excluded.skipped, "
    "total = CAST(CAST(b.total AS numeric) + CAST(excluded.total AS numeric) AS text), "
    "maximum = CASE WHEN b.maximum IS NULL OR (excluded.maximum IS NOT NULL AND "
    "CAST(excluded.maximum AS numeric) > CAST(b.maximum AS numeric)) "
    "THEN excluded.maximum ELSE b.maximum END, "
    + ", ".join(f"{n} = {_TAKE_LATEST.format(n)}" for n in _ADDED[4:])
)


def add_buckets(
    session: Session,
    *,
    meter_id: int,
    updates: Mapping[tuple[str, GroupKey, WindowSize, datetime], Partial],
    merge: Callable[[Partial, Partial], Partial],
) -> None:
    """Merge partials of an order-free aggregation (count, sum, max, unique count, latest:
    no ``first``/``last``/``weighted``) into the stored buckets.

    On PostgreSQL the rows are COPYed into a temporary staging table (emptied at commit)
    and merged by one ``INSERT … SELECT … ON CONFLICT DO UPDATE`` that merges in SQL exactly
    as ``merge`` does (counts added, totals added as exact ``numeric``, the larger maximum,
    the later ``latest`` by (timestamp, transaction id) in code-point order), plus the unique
    values: no read, and no lock beyond the bucket rows themselves, taken in key order so that
    concurrent writers never deadlock. SQLite (whose writers are serialized) reads and merges
    with :func:`write_many_buckets`.
    """
    if session.get_bind().dialect.name != "postgresql":
        write_many_buckets(session, meter_id=meter_id, updates=updates, replace=False, merge=merge)
        return
    rows = sorted(
        (customer, size.seconds, _start(start), encode_group(group), partial)
        for (customer, group, size, start), partial in updates.items()
    )
    if not rows:
        return
    raise_revisions(session, {row[0] for row in rows})
    values: list[dict[str, object]] = []
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(_CREATE_BUCKET_STAGE_PG)
        with cursor.copy(_COPY_BUCKET_STAGE_PG) as copy:
            for customer, width, start, group, partial in rows:
                latest_ts, latest_txid, latest_value = partial.latest or (None, None, None)
                copy.write_row(
                    (
                        meter_id,
                        customer,
                        width,
                        start,
                        group,
                        partial.count,
                        partial.skipped,
                        _decimal_text(partial.total),
                        _decimal_text(partial.maximum),
                        None if latest_ts is None else datetime_to_micros(latest_ts),
                        latest_txid,
                        _decimal_text(latest_value),
                    )
                )
                if partial.values:
                    identity = {
                        "meter_id": meter_id,
                        "customer_id": customer,
                        "width": width,
                        "start": start,
                        "group_key": group,
                    }
                    values.extend({**identity, "value": value} for value in sorted(partial.values))
        cursor.execute(_ADD_BUCKETS_PG)
        # A transaction may stage several meters or batches; commit empties it anyway.
        cursor.execute("DELETE FROM meterbill_stage_buckets")
    _insert_values(session, values)


def _decimal_text(value: Decimal | None) -> str | None:
    # What DecimalText stores (finite values only: partials never hold anything else).
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError(f"cannot store the non-finite value {value}")
    return str(value)


def _pg_array_type(column: Column[Any]) -> str:
    # Every column type used by the bucket table, by its storage type.
    name = type(getattr(column.type, "impl", column.type)).__name__.upper()
    return {"INTEGER": "integer", "BIGINTEGER": "bigint", "BIGINT": "bigint"}.get(name, "text")


def _bulk_postgresql(
    session: Session,
    table: Table,
    inserts: list[dict[str, object]],
    changes: list[dict[str, object]],
) -> None:
    """Insert and update bucket rows with one ``unnest`` statement each (PostgreSQL).

    The statement text depends only on the table, so it is parsed and planned once; a
    thousand rows are a dozen array parameters instead of an executemany of a thousand.
    """
    dialect = session.get_bind().dialect
    columns = list(table.columns)
    names = [c.name for c in columns]
    arrays = ", ".join(
        f"CAST(:{n} AS {_pg_array_type(c)}[])" for n, c in zip(names, columns, strict=True)
    )
    quoted = ", ".join(f'"{n}"' for n in names)

    def params(rows: list[dict[str, object]], prefix: str) -> dict[str, list[object]]:
        result: dict[str, list[object]] = {}
        for column in columns:
            process = column.type.bind_processor(dialect)
            key = f"{prefix}{column.name}" if column.name in _KEYS else column.name
            values = [row[key] for row in rows]
            result[column.name] = [process(v) for v in values] if process else values
        return result

    if inserts:
        statement = f"INSERT INTO {table.name} ({quoted}) SELECT * FROM unnest({arrays})"
        session.execute(text(statement), params(inserts, ""))
    if changes:
        assignments = ", ".join(f'"{n}" = v."{n}"' for n in names if n not in _KEYS)
        matches = " AND ".join(f'{table.name}."{n}" = v."{n}"' for n in _KEYS)
        statement = (
            f"UPDATE {table.name} SET {assignments} "
            f"FROM unnest({arrays}) AS v({quoted}) WHERE {matches}"
        )
        session.execute(text(statement), params(changes, "k_"))


def _insert_values(session: Session, values: list[dict[str, object]]) -> None:
    if not values:
        return
    insert = upsert_insert(session)
    session.execute(insert(UsageBucketValue.__table__).on_conflict_do_nothing(), values)


def _one_of(
    column: ColumnElement[Any], values: Sequence[object], dialect: str
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``= ANY(array)``, one parameter whatever the
    count, so the statement text stays the same and psycopg's statement cache works."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def _among(
    column: ColumnElement[Any], ids: Sequence[str], dialect: str
) -> tuple[ColumnElement[bool], ...]:
    """``column`` is one of these ids. One id is a plain equality (a customer's own reads
    keep the plans made for it). Several, on PostgreSQL, are also said as a range whose
    bounds the database computes from the same array, so that an index on the column is
    scanned over the range alone whatever the planner knows of the array (on a freshly
    loaded table it otherwise filters every row of the index against it). The bounds must
    come from the database: its collation (en-US, say) need not order text as Python does."""
    if len(ids) == 1:
        return (column == ids[0],)
    if dialect != "postgresql":
        return (_one_of(column, ids, dialect),)
    listed = func.unnest(
        bindparam(None, list(ids), type_=postgresql.ARRAY(column.type))
    ).column_valued("listed")
    low = select(func.min(listed)).scalar_subquery()
    high = select(func.max(listed)).scalar_subquery()
    return (column >= low, column <= high, _one_of(column, ids, dialect))


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def delete_buckets(session: Session, *, meter_id: int) -> None:
    """Forget every bucket of a meter, before rebuilding them from the raw events."""
    raise_revisions(session, [ALL_CUSTOMERS])
    session.execute(delete(UsageBucketValue).where(UsageBucketValue.meter_id == meter_id))
    session.execute(delete(UsageBucket).where(UsageBucket.meter_id == meter_id))
