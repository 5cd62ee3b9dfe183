"""Admission: how many requests work on the database at once, and what the others do.

Why: a request's transaction holds a pooled connection from its first dependency to its
end, but FastAPI runs the dependencies and the endpoint in *separate* worker-thread calls.
With more requests than connections, the worker threads (40 by default) could all be
taken by requests waiting for a connection while the connections were held by requests
waiting for a thread to run their endpoint: every one of them stalled until the pool's
timeout and failed with a 500.

So a request first takes one of ``slots`` admission slots, asynchronously (a waiting
request holds neither a thread nor a connection), and ``slots`` is the pool size: an
admitted request always finds a connection. Up to ``max_waiting`` further requests wait,
each at most ``wait_timeout`` seconds; past either bound the answer is **503** with
``Retry-After`` and the code ``overloaded``. ``/healthz`` and the static files skip the
queue (they do not touch the database), and so does ``/readyz`` (it uses the pool's
overflow connections).
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from meterbill.api.errors import OVERLOADED_RETRY_AFTER, edge_error

__all__ = ["Admission", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Request admission (see the module docstring); ``slots`` None: the pool size."""

    slots: int | None = None
    max_waiting: int = 2000
    wait_timeout: float = 20.0

    def __post_init__(self) -> None:
        if self.slots is not None and self.slots < 1:
            raise ValueError("slots must be at least 1")
        if self.max_waiting < 0:
            raise ValueError("max_waiting must not be negative")
        if not (self.wait_timeout > 0 and math.isfinite(self.wait_timeout)):
            raise ValueError("wait_timeout must be a positive number of seconds")


class Admission:
    """ASGI middleware admitting at most ``slots`` HTTP requests at once (see above)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        slots: int,
        max_waiting: int,
        wait_timeout: float,
        exempt: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.slots = slots
        self.max_waiting = max_waiting
        self.wait_timeout = wait_timeout
        self.exempt = tuple(exempt)
        self.waiting = 0
        self._semaphore: anyio.Semaphore | None = None

    def _slots(self) -> anyio.Semaphore:
        if self._semaphore is None:  # made in the event loop that serves the requests
            self._semaphore = anyio.Semaphore(self.slots)
            # An admitted request needs a worker thread too: never fewer threads than slots.
            limiter = anyio.to_thread.current_default_thread_limiter()
            if limiter.total_tokens < self.slots:
                limiter.total_tokens = self.slots
        return self._semaphore

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        semaphore = self._slots()
        try:
            semaphore.acquire_nowait()
        except anyio.WouldBlock:
            if self.waiting >= self.max_waiting:
                await self._overloaded(scope, receive, send, "too many requests are waiting")
                return
            self.waiting += 1
            admitted = False
            try:
                with anyio.move_on_after(self.wait_timeout):
                    await semaphore.acquire()
                    admitted = True
            finally:
                self.waiting -= 1
            if not admitted:
                await self._overloaded(
                    scope, receive, send, f"no request slot came free in {self.wait_timeout:g} s"
                )
                return
        try:
            await self.app(scope, receive, send)
        finally:
            semaphore.release()

    async def _overloaded(self, scope: Scope, receive: Receive, send: Send, why: str) -> None:
        response = edge_error(
            str(scope["path"]),
            503,
            "overloaded",
            f"the server is saturated ({why}; {self.slots} requests at once); try again shortly",
            headers={"Retry-After": str(OVERLOADED_RETRY_AFTER)},
        )
        await response(scope, receive, send)
