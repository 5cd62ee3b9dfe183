"""Shared test configuration.

- ``json_logs``: the JSON log lines written while a test runs.
- ``db_url``: every test that uses it runs on SQLite and on PostgreSQL. The PostgreSQL
  runs need ``METERBILL_TEST_POSTGRES_URL`` and are skipped with a clear message without it;
  with it, the test session gets its own database and every test an empty schema.
"""

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from meterbill.cli.logs import configure_logging
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


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The JSON log lines written while the test runs (the root logger as it was after)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
