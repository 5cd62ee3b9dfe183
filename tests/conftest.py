"""Shared test configuration.

- ``db_url``: every test that uses it runs on SQLite and on PostgreSQL. The PostgreSQL
  runs need ``METERBILL_TEST_POSTGRES_URL`` and are skipped with a clear message without it;
  with it, the test session gets its own database and every test an empty schema.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbsupport import (
    POSTGRES_SKIP_REASON,
    fresh_postgres_database,
    postgres_url_from_env,
    reset_postgres_schema,
)


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
