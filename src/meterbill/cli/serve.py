"""``meterbill serve``: the HTTP API plus a background closer.

The closer finalizes ended periods every ``close_every`` seconds. Several processes may
serve the same PostgreSQL database: closing locks each customer and the invoice counter,
so an invoice is issued once with one number whichever process gets there first.
"""

import gc
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import uvicorn

from meterbill.api.app import create_app
from meterbill.db.database import Database
from meterbill.services.invoicing import close_periods

__all__ = ["serve", "start_closer"]

log = logging.getLogger("meterbill.closer")


def _now() -> datetime:
    return datetime.now(UTC)


def start_closer(
    database: Database,
    *,
    every: float,
    stop: threading.Event,
    clock: Callable[[], datetime] = _now,
) -> threading.Thread:
    """A daemon thread that closes ended periods every ``every`` seconds until ``stop``."""

    def loop() -> None:
        while not stop.wait(every):
            try:
                with database.transaction() as session:
                    result = close_periods(session, as_of=clock())
                for view in result.issued:
                    log.info("issued invoice %s #%s for %s", view.id, view.number, view.customer.id)
                for failure in result.failed:
                    log.error(
                        "customer %s not closed (the others were): %s",
                        failure.customer_id,
                        failure.message,
                    )
            except Exception:
                log.exception("background close failed; retrying in %s s", every)

    thread = threading.Thread(target=loop, name="meterbill-closer", daemon=True)
    thread.start()
    return thread


def serve(
    url: str | None,
    *,
    host: str,
    port: int,
    close_every: float,
    clock: datetime | None = None,
) -> None:
    """Serve ``url``; with ``clock``, as if it were always that time (demos, screenshots):
    reads and the background closer use it instead of the real time."""
    database = Database(url)
    now: Callable[[], datetime] = _now if clock is None else (lambda: clock)
    # Everything imported so far lives as long as the server: keep it out of the garbage
    # collector's full passes, which otherwise add tens of ms to a request's tail latency.
    gc.collect()
    gc.freeze()
    stop = threading.Event()
    if close_every > 0:
        start_closer(database, every=close_every, stop=stop, clock=now)
    try:
        uvicorn.run(create_app(database, clock=now), host=host, port=port, log_level="info")
    finally:
        stop.set()
        database.dispose()
