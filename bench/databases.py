"""Throw-away databases for one benchmark run, and what they run on.

SQLite lives in a temporary directory. On PostgreSQL the run creates its own database
``meterbill_bench_<random>`` on the given server and drops it afterwards; no other database
on that server is read or written.
"""

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from meterbill.db.session import database_url

__all__ = ["BENCH_PREFIX", "postgres_database", "postgres_version", "sqlite_url", "sqlite_version"]

BENCH_PREFIX = "meterbill_bench_"


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'meterbill.db'}"


def sqlite_version() -> str:
    return sqlite3.sqlite_version


def _admin_url(server_url: str) -> str:
    url = database_url(server_url)
    if make_url(url).get_backend_name() != "postgresql":
        raise ValueError(f"--postgres must be a postgresql:// URL, got {server_url!r}")
    return url


def postgres_version(server_url: str) -> str:
    engine = create_engine(_admin_url(server_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """Create ``meterbill_bench_<random>`` next to ``server_url``; yield its URL; drop it."""
    admin_url = _admin_url(server_url)
    name = f"{BENCH_PREFIX}{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
