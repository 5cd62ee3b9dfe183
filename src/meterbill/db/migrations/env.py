"""Alembic environment of meterbill: one migration chain for SQLite and PostgreSQL.

Normally run through :func:`meterbill.db.migrate.upgrade`, which passes an open connection
(inside a transaction that already holds the migration lock) in
``config.attributes["connection"]``. Without one, the URL comes from the ``sqlalchemy.url``
option, else ``$METERBILL_DATABASE_URL``, else the default SQLite file; an engine is made,
the migration lock taken and the whole upgrade run in one transaction.

Offline (``--sql``) mode is not supported. ``render_as_batch`` is on so that ``ALTER``
operations work on SQLite, which can only alter a table by copying it.
"""

from alembic import context
from sqlalchemy.engine import Connection

from meterbill.db import models as _models  # noqa: F401  (registers every table)
from meterbill.db.base import Base
from meterbill.db.migrate import migration_transaction
from meterbill.db.session import create_engine_for, database_url

__all__: list[str] = []


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    # Inside the caller's transaction this is a no-op: the upgrade commits or fails whole.
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    passed = context.config.attributes.get("connection")
    if passed is not None:
        if not isinstance(passed, Connection):
            raise TypeError("config.attributes['connection'] must be a SQLAlchemy Connection")
        _run_migrations(passed)
        return
    engine = create_engine_for(database_url(context.config.get_main_option("sqlalchemy.url")))
    try:
        with migration_transaction(engine) as connection:
            _run_migrations(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("meterbill migrations run online only (offline --sql mode is unsupported)")
_run_online()
