"""Folding pending events into usage buckets, off the ingest path (``services.rollup``).

``meterbill serve`` runs :func:`start_folder`: a daemon thread that folds every
``fold_every`` seconds until nothing is pending, one transaction per batch; several
processes share the work. ``meterbill ingest`` folds what it stored before it exits
(:func:`fold_all`), so that reads after it find the buckets complete.
"""

import logging
import threading

from meterbill.db.database import Database
from meterbill.services.catalog import load_catalog
from meterbill.services.rollup import FOLD_BATCH, any_pending, fold_pending

__all__ = ["fold_all", "start_folder"]

log = logging.getLogger("meterbill.fold")


def fold_all(database: Database, *, limit: int = FOLD_BATCH) -> int:
    """Fold batches of ``limit`` until none is left to take; returns the events folded."""
    folded = 0
    # A read transaction first: an idle server's folder never takes SQLite's write lock.
    with database.transaction(read_only=True) as session:
        if not any_pending(session):
            return 0
    while True:
        with database.transaction() as session:
            taken = fold_pending(session, load_catalog(session), limit=limit)
        if not taken:
            return folded
        folded += taken


def start_folder(database: Database, *, every: float, stop: threading.Event) -> threading.Thread:
    """A daemon thread folding pending events every ``every`` seconds until ``stop``.

    A failing pass is logged and retried at the next tick; until then reads keep adding the
    pending events themselves, so nothing is missing from any figure meanwhile.
    """

    def loop() -> None:
        while not stop.wait(every):
            try:
                fold_all(database)
            except Exception:
                log.exception("folding pending events failed; retrying in %s s", every)

    thread = threading.Thread(target=loop, name="meterbill-fold", daemon=True)
    thread.start()
    return thread
