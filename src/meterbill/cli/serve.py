"""``meterbill serve``: the HTTP API plus a background closer, the folder of pending events,
the spend-alert evaluator and the webhook sender.

The folder (``meterbill.cli.folding``) adds accepted events to the usage buckets every
``fold_every`` seconds; reads count pending events themselves meanwhile.

The closer finalizes ended periods every ``close_every`` seconds. Several processes may
serve the same PostgreSQL database: closing locks each customer and the invoice counter,
so an invoice is issued once with one number whichever process gets there first. The
webhook sender (``meterbill.cli.webhook_sender``) delivers the outbox every
``webhooks.poll`` seconds; several processes share the work through leases.

The transport is bounded (:class:`ServeOptions`, documented in ``docs/operations.md``):

* at most ``db_connections`` requests work on the database at once, the pool holds as many
  connections, and further requests wait (``max_waiting``, ``wait_timeout``) or get a 503
  with ``Retry-After`` (``meterbill.api.admission``);
* at most ``max_connections`` open connections: one more is answered 503 and closed at
  once, so the process never runs out of file descriptors;
* a connection must send a complete request head within ``timeout_header`` seconds of
  opening (or of its previous response), and an idle keep-alive connection is closed after
  ``timeout_keep_alive`` seconds; a request head is at most ``max_header_bytes``;
* a log line about failing ``accept()`` calls is written at most once per
  ``LOG_REPEAT_SECONDS``, with the number of lines left out (:class:`RepeatFilter`).

Logging is configured at start-up (``meterbill.cli.logs``: JSON lines off a terminal), and
the process counts what it does in a :class:`~meterbill.api.telemetry.Telemetry` served at
``/metrics``: the closer counts the invoices it issues and the customers it cannot close.
"""

import asyncio
import gc
import logging
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from meterbill.api.app import Limits, create_app
from meterbill.api.telemetry import Telemetry
from meterbill.cli.alerting import DEFAULT_ALERT_INTERVAL, start_alert_evaluator
from meterbill.cli.folding import start_folder
from meterbill.cli.logs import LogFormat, LogLevel, configure_logging
from meterbill.cli.webhook_sender import DEFAULT_SCHEDULE, SenderOptions, start_sender
from meterbill.core.events import format_timestamp
from meterbill.db.database import Database
from meterbill.services.invoicing import close_periods

__all__ = [
    "LOG_REPEAT_SECONDS",
    "RepeatFilter",
    "ServeOptions",
    "bounded_protocol",
    "default_max_connections",
    "serve",
    "start_closer",
]

log = logging.getLogger("meterbill.closer")
server_log = logging.getLogger("meterbill.server")

LOG_REPEAT_SECONDS = 10.0
"""A repeated transport error is logged at most once per this many seconds."""
_RESERVED_FDS = 64  # log files, the listening socket, imported modules…
_FDS_PER_DB_CONNECTION = 3  # SQLite: the file, its WAL and its shared memory; PG: a socket


def _now() -> datetime:
    return datetime.now(UTC)


def default_max_connections(db_connections: int) -> int:
    """4096, or fewer when the open-file limit would not leave room for them beside the
    database pool (``db_connections`` kept, as many again on demand)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    spare = soft - _RESERVED_FDS - 2 * db_connections * _FDS_PER_DB_CONNECTION
    return max(16, min(4096, spare))


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Where ``meterbill serve`` listens and the limits it keeps (see the module docs)."""

    host: str = "127.0.0.1"
    port: int = 8000
    close_every: float = 60.0
    fold_every: float = 0.5  # seconds between folds of pending events into buckets (0: off)
    db_connections: int = 10
    max_waiting: int = 2000
    wait_timeout: float = 20.0
    max_connections: int | None = None  # None: default_max_connections(db_connections)
    timeout_keep_alive: float = 5.0
    timeout_header: float = 10.0
    max_header_bytes: int = 16 * 1024
    backlog: int = 1024
    clock: datetime | None = None  # serve as if it were always this time (demos)
    log_level: LogLevel = "info"
    log_format: LogFormat = "auto"
    metrics: bool = True  # serve /metrics
    alert_interval: float = DEFAULT_ALERT_INTERVAL  # seconds between spend-alert passes (0: off)
    webhook_poll: float = 1.0  # seconds between looks at the outbox (0: no sender)
    webhook_timeout: float = 10.0  # seconds a receiver has to answer
    webhook_retry_schedule: tuple[timedelta, ...] = DEFAULT_SCHEDULE

    @property
    def webhooks(self) -> SenderOptions:
        """The webhook sender's options."""
        return SenderOptions(
            poll=self.webhook_poll,
            timeout=self.webhook_timeout,
            schedule=self.webhook_retry_schedule,
        )


class RepeatFilter(logging.Filter):
    """Lets a record whose message contains ``needle`` through at most once per ``every``
    seconds; the next one let through says how many were left out meanwhile."""

    def __init__(
        self,
        needle: str,
        *,
        every: float = LOG_REPEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.needle = needle
        self.every = every
        self.clock = clock
        self.suppressed = 0
        self._last: float | None = None
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.needle not in message:
            return True
        with self._lock:
            now = self.clock()
            if self._last is not None and now - self._last < self.every:
                self.suppressed += 1
                return False
            self._last = now
            left_out, self.suppressed = self.suppressed, 0
        if left_out:
            record.msg = f"{message} ({left_out} more like it in the last {self.every:g} s)"
            record.args = None
        return True


def _refusal(max_connections: int) -> bytes:
    body = (
        '{"error":{"code":"overloaded","message":"the server has '
        f'{max_connections} open connections, its limit; try again shortly"}}}}'
    ).encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"retry-after: 1\r\nconnection: close\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def bounded_protocol(*, max_connections: int, timeout_header: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a cap on open connections and a request-head timeout."""
    refusal = _refusal(max_connections)

    class BoundedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= max_connections:
                # Over the limit: answer at once and close, so descriptors never pile up.
                self._refused = True
                self.transport = transport
                server_log.warning(
                    "connection limit reached (%d open): refused a connection", max_connections
                )
                transport.write(refusal)
                transport.close()
                return
            super().connection_made(transport)
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self.conn.their_state is h11.IDLE and self._header_timer is None:
                self._arm_header_timer()  # the first bytes of a further request
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._cancel_header_timer()  # the request head is complete

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            if self._refused:
                return
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(timeout_header, self._header_timed_out)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timed_out(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                server_log.debug("closed a connection: no request head in %s s", timeout_header)
                self.transport.close()

    return BoundedH11Protocol


def start_closer(
    database: Database,
    *,
    every: float,
    stop: threading.Event,
    clock: Callable[[], datetime] = _now,
    telemetry: Telemetry | None = None,
) -> threading.Thread:
    """A daemon thread that closes ended periods every ``every`` seconds until ``stop``,
    logging each invoice it issues and each customer it cannot close, and counting them
    in ``telemetry``."""

    def loop() -> None:
        while not stop.wait(every):
            try:
                as_of = clock()
                with database.transaction() as session:
                    result = close_periods(session, as_of=as_of)
            except Exception:
                if telemetry is not None:
                    telemetry.close_errors.inc()
                log.exception("background close failed; retrying in %s s", every)
                continue
            if telemetry is not None:
                telemetry.count_close(result)
            for view in result.issued:
                log.info(
                    "issued invoice #%s for %s",
                    view.number,
                    view.customer.id,
                    extra={
                        "action": "invoice_issued",
                        "customer_id": view.customer.id,
                        "invoice_id": view.id,
                        "invoice_number": view.number,
                        "period_start": format_timestamp(view.ref.period.start),
                        "period_end": format_timestamp(view.ref.period.end),
                        "total": str(view.totals.total),
                        "currency": view.currency,
                    },
                )
            for failure in result.failed:
                log.error(
                    "customer %s not closed (the others were): %s",
                    failure.customer_id,
                    failure.message,
                    extra={
                        "action": "close_failed",
                        "customer_id": failure.customer_id,
                        "reason": failure.message,
                    },
                )
            if result.issued or result.failed:
                log.info(
                    "closed as of %s: %d invoices issued, %d customers failed",
                    format_timestamp(as_of),
                    len(result.issued),
                    len(result.failed),
                    extra={
                        "action": "close",
                        "as_of": format_timestamp(as_of),
                        "issued": len(result.issued),
                        "failed": len(result.failed),
                    },
                )

    thread = threading.Thread(target=loop, name="meterbill-closer", daemon=True)
    thread.start()
    return thread


def uvicorn_config(app: Any, options: ServeOptions) -> uvicorn.Config:
    """The uvicorn configuration of ``options`` (with the repeat filters installed)."""
    max_connections = options.max_connections or default_max_connections(options.db_connections)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_config=None,  # configure_logging did it
        log_level=options.log_level,
        access_log=False,  # RequestTelemetry writes one line per request, with its id
        http=bounded_protocol(
            max_connections=max_connections, timeout_header=options.timeout_header
        ),
        timeout_keep_alive=options.timeout_keep_alive,  # type: ignore[arg-type]
        h11_max_incomplete_event_size=options.max_header_bytes,
        backlog=options.backlog,
    )
    # After uvicorn configured logging: asyncio logs a failing accept() (out of file
    # descriptors) on every retry, with a traceback, and then each of its retries of
    # ``_start_serving``; the refusals above can come in floods too.
    for needle in ("socket.accept()", "_start_serving", "_accept_connection"):
        logging.getLogger("asyncio").addFilter(RepeatFilter(needle))
    server_log.addFilter(RepeatFilter("connection limit reached"))
    return config


def serve(url: str | None, options: ServeOptions) -> None:
    """Serve ``url`` within ``options``' limits; with ``options.clock``, as if it were always
    that time (demos, screenshots): reads and the background closer use it instead of the
    real time."""
    configure_logging(options.log_level, options.log_format)
    database = Database(url, pool_size=options.db_connections)
    telemetry = Telemetry(database)
    clock = options.clock
    now: Callable[[], datetime] = _now if clock is None else (lambda: clock)
    # Everything imported so far lives as long as the server: keep it out of the garbage
    # collector's full passes, which otherwise add tens of ms to a request's tail latency.
    gc.collect()
    gc.freeze()
    stop = threading.Event()
    if options.close_every > 0:
        start_closer(database, every=options.close_every, stop=stop, clock=now, telemetry=telemetry)
    if options.fold_every > 0:
        start_folder(database, every=options.fold_every, stop=stop)
    if options.alert_interval > 0:
        start_alert_evaluator(database, every=options.alert_interval, stop=stop, clock=now)
    if options.webhooks.poll > 0:
        start_sender(  # real time, not --clock
            database, options=options.webhooks, stop=stop, telemetry=telemetry
        )
    app = create_app(
        database,
        clock=now,
        limits=Limits(max_waiting=options.max_waiting, wait_timeout=options.wait_timeout),
        telemetry=telemetry,
        metrics=options.metrics,
    )
    try:
        uvicorn.Server(uvicorn_config(app, options)).run()
    finally:
        stop.set()
        database.dispose()
