"""Fixtures of the storage tests: each test using them runs on SQLite and on PostgreSQL.

The ``postgres`` parameter needs ``METERBILL_TEST_POSTGRES_URL``; without it those tests are
skipped. With it, the test session gets its own database and every test an empty schema.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, orm

from dbsupport import (  # tests/ is on sys.path (tests/conftest.py)
    POSTGRES_SKIP_REASON,
    fresh_postgres_database,
    postgres_url_from_env,
    reset_postgres_schema,
)
from meterbill.db.migrate import upgrade
from meterbill.db.session import create_engine_for, make_sessionmaker


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """URL of a throw-away PostgreSQL database that lives for the whole test session."""
    server_url = postgres_url_from_env()
    if server_url is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    with fresh_postgres_database(server_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database: a fresh SQLite file, or an emptied PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meterbill.db'}"
    url: str = request.getfixturevalue("postgres_database")
    reset_postgres_schema(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head; disposed after the test."""
    engine = create_engine_for(db_url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sessionmaker(engine: Engine) -> orm.sessionmaker[orm.Session]:
    """The session factory the application would use on ``engine``."""
    return make_sessionmaker(engine)
