"""Fixtures of the storage tests: each test using them runs on SQLite and on PostgreSQL.

``db_url`` (tests/conftest.py) gives an empty SQLite file or PostgreSQL schema.
"""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, orm

from meterbill.db.migrate import upgrade
from meterbill.db.session import create_engine_for, make_sessionmaker


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
