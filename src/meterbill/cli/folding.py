"""Folding pending events into usage buckets, off the ingest path (``services.rollup``).

``meterbill serve`` runs :func:`start_folder`: a daemon thread that folds every
``fold_every`` seconds until nothing is pending, one transaction per batch; several
processes share the work. ``meterbill ingest`` folds what it stored before it exits
(:func:`fold_all`), so that reads after it find the buckets complete.
"""

import logging
import threading
import time
from collections.abc import Callable

from meterbill.db.database import Database
from meterbill.services.catalog import load_catalog
from meterbill.services.rollup import FOLD_BATCH, FoldFailure, any_pending, fold_pending

__all__ = ["HOLD_SECONDS", "SWEEP_AFTER", "Holds", "Sweeper", "fold_all", "start_folder"]

log = logging.getLogger("meterbill.fold")


HOLD_SECONDS = 60.0
"""How long a folder leaves a customer alone after its events could not be folded."""


class Holds:
    """Customers a folder leaves alone for a while after their fold failed (their events
    stay pending, so their figures stay exact), so that the others keep being folded."""

    def __init__(self, seconds: float = HOLD_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.until: dict[str, float] = {}

    def current(self) -> set[str]:
        now = self.clock()
        self.until = {customer: end for customer, end in self.until.items() if end > now}
        return set(self.until)

    def hold(self, failure: FoldFailure) -> None:
        if failure.customer_id not in self.until:
            log.error(
                "could not fold %d events of customer %s (%s); they stay pending, retrying in %s s",
                failure.events,
                failure.customer_id,
                failure.reason,
                self.seconds,
            )
        self.until[failure.customer_id] = self.clock() + self.seconds


SWEEP_AFTER = 50_000
"""Events a folder folds between two sweeps of the pending queue (``Sweeper``)."""


class Sweeper:
    """Vacuums the pending queue (``Database.sweep_pending``, PostgreSQL only) once a folder
    has folded ``after`` events since the last sweep: the rows the fold deletes would
    otherwise slow every read's usage stamp until autovacuum comes by (decisions 58)."""

    def __init__(self, after: int = SWEEP_AFTER) -> None:
        self.after = after
        self.folded = 0

    def add(self, database: Database, folded: int) -> None:
        self.folded += folded
        if self.folded >= self.after:
            self.sweep(database)

    def sweep(self, database: Database) -> None:
        self.folded = 0
        try:
            database.sweep_pending()
        except Exception:  # a sweep only saves read time; the next one comes soon enough
            log.exception("vacuuming the pending queue failed")


def fold_all(
    database: Database,
    *,
    limit: int = FOLD_BATCH,
    holds: Holds | None = None,
    sweeper: Sweeper | None = None,
) -> int:
    """Fold batches of ``limit`` until none is left to take; returns the events folded.

    A customer whose events cannot be folded is held (``holds``; a fresh one by default)
    and left out of the following batches, so the others are folded all the same. The
    pending queue is vacuumed every ``SWEEP_AFTER`` events folded (``sweeper``; a fresh one
    by default), and once more at the end if this call folded that many."""
    holds = holds if holds is not None else Holds()
    sweeper = sweeper if sweeper is not None else Sweeper()
    folded = 0
    # A read transaction first: an idle server's folder never takes SQLite's write lock.
    with database.transaction(read_only=True) as session:
        if not any_pending(session):
            return 0
    while True:
        failures: list[FoldFailure] = []
        with database.transaction() as session:
            taken = fold_pending(
                session, load_catalog(session), limit=limit, skip=holds.current(), failures=failures
            )
        for failure in failures:
            holds.hold(failure)
        if not taken:
            if folded >= sweeper.after:
                sweeper.sweep(database)
            return folded
        done = taken - sum(failure.events for failure in failures)
        folded += done
        sweeper.add(database, done)


def start_folder(database: Database, *, every: float, stop: threading.Event) -> threading.Thread:
    """A daemon thread folding pending events every ``every`` seconds until ``stop``.

    A failing pass is logged and retried at the next tick; a customer whose events cannot
    be folded is held for ``HOLD_SECONDS`` while the others are folded. Meanwhile reads keep
    adding the pending events themselves, so nothing is missing from any figure.
    """
    holds = Holds()
    sweeper = Sweeper()

    def loop() -> None:
        while not stop.wait(every):
            try:
                fold_all(database, holds=holds, sweeper=sweeper)
            except Exception:
                log.exception("folding pending events failed; retrying in %s s", every)

    thread = threading.Thread(target=loop, name="meterbill-fold", daemon=True)
    thread.start()
    return thread
