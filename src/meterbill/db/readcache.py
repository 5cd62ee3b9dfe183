"""Results computed from what one database stores, kept in this process until what they were
computed from changes.

A :class:`ReadCache` belongs to one :class:`~meterbill.db.database.Database` and is reached
from its read transactions' sessions (:func:`read_cache`); write transactions get none, since
what they read may include their own uncommitted (and perhaps rolled back) writes. Each entry
is stored with a *stamp*, a value the caller reads in the same transaction and that changes
whenever anything the result depends on changes (for usage: ``db.usage.usage_stamp``); an
entry is only returned for an equal stamp. Entries are weighed (about one unit per number
held) and the least recently used ones go first beyond the capacity.
"""

import threading
from collections import OrderedDict
from collections.abc import Hashable

from sqlalchemy.orm import Session

__all__ = ["READ_CACHE_INFO", "ReadCache", "read_cache"]

READ_CACHE_INFO = "meterbill_read_cache"
# About 400 bytes a unit (a number or a bucket partial) measured here: ~100 MB at most.
DEFAULT_CAPACITY = 250_000


class ReadCache:
    """A bounded, thread-safe map of key → (stamp, value), least recently used out first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, tuple[Hashable, object, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, stamp: Hashable) -> object | None:
        """The value stored under ``key`` if it was stored with ``stamp``, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != stamp:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, stamp: Hashable, value: object, *, weight: int = 1) -> None:
        """Store ``value`` under ``key`` for ``stamp`` (replacing what ``key`` held)."""
        weight = max(weight, 1)
        if weight > self.capacity:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._weight -= old[2]
            self._entries[key] = (stamp, value, weight)
            self._weight += weight
            while self._weight > self.capacity:
                _, (_, _, dropped) = self._entries.popitem(last=False)
                self._weight -= dropped

    def __len__(self) -> int:
        return len(self._entries)


def read_cache(session: Session) -> ReadCache | None:
    """The cache of the database this read transaction's session belongs to (None in a
    write transaction, or for a session made outside ``Database``)."""
    cache = session.info.get(READ_CACHE_INFO)
    return cache if isinstance(cache, ReadCache) else None
