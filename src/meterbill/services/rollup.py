"""The fold: accepted events into the hour and day buckets of their order-free meters.

Ingest acknowledges an event once it is validated, deduplicated and stored, and lists it in
``usage_pending``; :func:`fold_pending` takes the oldest pending events, adds them to the
buckets of every order-free meter of their type and removes them from the list, all in the
caller's transaction. Until then every read adds the pending events to the buckets it reads
(``services.usage``), so an event counts exactly once whether or not it was folded.

Several folders (one per ``serve`` process) take disjoint batches (``SKIP LOCKED`` on
PostgreSQL; SQLite serializes writers), bucket rows are merged by atomic upserts, and a
folder that dies mid-batch rolls back with its bucket writes: nothing is lost or doubled.

A batch whose buckets cannot be written is folded again customer by customer, each in a
savepoint: a customer that fails keeps its events pending (reads still add them, so its
figures stay exact) and is reported, and the others are folded; the folder then leaves
that customer alone for a while (``cli.folding``), so one customer never stops the fold
for everyone.
"""

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

from meterbill.core.events import Event
from meterbill.db import Session, savepoint
from meterbill.db import catalog as catalog_store
from meterbill.db import usage as store
from meterbill.services.catalog import CatalogState
from meterbill.services.ingest import apply_to_meters

__all__ = ["FOLD_BATCH", "FoldFailure", "any_pending", "fold_pending", "pending_count"]

FOLD_BATCH = 5000
"""Events folded per transaction."""


@dataclass(frozen=True, slots=True)
class FoldFailure:
    """A customer whose taken events could not be folded (they are pending again)."""

    customer_id: str
    events: int
    reason: str


def fold_pending(
    session: Session,
    state: CatalogState,
    *,
    limit: int = FOLD_BATCH,
    skip: Collection[str] = (),
    failures: list[FoldFailure] | None = None,
) -> int:
    """Fold up to ``limit`` pending events of customers not in ``skip``; returns how many
    were taken (0: none waited). A customer whose events cannot be folded keeps them
    pending and is added to ``failures``."""
    taken = store.take_pending(session, limit=limit, skip=skip)
    if not taken:
        return 0
    # Shared: folders and ingest do not wait for each other, only for what reads and
    # rewrites a customer's buckets (closing, alerts, rebuilding a meter).
    catalog_store.lock_customers(session, {event.customer_id for _, event in taken}, shared=True)
    try:
        with savepoint(session):
            apply_to_meters(session, state, [event for _, event in taken], folded=True)
    except Exception:
        _fold_each(session, state, taken, failures)
    return len(taken)


def _fold_each(
    session: Session,
    state: CatalogState,
    taken: list[tuple[int, Event]],
    failures: list[FoldFailure] | None,
) -> None:
    """Fold each customer's events in its own savepoint; a customer whose fold fails (any
    error: a number its buckets cannot hold, a database error on its rows) gets its events
    back in ``usage_pending`` and is reported."""
    by_customer: dict[str, list[tuple[int, Event]]] = defaultdict(list)
    for event_id, event in taken:
        by_customer[event.customer_id].append((event_id, event))
    for customer_id, mine in sorted(by_customer.items()):
        try:
            with savepoint(session):
                apply_to_meters(session, state, [event for _, event in mine], folded=True)
        except Exception as error:
            store.restore_pending(session, mine)
            if failures is not None:
                reason = f"{type(error).__name__}: {error}"
                failures.append(FoldFailure(customer_id, len(mine), reason))


def any_pending(session: Session) -> bool:
    """Whether any accepted event waits to be folded."""
    return store.any_pending(session)


def pending_count(session: Session) -> int:
    """Accepted events not folded yet."""
    return store.pending_count(session)
