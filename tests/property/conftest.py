"""The ``databases`` fixture the database properties share."""

from pathlib import Path

import pytest

from tests.property.test_billing_properties import Databases


@pytest.fixture
def databases(db_url: str, tmp_path: Path) -> Databases:
    """``db_url`` (SQLite or PostgreSQL) as a source of fresh databases for every example."""
    return Databases(db_url, tmp_path)
