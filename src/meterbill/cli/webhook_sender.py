"""The webhook sender of ``meterbill serve``: a thread that delivers the outbox.

Every ``poll`` seconds (at once again while there is more to do) it takes the lease of up to
``batch`` due deliveries in one short transaction (``services.webhooks.claim_due``), POSTs
each message with httpx, signed by the Standard Webhooks library, and records the attempt in
a second transaction. Nothing is committed between the POST and its record, so a process
killed in between sends the message again after a restart (or another process does, once
the lease has run out): at least once, always with the same ``webhook-id``. The lease lasts
``3 × timeout + 5`` seconds, longer than an attempt can take, so two processes never send
one message at the same time.

Delivery timing uses the real time, even when ``serve --clock`` fixes the time the API
shows: receivers check ``webhook-timestamp`` against their own clock.
"""

import logging
import os
import random
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from meterbill import __version__
from meterbill.api.telemetry import Telemetry
from meterbill.db.database import Database
from meterbill.services.webhooks import (
    DEFAULT_JITTER,
    DEFAULT_SCHEDULE,
    AttemptResult,
    Claimed,
    claim_due,
    record_attempt,
    signature_headers,
)

__all__ = ["DEFAULT_SCHEDULE", "SenderOptions", "WebhookSender", "parse_schedule", "start_sender"]

log = logging.getLogger("meterbill.webhooks")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_schedule(text: str) -> tuple[timedelta, ...]:
    """``"5s,5m,30m,2h"`` → the delays; a bare number is seconds. (A few lines of regular
    expression: no library reads this compact form.)"""
    delays: list[timedelta] = []
    for index, part in enumerate(text.split(","), start=1):
        match = _DURATION.match(part)
        if match is None:
            raise ValueError(
                f"delay {index} {part.strip()!r} is not a duration such as 5s, 30m, 2h or 0.5"
            )
        delays.append(timedelta(seconds=float(match[1]) * _UNITS[match[2] or "s"]))
    return tuple(delays)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SenderOptions:
    """How the sender works: ``poll`` seconds between looks at the outbox (0: no sender),
    ``timeout`` seconds per HTTP phase, the retry ``schedule`` and its ``jitter``."""

    poll: float = 1.0
    timeout: float = 10.0
    schedule: tuple[timedelta, ...] = DEFAULT_SCHEDULE
    jitter: float = DEFAULT_JITTER
    batch: int = 20
    lease: timedelta | None = None  # None: 3 × timeout + 5 s

    @property
    def lease_time(self) -> timedelta:
        return self.lease or timedelta(seconds=3 * self.timeout + 5)


@dataclass
class WebhookSender:
    """Delivers due webhook deliveries of ``database``; :meth:`run_once` is one pass."""

    database: Database
    options: SenderOptions = field(default_factory=SenderOptions)
    clock: Callable[[], datetime] = _now
    rng: random.Random = field(default_factory=random.Random)
    telemetry: Telemetry | None = None  # counts each attempt's outcome
    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    )

    def __post_init__(self) -> None:
        self._client = httpx.Client(
            timeout=self.options.timeout,
            follow_redirects=False,
            headers={"user-agent": f"meterbill-webhooks/{__version__}"},
        )

    def close(self) -> None:
        self._client.close()

    def run_once(self) -> int:
        """Claim due deliveries and attempt each; how many were attempted."""
        with self.database.transaction() as session:
            claimed = claim_due(
                session,
                now=self.clock(),
                lease=self.options.lease_time,
                limit=self.options.batch,
                owner=self.owner,
            )
        for item in claimed:
            result = self.send(item)
            with self.database.transaction() as session:
                outcome = record_attempt(
                    session,
                    item,
                    result,
                    now=self.clock(),
                    schedule=self.options.schedule,
                    jitter=self.options.jitter,
                    rng=self.rng,
                )
            self._log(item, result, outcome)
            if self.telemetry is not None and outcome is not None:
                counted = "delivered" if outcome == "delivered" else "failed"
                self.telemetry.webhook_deliveries.labels(counted).inc()
        return len(claimed)

    def send(self, item: Claimed) -> AttemptResult:
        """POST one message, signed; the receiver's status or the transport error."""
        headers = signature_headers(item, at=self.clock())
        started = time.monotonic()
        try:
            response = self._client.post(item.url, content=item.payload.encode(), headers=headers)
        except httpx.HTTPError as error:
            elapsed = int((time.monotonic() - started) * 1000)
            reason = f"{type(error).__name__}: {error}".strip().rstrip(":")
            return AttemptResult(status_code=None, error=reason[:500], duration_ms=elapsed)
        elapsed = int((time.monotonic() - started) * 1000)
        code = response.status_code
        if 200 <= code < 300:
            return AttemptResult(status_code=code, error=None, duration_ms=elapsed)
        body = " ".join(response.text[:200].split())
        reason = f"HTTP {code}" + (f": {body}" if body else "")
        return AttemptResult(status_code=code, error=reason, duration_ms=elapsed)

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set; a failing pass is logged and retried."""
        while not stop.is_set():
            try:
                done = self.run_once()
            except Exception:
                log.exception("webhook sender pass failed; retrying in %s s", self.options.poll)
                done = 0
            if done < self.options.batch:
                stop.wait(self.options.poll)

    @staticmethod
    def _log(item: Claimed, result: AttemptResult, outcome: str | None) -> None:
        extra = {
            "webhook_id": item.message_id,
            "event_type": item.event_type,
            "endpoint_id": item.endpoint_id,
            "attempt": item.attempt,
            "status_code": result.status_code,
            "outcome": outcome,
            "duration_ms": result.duration_ms,
        }
        if outcome is None:
            log.info(
                "webhook %s to deleted endpoint %s: attempt not recorded",
                item.message_id,
                item.endpoint_id,
                extra=extra,
            )
            return
        level = logging.INFO if outcome == "delivered" else logging.WARNING
        log.log(
            level,
            "webhook %s (%s) to %s attempt %d: %s%s",
            item.message_id,
            item.event_type,
            item.url,
            item.attempt,
            outcome,
            "" if result.error is None else f" ({result.error})",
            extra=extra,
        )


def start_sender(
    database: Database,
    *,
    options: SenderOptions,
    stop: threading.Event,
    clock: Callable[[], datetime] = _now,
    telemetry: Telemetry | None = None,
) -> threading.Thread:
    """A daemon thread that delivers webhooks until ``stop`` is set."""
    sender = WebhookSender(database, options, clock=clock, telemetry=telemetry)

    def loop() -> None:
        try:
            sender.run(stop)
        finally:
            sender.close()

    thread = threading.Thread(target=loop, name="meterbill-webhooks", daemon=True)
    thread.start()
    return thread
