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
"""

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "create_engine_for",
    "database_url",
    "make_sessionmaker",
    "savepoint",
    "transaction",
]

DATABASE_URL_ENV = "METERBILL_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///meterbill.db"

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


def create_engine_for(url: str) -> Engine:
    """An engine for ``url`` (normalised by :func:`database_url`), configured for meterbill.

    Supported: SQLite through the standard ``sqlite3`` driver and PostgreSQL (psycopg 3).
    """
    sa_url = make_url(database_url(url))
    backend = sa_url.get_backend_name()
    if backend == "sqlite":
        if sa_url.get_driver_name() != "pysqlite":
            raise ValueError(f"unsupported SQLite driver {sa_url.get_driver_name()!r}")
        engine = create_engine(sa_url)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "checkout", _sqlite_on_checkout)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if backend == "postgresql":
        return create_engine(sa_url, pool_pre_ping=True)
    raise ValueError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _: ConnectionPoolEntry) -> None:
    # Take transaction control away from the driver; _sqlite_on_begin emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_on_checkout(
    dbapi_connection: sqlite3.Connection, _: ConnectionPoolEntry, __: PoolProxiedConnection
) -> None:
    # Leaving AUTOCOMMIT makes SQLAlchemy hand transactions back to the driver
    # (isolation_level = ""); take them back before the connection is used again.
    if dbapi_connection.isolation_level is not None:
        dbapi_connection.isolation_level = None


def _sqlite_on_begin(connection: Connection) -> None:
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


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
