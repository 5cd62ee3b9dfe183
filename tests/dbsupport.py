"""PostgreSQL helpers shared by the test folders (tests/db, tests/api, tests/scenarios).

PostgreSQL tests run only when ``METERBILL_TEST_POSTGRES_URL`` names a server where the user
may create databases. A test session works in its own throw-away database
(:func:`fresh_postgres_database`), and each test starts from an empty ``public`` schema
(:func:`reset_postgres_schema`), so nothing is ever written to the database the URL names.
"""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from meterbill.db.session import database_url

__all__ = [
    "POSTGRES_SKIP_REASON",
    "POSTGRES_URL_ENV",
    "fresh_postgres_database",
    "postgres_url_from_env",
    "reset_postgres_schema",
]

POSTGRES_URL_ENV = "METERBILL_TEST_POSTGRES_URL"
_DATABASE_PREFIX = "meterbill_test_"
POSTGRES_SKIP_REASON = (
    "PostgreSQL tests skipped: "
    "set METERBILL_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test"
)


def postgres_url_from_env() -> str | None:
    """The PostgreSQL URL (psycopg driver) from ``$METERBILL_TEST_POSTGRES_URL``, if set."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        return None
    url = database_url(url)
    if make_url(url).get_backend_name() != "postgresql":
        raise ValueError(f"{POSTGRES_URL_ENV} must be a postgresql:// URL, got {url!r}")
    return url


def _autocommit_engine(url: str) -> Engine:
    return create_engine(database_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool)


@contextmanager
def fresh_postgres_database(url: str | None = None, *, options: str = "") -> Iterator[str]:
    """Create an empty database ``meterbill_test_<random>`` next to ``url`` and yield its URL.

    ``url`` defaults to :func:`postgres_url_from_env`; ``options`` are added to its
    ``CREATE DATABASE`` (a collation, say). The database is dropped on exit, even when
    connections to it are still open.
    """
    server_url = url or postgres_url_from_env()
    if server_url is None:
        raise RuntimeError(POSTGRES_SKIP_REASON)
    name = f"{_DATABASE_PREFIX}{secrets.token_hex(6)}"
    admin = _autocommit_engine(server_url)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}" {options}'.strip())
        try:
            yield (
                make_url(database_url(server_url))
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def reset_postgres_schema(url: str) -> None:
    """Drop everything in the ``public`` schema of the database at ``url``.

    Refuses any database not made by :func:`fresh_postgres_database` (``meterbill_test_*``).
    """
    database = make_url(database_url(url)).database or ""
    if not database.startswith(_DATABASE_PREFIX):
        raise ValueError(f"refusing to wipe {database!r}: not a {_DATABASE_PREFIX}* database")
    engine = _autocommit_engine(url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
