"""The fold: accepted events into the hour and day buckets of their order-free meters.

Ingest acknowledges an event once it is validated, deduplicated and stored, and lists it in
``usage_pending``; :func:`fold_pending` takes the oldest pending events, adds them to the
buckets of every order-free meter of their type and removes them from the list, all in the
caller's transaction. Until then every read adds the pending events to the buckets it reads
(``services.usage``), so an event counts exactly once whether or not it was folded.

Several folders (one per ``serve`` process) take disjoint batches (``SKIP LOCKED`` on
PostgreSQL; SQLite serializes writers), bucket rows are merged by atomic upserts, and a
folder that dies mid-batch rolls back with its bucket writes: nothing is lost or doubled.
"""

from meterbill.db import Session
from meterbill.db import catalog as catalog_store
from meterbill.db import usage as store
from meterbill.services.catalog import CatalogState
from meterbill.services.ingest import apply_to_meters

__all__ = ["FOLD_BATCH", "any_pending", "fold_pending", "pending_count"]

FOLD_BATCH = 5000
"""Events folded per transaction."""


def fold_pending(session: Session, state: CatalogState, *, limit: int = FOLD_BATCH) -> int:
    """Fold up to ``limit`` pending events; returns how many were taken (0: none waited)."""
    events = store.take_pending(session, limit=limit)
    if not events:
        return 0
    # Shared: folders and ingest do not wait for each other, only for what reads and
    # rewrites a customer's buckets (closing, alerts, rebuilding a meter).
    catalog_store.lock_customers(session, {event.customer_id for event in events}, shared=True)
    apply_to_meters(session, state, events, folded=True)
    return len(events)


def any_pending(session: Session) -> bool:
    """Whether any accepted event waits to be folded."""
    return store.any_pending(session)


def pending_count(session: Session) -> int:
    """Accepted events not folded yet."""
    return store.pending_count(session)
