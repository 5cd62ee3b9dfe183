"""One handle on a database: the engine, migrated on open, and its transactions."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from meterbill.core.errors import StorageUnavailable
from meterbill.db.migrate import upgrade
from meterbill.db.models import Meta
from meterbill.db.readcache import READ_CACHE_INFO, ReadCache
from meterbill.db.session import (
    DEFAULT_POOL_SIZE,
    create_engine_for,
    database_url,
    make_sessionmaker,
    transaction,
)

__all__ = ["Database"]

_PROBE_KEY = "readiness_probe"


class Database:
    """A database opened from a URL (default: ``meterbill.db`` in the working directory).

    Opening it runs the migrations, so every command works on a fresh file or schema.
    ``pool_size``: connections kept open (as many again may be opened on demand).
    """

    def __init__(
        self, url: str | None = None, *, migrate: bool = True, pool_size: int = DEFAULT_POOL_SIZE
    ) -> None:
        self.url = database_url(url)
        self.pool_size = pool_size
        self.engine = create_engine_for(self.url, pool_size=pool_size)
        if migrate:
            upgrade(self.engine)
        self._sessions = make_sessionmaker(self.engine)
        # Read transactions share one cache of computed results (``db.readcache``).
        self.read_cache = ReadCache()
        self._read_sessions = make_sessionmaker(
            self.engine, read_only=True, info={READ_CACHE_INFO: self.read_cache}
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session whose work commits when the block ends, or rolls back on an error.

        ``read_only``: a read transaction, which on SQLite takes no write lock (readers then
        never wait for writers). An operational failure of the database leaves the block as
        ``meterbill.core.errors.StorageUnavailable``.
        """
        with transaction(self._read_sessions if read_only else self._sessions) as session:
            yield session

    def check_writable(self) -> None:
        """Raise ``StorageUnavailable`` unless the database takes a write now: write a row in
        ``meta`` inside a transaction that is always rolled back (nothing is kept)."""
        try:
            with self.transaction() as session:
                session.execute(delete(Meta).where(Meta.key == _PROBE_KEY))
                session.execute(insert(Meta).values(key=_PROBE_KEY, value="0"))
                session.rollback()
        except DBAPIError as error:  # e.g. a read-only PostgreSQL replica
            reason = " ".join(str(error.orig).split())[:200]
            raise StorageUnavailable(f"the database takes no writes: {reason}") from error

    def sweep_pending(self) -> bool:
        """On PostgreSQL, ``VACUUM`` the ``usage_pending`` queue (outside any transaction,
        skipped if another process is vacuuming it); returns whether it ran.

        The fold deletes every row it folds, and until a vacuum the deleted rows stay in the
        table's customer index: the usage stamp's count of a customer's pending events
        (``db.usage.usage_stamp``, read by every read) walks them all, 30 ms after a
        million-event burst, until autovacuum comes by. SQLite keeps no dead rows."""
        if self.dialect != "postgresql":
            return False
        with self.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM (SKIP_LOCKED) usage_pending"
            )
        return True

    def connections_in_use(self) -> int:
        """Connections of the pool checked out right now (0 for a pool that does not count)."""
        checkedout = getattr(self.engine.pool, "checkedout", None)
        return int(checkedout()) if callable(checkedout) else 0

    def dispose(self) -> None:
        self.engine.dispose()
