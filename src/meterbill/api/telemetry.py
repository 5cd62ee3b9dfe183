"""Metrics (``/metrics``, Prometheus text format) and request ids of ``meterbill serve``.

A :class:`Telemetry` holds the metric objects of one server process in a registry of its
own (nothing global: every application built in a test has its own counts). The adapters
count what the use cases return — ingest outcomes (``services.ingest``), a close's
``CloseResult`` (``services.invoicing``) — so the services know nothing of metrics.
Gauges that describe state (outbox depth, database connections in use) are read when
``/metrics`` is scraped. Every metric is listed in ``docs/operations.md``.

:class:`RequestTelemetry` is the outermost middleware of the application: it gives each
request an id (``X-Request-Id`` of the request when it is a sane one, a new one otherwise),
returns it in the ``X-Request-Id`` response header, binds it to every log line written
while the request runs, times the request into a histogram labelled by its *route
template* (``/v1/invoices/{invoice_id}``, never the raw path) and writes one access log
line.
"""

import logging
import re
import time
import uuid
from collections.abc import Iterable

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meterbill import __version__
from meterbill.db import webhooks as webhook_store
from meterbill.db.database import Database
from meterbill.services.ingest import Outcome, Status
from meterbill.services.invoicing import CloseResult

__all__ = [
    "CONTENT_TYPE_LATEST",
    "EVENT_APIS",
    "REQUEST_ID_HEADER",
    "UNROUTED",
    "RequestTelemetry",
    "Telemetry",
    "route_template",
    "telemetry_of",
]

log = logging.getLogger("meterbill.telemetry")
access_log = logging.getLogger("meterbill.access")

REQUEST_ID_HEADER = "X-Request-Id"
UNROUTED = "<unrouted>"
"""The route label of a request answered before routing (unknown path, 503 overloaded)."""
EVENT_APIS = ("native", "metronome")
"""The APIs that ingest events (the ``api`` label of ``meterbill_events_total``)."""
WEBHOOK_OUTCOMES = ("delivered", "failed")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SANE_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


class _StateCollector(Collector):
    """Gauges read at scrape time: database connections in use, the outbox depth."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterable[Metric]:
        # Read before the scrape takes a connection of its own for the outbox query.
        yield GaugeMetricFamily(
            "meterbill_db_connections_in_use",
            "Database connections checked out of the pool right now.",
            value=self.database.connections_in_use(),
        )
        yield GaugeMetricFamily(
            "meterbill_db_pool_size",
            "Database connections the pool keeps (it may open as many again on demand).",
            value=self.database.pool_size,
        )
        try:
            with self.database.transaction(read_only=True) as session:
                depth = webhook_store.pending_deliveries(session)
        except Exception as error:  # the scrape still answers, without this gauge
            log.warning("metrics: the outbox depth could not be read: %s", error)
            return
        yield GaugeMetricFamily(
            "meterbill_outbox_depth",
            "Webhook deliveries still to be made (pending, across every endpoint).",
            value=depth,
        )


class Telemetry:
    """The metrics of one ``meterbill serve`` process (see ``docs/operations.md``)."""

    def __init__(self, database: Database | None = None) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.events = Counter(
            "meterbill_events",
            "Usage events received, by the API that received them and their outcome.",
            ["api", "outcome"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "meterbill_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.invoices_issued = Counter(
            "meterbill_invoices_issued",
            "Invoices issued by the background closer.",
            registry=registry,
        )
        self.close_failures = Counter(
            "meterbill_close_failures",
            "Customers the background closer could not close (the others were closed).",
            registry=registry,
        )
        self.close_errors = Counter(
            "meterbill_close_errors",
            "Background closes that failed as a whole (the database failed, say).",
            registry=registry,
        )
        self.last_close = Gauge(
            "meterbill_close_last_success_timestamp_seconds",
            "Unix time the background closer last finished a close (0: not yet).",
            registry=registry,
        )
        self.webhook_deliveries = Counter(
            "meterbill_webhook_deliveries",
            "Webhook delivery attempts, by outcome.",
            ["outcome"],
            registry=registry,
        )
        Info("meterbill_build", "The meterbill version.", registry=registry).info(
            {"version": __version__}
        )
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        # Every label value a query may name exists from the start, at 0.
        for api in EVENT_APIS:
            for status in Status:
                self.events.labels(api, status.value)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhook_deliveries.labels(outcome)
        if database is not None:
            registry.register(_StateCollector(database))

    def count_events(self, api: str, outcomes: Iterable[Outcome]) -> None:
        """Count the outcomes of a stored batch."""
        counts = dict.fromkeys(Status, 0)
        for outcome in outcomes:
            counts[outcome.status] += 1
        for status, count in counts.items():
            if count:
                self.events.labels(api, status.value).inc(count)

    def count_refused_batch(self, api: str, size: int) -> None:
        """Count a batch stored as a whole or not at all, refused: every event rejected."""
        if size:
            self.events.labels(api, Status.REJECTED.value).inc(size)

    def count_close(self, result: CloseResult) -> None:
        """Count what one background close did."""
        self.invoices_issued.inc(len(result.issued))
        self.close_failures.inc(len(result.failed))
        self.last_close.set_to_current_time()

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format (``CONTENT_TYPE_LATEST``)."""
        return generate_latest(self.registry)


def telemetry_of(connection: HTTPConnection) -> Telemetry:
    """The telemetry of the application serving ``connection``."""
    telemetry: Telemetry = connection.app.state.telemetry
    return telemetry


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/metronome/v1/ingest``,
    ``/v1/customers/{customer_id}``), or :data:`UNROUTED`. The router records the API route
    it matched in the scope, and a mount adds its (literal) prefix to ``root_path``; a
    mounted app without routes of its own (the static files) is ``prefix/{path}``."""
    prefix = str(scope.get("root_path", ""))[len(str(scope.get("app_root_path", ""))) :]
    route = scope.get("route")
    template = getattr(route, "path_format", None) if route is not None else None
    if isinstance(template, str):
        return prefix + template
    return prefix + "/{path}" if prefix else UNROUTED


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1").strip()
            if _SANE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class RequestTelemetry:
    """ASGI middleware: request id, latency histogram and access log (module docs)."""

    def __init__(self, app: ASGIApp, *, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        status = 500  # unless a response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        # Bound for the rest of this request's task (each request runs in a task of its
        # own): log lines written after this middleware returns — an unexpected error
        # logged by the outermost error handler — carry the id too.
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = str(scope.get("method", "")).upper()
            method = method if method in _METHODS else "OTHER"
            route = route_template(scope)
            self.telemetry.request_duration.labels(method, route, str(status)).observe(elapsed)
            access_log.info(
                "%s %s %d",
                method,
                scope.get("path", ""),
                status,
                extra={
                    "method": method,
                    "path": scope.get("path", ""),
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
