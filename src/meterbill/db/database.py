"""One handle on a database: the engine, migrated on open, and its transactions."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from meterbill.db.migrate import upgrade
from meterbill.db.session import create_engine_for, database_url, make_sessionmaker, transaction

__all__ = ["Database"]


class Database:
    """A database opened from a URL (default: ``meterbill.db`` in the working directory).

    Opening it runs the migrations, so every command works on a fresh file or schema.
    """

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = database_url(url)
        self.engine = create_engine_for(self.url)
        if migrate:
            upgrade(self.engine)
        self._sessions = make_sessionmaker(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits when the block ends, or rolls back on an error."""
        with transaction(self._sessions) as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
