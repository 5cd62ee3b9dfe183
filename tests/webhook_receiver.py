"""A real webhook receiver on 127.0.0.1 for the tests: an ``http.server`` in a thread.

Every request is recorded (its ``webhook-id``, the parsed body, the monotonic time it
arrived) and its signature checked with the Standard Webhooks library against each of the
receiver's secrets; ``status`` decides the answer (200 by default). ``hold`` makes the
receiver keep the first requests waiting until it is released (to kill a sender while a
delivery is in flight).
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

__all__ = ["Received", "Receiver", "receiver"]


@dataclass(frozen=True, slots=True)
class Received:
    webhook_id: str
    timestamp: str
    signature: str
    body: dict[str, Any] | None
    verified_with: tuple[int, ...]  # indexes of the secrets that verified the signature
    arrived: float  # time.monotonic()


@dataclass
class Receiver:
    url: str
    secrets: list[str] = field(default_factory=list)
    status: Callable[[Received], int] = lambda _: 200
    received: list[Received] = field(default_factory=list)
    held: int = 0  # how many of the next requests wait for release
    release: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        with self.lock:
            return [item.webhook_id for item in self.received]

    def wait_for(self, check: Callable[[list[Received]], bool], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if check(list(self.received)):
                    return
            time.sleep(0.05)
        with self.lock:
            got = [(item.webhook_id, item.body and item.body.get("type")) for item in self.received]
        raise TimeoutError(f"the receiver did not get what was expected in {timeout} s: {got}")


def _handler(state: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            verified: list[int] = []
            body: dict[str, Any] | None = None
            for index, secret in enumerate(state.secrets):
                try:
                    body = Webhook(secret).verify(raw, headers)
                    verified.append(index)
                except WebhookVerificationError:
                    pass
            item = Received(
                webhook_id=headers.get("webhook-id", ""),
                timestamp=headers.get("webhook-timestamp", ""),
                signature=headers.get("webhook-signature", ""),
                body=body,
                verified_with=tuple(verified),
                arrived=time.monotonic(),
            )
            with state.lock:
                state.received.append(item)
                hold = state.held > 0
                if hold:
                    state.held -= 1
            if hold:
                state.holding.set()
                state.release.wait(60)
            code = state.status(item)
            try:
                self.send_response(code)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender is gone (killed while this request was held)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def receiver(*secrets: str) -> Iterator[Receiver]:
    """A receiver listening on a free port of 127.0.0.1 until the block ends."""
    state = Receiver(url="", secrets=list(secrets))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
