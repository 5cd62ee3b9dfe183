"""The spend-alert evaluator of ``meterbill serve`` (issue 10).

Every ``every`` seconds (``--alert-interval``, 15 by default) one pass looks at the
customers with events stored since the pass before the previous one, and every
``SWEEP_PASSES`` passes (and on the first) at every customer, which catches what no event
causes: a period rolling over, a credit expiring, an alert added by a setup document.
For each customer, a read transaction finds the crossings; only when there are some does a
write transaction record them (firing row and ``alert.triggered`` message together). Ingest
itself never evaluates alerts, so it stays as fast as before (docs/decisions.md).

Several ``serve`` processes may evaluate the same database: a firing is insert-or-nothing,
so a crossing fires once whoever records it first.
"""

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from meterbill.db import alerts as store
from meterbill.db import catalog as catalog_store
from meterbill.db.database import Database
from meterbill.services.alerts import Fired, crossings, record

__all__ = ["DEFAULT_ALERT_INTERVAL", "SWEEP_PASSES", "AlertEvaluator", "start_alert_evaluator"]

log = logging.getLogger("meterbill.alerts")

DEFAULT_ALERT_INTERVAL = 15.0
"""Seconds between passes: a crossing fires within about this long of its event."""
SWEEP_PASSES = 20
"""Every this many passes (and on the first) every customer is evaluated, events or not."""


class AlertEvaluator:
    """Passes over the customers whose alerts may have crossed; one instance per process.

    Event ids are the watermark: a pass looks at the ids above the highest one seen two
    passes ago, so an ingest transaction that commits a little after a higher id was seen
    is still looked at (and a later sweep catches anything slower).
    """

    def __init__(self, database: Database, *, sweep_passes: int = SWEEP_PASSES) -> None:
        self.database = database
        self.sweep_passes = sweep_passes
        self.passes = 0
        self._seen: list[int] = []  # the highest event id of the last two passes

    def run_pass(self, now: datetime) -> list[Fired]:
        """One pass at ``now``; returns what fired. A customer that fails is logged and
        left for the next pass; the others are still evaluated."""
        sweep = self.passes % self.sweep_passes == 0
        self.passes += 1
        with self.database.transaction(read_only=True) as session:
            top = store.last_event_id(session)
            if sweep:
                customers = [row.id for row in catalog_store.customer_rows(session)]
            else:
                since = self._seen[0] if self._seen else 0
                customers = list(store.customers_with_events(session, after=since, up_to=top))
        self._seen = [*self._seen, top][-2:]
        fired: list[Fired] = []
        for customer_id in customers:
            try:
                fired.extend(self.evaluate(customer_id, now))
            except Exception:
                log.exception("alerts of customer %s not evaluated; retrying later", customer_id)
        return fired

    def evaluate(self, customer_id: str, now: datetime) -> list[Fired]:
        """One customer: read its crossings, and only if there are some, record them."""
        with self.database.transaction(read_only=True) as session:
            found = crossings(session, customer_id, now=now)
        if not found:
            return []
        with self.database.transaction() as session:
            fired = record(session, found, now=now)
        for item in fired:
            crossing = item.crossing
            log.info(
                "alert %s of customer %s fired: %s %s against %s (message %s)",
                crossing.alert.key,
                crossing.customer.id,
                crossing.alert.kind.value,
                crossing.value,
                crossing.alert.threshold,
                item.message_id,
            )
        return fired


def start_alert_evaluator(
    database: Database,
    *,
    every: float,
    stop: threading.Event,
    clock: Callable[[], datetime],
) -> threading.Thread:
    """A daemon thread that runs an evaluator pass every ``every`` seconds until ``stop``."""
    evaluator = AlertEvaluator(database)

    def loop() -> None:
        while not stop.wait(every):
            try:
                evaluator.run_pass(clock())
            except Exception:
                log.exception("alert pass failed; retrying in %s s", every)

    thread = threading.Thread(target=loop, name="meterbill-alerts", daemon=True)
    thread.start()
    return thread
