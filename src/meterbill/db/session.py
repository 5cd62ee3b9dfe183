"""Engines, sessions and transactions for SQLite and PostgreSQL.

Only the adapters (CLI, HTTP) open transactions, with :func:`transaction`; services receive
a ``Session`` and never commit.

SQLite engines are tuned for several processes writing the same file: WAL journal, enforced
foreign keys, ``synchronous=NORMAL`` and a 30 s busy timeout. The ``sqlite3`` driver's own
transaction handling is switched off (``isolation_level = None``) and every transaction is
opened with ``BEGIN IMMEDIATE`` instead, following the SQLAlchemy recipe
(https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#sqlite-transactions). A transaction
therefore takes the write lock when it begins and waits (busy timeout) for other writers,
rather than starting as a reader and failing with "database is locked" when it later tries
to write. It also makes DDL and SAVEPOINTs transactional. Connections switched to
``isolation_level="AUTOCOMMIT"`` (e.g. for ``VACUUM``) emit no ``BEGIN``.

A *read* transaction (``transaction(factory, read_only=True)`` on a session factory made with
:func:`make_sessionmaker`, used by the HTTP ``GET`` routes) begins ``DEFERRED`` on SQLite
instead: it takes no write lock, so in WAL mode readers neither wait for a writer nor block
one. (Should a read transaction write after all — the first use of the link secret — SQLite
takes the lock at that write.) PostgreSQL needs no distinction.

Operational failures of the database (a read-only or full file, disk I/O errors, a server
that is gone or refuses connections, a lock or pool wait that timed out) leave
:func:`transaction` as :class:`meterbill.core.errors.StorageUnavailable`, so the adapters can
answer "try again later" without importing SQLAlchemy.
"""

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from meterbill.core.errors import InvalidRequest, StorageUnavailable

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_POOL_SIZE",
    "POOL_TIMEOUT",
    "READ_ONLY_OPTION",
    "create_engine_for",
    "database_url",
    "insert_rows",
    "make_sessionmaker",
    "savepoint",
    "storage_failure",
    "transaction",
    "upsert_insert",
]

log = logging.getLogger("meterbill.db")

DATABASE_URL_ENV = "METERBILL_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///meterbill.db"
DEFAULT_POOL_SIZE = 10
"""Connections kept open per engine; as many again may be opened beyond it (overflow)."""
POOL_TIMEOUT = 10.0
"""Seconds to wait for a pooled connection before giving up with ``StorageUnavailable``."""
READ_ONLY_OPTION = "meterbill_read_only"
"""Execution option of a read transaction's connection (SQLite: ``BEGIN DEFERRED``)."""

_SQLITE_PRAGMAS = (
    # The busy timeout first: switching to WAL may have to wait for another connection.
    "PRAGMA busy_timeout = 30000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
)


def database_url(url: str | None) -> str:
    """The SQLAlchemy URL to use, from an explicit value, the environment or the default.

    ``None`` (or an empty string) falls back to ``$METERBILL_DATABASE_URL`` and then to
    ``sqlite:///meterbill.db``. A bare file path (``foo.db``, ``/var/lib/meterbill.db``) becomes
    a SQLite URL, and ``postgresql://`` / ``postgres://`` select the psycopg 3 driver.
    """
    if not url:
        url = os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL
    if "://" not in url:
        return f"sqlite:///{url}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def create_engine_for(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """An engine for ``url`` (normalised by :func:`database_url`), configured for meterbill.

    Supported: SQLite through the standard ``sqlite3`` driver and PostgreSQL (psycopg 3).
    The pool keeps ``pool_size`` connections and opens up to as many again on demand; a
    caller waits at most :data:`POOL_TIMEOUT` seconds for one. (``meterbill serve`` admits
    only ``pool_size`` requests to the database at once, so requests never wait here; the
    overflow serves the background closer and the readiness probe.)
    """
    if pool_size < 1:
        raise ValueError("pool_size must be at least 1")
    sa_url = make_url(database_url(url))
    backend = sa_url.get_backend_name()
    if backend == "sqlite":
        if sa_url.get_driver_name() != "pysqlite":
            raise ValueError(f"unsupported SQLite driver {sa_url.get_driver_name()!r}")
        if sa_url.database in (None, "", ":memory:") or "mode=memory" in str(sa_url):
            engine = create_engine(sa_url)  # one in-memory database: SQLAlchemy's own pool
        else:
            engine = create_engine(
                sa_url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=POOL_TIMEOUT
            )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "checkout", _sqlite_on_checkout)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if backend == "postgresql":
        return create_engine(
            sa_url,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=POOL_TIMEOUT,
        )
    raise ValueError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _: ConnectionPoolEntry) -> None:
    # Take transaction control away from the driver; _sqlite_on_begin emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            run_while_locked(partial(cursor.execute, pragma))
    finally:
        cursor.close()


def run_while_locked(
    statement: Callable[[], object],
    *,
    patience: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``statement``, again while SQLite answers "database is locked", for up to
    ``patience`` seconds (the busy timeout's length).

    Switching a new database to WAL while other processes open it too can be refused at
    once, without SQLite's busy handler waiting (several ``meterbill`` processes starting
    together on one fresh file); any other error, or a lock that outlasts the patience,
    is raised.
    """
    deadline = clock() + patience
    pause = 0.01
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or clock() + pause > deadline:
                raise
        sleep(pause)
        pause = min(pause * 2, 0.25)


def _sqlite_on_checkout(
    dbapi_connection: sqlite3.Connection, _: ConnectionPoolEntry, __: PoolProxiedConnection
) -> None:
    # Leaving AUTOCOMMIT makes SQLAlchemy hand transactions back to the driver
    # (isolation_level = ""); take them back before the connection is used again.
    if dbapi_connection.isolation_level is not None:
        dbapi_connection.isolation_level = None


def _sqlite_on_begin(connection: Connection) -> None:
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return
    # A read transaction takes no lock until it reads (and never the write lock unless it
    # writes); every other transaction takes the write lock at once.
    connection.exec_driver_sql(
        "BEGIN DEFERRED" if options.get(READ_ONLY_OPTION) else "BEGIN IMMEDIATE"
    )


def make_sessionmaker(
    engine: Engine, *, read_only: bool = False, info: dict[str, object] | None = None
) -> sessionmaker[Session]:
    """A session factory bound to ``engine``; objects stay readable after commit.

    ``read_only``: its transactions are read transactions (SQLite: ``BEGIN DEFERRED``).
    ``info``: put in every session's ``Session.info`` (e.g. the database's read cache).
    """
    bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False, info=info or {})


def upsert_insert(
    session: Session,
) -> Callable[[Any], postgresql.Insert] | Callable[[Any], sqlite.Insert]:
    """The ``insert`` of the session's dialect, the one with ``on_conflict_do_nothing`` and
    ``on_conflict_do_update`` (PostgreSQL and SQLite share their shape)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert ``rows`` (column values; every row names the same columns) into ``table``:
    one ``COPY`` on PostgreSQL, one ``executemany`` elsewhere. COPY takes the values as
    the columns' types bind them (``UtcMicros``, ``DecimalText``…), so what is stored is
    what an ``INSERT`` would store; it spares psycopg's per-row pipeline, about 13 µs a row.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), [dict(row) for row in rows])
        return
    dialect = session.get_bind().dialect
    names = list(rows[0])
    binders = [table.c[name].type.bind_processor(dialect) for name in names]
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    driver = session.connection().connection.driver_connection
    assert driver is not None
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({quoted}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    row[name] if bind is None else bind(row[name])
                    for name, bind in zip(names, binders, strict=True)
                ]
            )


# Operational failures: the database cannot do the work now, whatever the request was.
_UNAVAILABLE: tuple[type[Exception], ...] = (sa_exc.OperationalError, sa_exc.TimeoutError)


# PostgreSQL SQLSTATEs of an operational failure that psycopg does not class as
# OperationalError: a read-only transaction (a standby after failover, or
# default_transaction_read_only), insufficient resources, operator intervention, system
# and connection errors.
_OPERATIONAL_SQLSTATES = ("25006", "53", "57", "58", "08")


def _operational_sqlstate(original: BaseException | None) -> bool:
    state = getattr(original, "sqlstate", None)
    return isinstance(state, str) and state.startswith(_OPERATIONAL_SQLSTATES)


def storage_failure(error: BaseException) -> StorageUnavailable | None:
    """The ``StorageUnavailable`` that stands for ``error``, or None if it is no
    operational failure of the database (a bug, a constraint violation…)."""
    if isinstance(error, sa_exc.TimeoutError):
        return StorageUnavailable("every database connection is busy; try again shortly")
    if isinstance(error, sa_exc.OperationalError) or (
        isinstance(error, sa_exc.DBAPIError)
        and (error.connection_invalidated or _operational_sqlstate(error.orig))
    ):
        original = error.orig if isinstance(error, sa_exc.DBAPIError) else error
        reason = " ".join(str(original).split())[:200] or type(original).__name__
        return StorageUnavailable(f"the database is unavailable: {reason}")
    return None


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any exception.

    An operational failure of the database leaves as :class:`StorageUnavailable`.
    """
    session = factory()
    try:
        try:
            yield session
            session.commit()
        except BaseException as error:
            try:
                session.rollback()
            except Exception:
                if storage_failure(error) is None:
                    raise
                # The connection is gone as well; the failure below says why.
                log.debug("rollback after a storage failure failed too", exc_info=True)
            raise
        finally:
            session.close()
    except (sa_exc.OperationalError, sa_exc.TimeoutError, sa_exc.DBAPIError) as error:
        unavailable = storage_failure(error)
        if unavailable is not None:
            raise unavailable from error
        if _nul_refused(error):
            raise InvalidRequest("a text value contains a NUL character") from error
        raise


def _nul_refused(error: BaseException) -> bool:
    """Whether the driver refused a NUL inside a text value (psycopg, before sending it).

    Values that are stored are refused at the door when they hold a NUL; this catches the
    ones that are only looked up (an id in a path or a body), on every route at once.
    """
    return isinstance(error, sa_exc.DataError) and "NUL" in str(error.orig)


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A savepoint inside the session's transaction: the block's writes are undone on an
    exception (which propagates), and the rest of the transaction goes on.

    ``meterbill close`` closes each customer in one, so a customer whose invoice cannot be
    computed gives back everything it wrote, invoice numbers included, and the others
    are still closed.
    """
    with session.begin_nested():
        yield
