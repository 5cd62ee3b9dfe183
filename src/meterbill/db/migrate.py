"""Schema migrations, run programmatically from the Alembic chain shipped in the package.

:func:`upgrade` brings a database to the newest revision. It is idempotent and safe to call
from several processes at once: the whole upgrade runs in one transaction that first takes
the migration lock (a transaction-scoped advisory lock on PostgreSQL; on SQLite the
``BEGIN IMMEDIATE`` write lock that every meterbill SQLite transaction takes), so a second
caller waits, then finds the schema at head and does nothing. Within one process, calls are
also serialised by a thread lock because Alembic's ``context``/``op`` proxies are global.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from meterbill.db.session import create_engine_for

__all__ = [
    "MIGRATIONS_DIR",
    "MIGRATION_LOCK_ID",
    "acquire_migration_lock",
    "alembic_config",
    "current_revision",
    "head_revision",
    "migration_transaction",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Key of the PostgreSQL advisory lock held while migrating: "meterbil" read as a big-endian
# 64-bit integer.
MIGRATION_LOCK_ID = int.from_bytes(b"meterbil", "big")

_FILE_TEMPLATE = "%(year)d_%(month).2d_%(day).2d_%(rev)s_%(slug)s"

# Alembic installs the migration context in module-level proxies (alembic.context, alembic.op),
# so two threads of one process must not run migrations at the same time.
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the packaged migrations, built without any ini file.

    With ``connection``, ``env.py`` migrates through it instead of opening its own engine.
    New revisions follow the ``YYYY_MM_DD_<rev>_<slug>.py`` file naming.
    """
    config = Config()
    # Config options go through configparser interpolation: escape any '%'.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", _FILE_TEMPLATE.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision of the packaged chain."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def acquire_migration_lock(connection: Connection) -> None:
    """Take the migration lock in ``connection``'s current transaction (until it ends).

    PostgreSQL: ``pg_advisory_xact_lock``. SQLite: nothing more to do, the transaction
    already holds the database write lock (``BEGIN IMMEDIATE``).
    """
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_ID)))


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the migration lock; committed on success."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Each statement must see what a concurrent migrator committed while we waited.
            connection.execution_options(isolation_level="READ COMMITTED")
        with connection.begin():
            acquire_migration_lock(connection)
            yield connection


def upgrade(engine_or_url: Engine | str) -> None:
    """Upgrade the database to the head revision (a no-op when it is already there)."""
    if isinstance(engine_or_url, str):
        engine = create_engine_for(engine_or_url)
        try:
            _upgrade(engine)
        finally:
            engine.dispose()
    else:
        _upgrade(engine_or_url)


def _upgrade(engine: Engine) -> None:
    with _ALEMBIC_LOCK, migration_transaction(engine) as connection:
        command.upgrade(alembic_config(connection), "head")


def current_revision(engine_or_url: Engine | str) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated."""
    if isinstance(engine_or_url, str):
        engine = create_engine_for(engine_or_url)
        try:
            return _current_revision(engine)
        finally:
            engine.dispose()
    return _current_revision(engine_or_url)


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
