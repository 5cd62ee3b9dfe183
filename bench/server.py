"""The real ``meterbill`` command: a ``serve`` subprocess on 127.0.0.1, keys, CLI runs.

The one place that starts, waits for and stops ``meterbill serve`` processes: the benchmark
uses it, and so do the tests that need a real server (``tests/compat``, ``tests/browser``,
``tests/reliability``). Every wait has a limit, and a process is always stopped (SIGINT to
its process group, SIGKILL if it does not exit) when its context ends.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

__all__ = [
    "ServeProcess",
    "ServerError",
    "create_admin_key",
    "free_port",
    "meterbill",
    "run_cli",
    "serve",
]


class ServerError(RuntimeError):
    """``meterbill serve`` exited, or did not answer ``/healthz`` in time."""


def meterbill() -> Path:
    """The ``meterbill`` script of the virtualenv this Python runs in."""
    return Path(sys.executable).parent / "meterbill"


def run_cli(database: str, *args: str, timeout: float = 3600) -> tuple[float, str]:
    """Run ``meterbill --database URL ARGS``; its wall time in seconds and its stdout."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(meterbill()), "--database", database, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"meterbill {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-2000:]}"
        )
    return elapsed, done.stdout


def create_admin_key(database: str, *, name: str = "bench") -> str:
    """A new admin API key: ``meterbill keys create --admin`` prints the secret last."""
    _, out = run_cli(database, "keys", "create", "--admin", "--name", name, timeout=120)
    return out.strip().splitlines()[-1].strip()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServeProcess:
    """``meterbill --database URL serve`` on 127.0.0.1, on a port that stays the same across
    restarts, its output appended to ``log``.

    ``close_every`` is the background closer's interval (0: off); ``options`` are more
    ``serve`` options (``--clock T``, say). ``wrap`` prefixes the command (a sampling
    profiler, say). The process gets its own session, so stopping or
    killing it reaches a wrapper and its child alike.
    """

    def __init__(
        self,
        database: str,
        *,
        log: Path,
        close_every: float = 0.0,
        wrap: Sequence[str] = (),
        startup: float = 60.0,
        env: Mapping[str, str] | None = None,
        options: Sequence[str] = (),
    ) -> None:
        self.database = database
        self.log = log
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._command = [
            *wrap,
            str(meterbill()),
            "--database",
            database,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--close-every",
            str(close_every),
            *options,
        ]
        self._startup = startup
        self._env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until ``/healthz`` answers 200."""
        assert not self.running(), "already running"
        with self.log.open("ab") as sink:
            self._process = subprocess.Popen(
                self._command,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self._env,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL: the process dies at once, whatever it was doing (no clean shutdown)."""
        self._signal(signal.SIGKILL, wait=10)

    def stop(self, *, grace: float = 30) -> None:
        """SIGINT (uvicorn shuts down cleanly), then SIGKILL after ``grace`` seconds."""
        try:
            self._signal(signal.SIGINT, wait=grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart_after_kill(self) -> None:
        """Kill -9, then start again on the same port and database."""
        self.kill()
        self.start()

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def _signal(self, number: int, *, wait: float) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(os.getpgid(process.pid), number)
        process.wait(timeout=wait)

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._startup
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerError(
                    f"meterbill serve exited {self._process.returncode}: {self.log_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise ServerError(
            f"meterbill serve did not answer /healthz in {self._startup:.0f} s: "
            f"{self.log_text()[-3000:]}"
        )


@contextmanager
def serve(
    database: str,
    *,
    log: Path,
    wrap: Sequence[str] = (),
    startup: float = 60.0,
    close_every: float = 0.0,
) -> Iterator[ServeProcess]:
    """A started :class:`ServeProcess` (no background closer unless ``close_every``); it is
    stopped when the block ends, however it ends."""
    server = ServeProcess(database, log=log, wrap=wrap, startup=startup, close_every=close_every)
    try:
        server.start()
        yield server
    finally:
        server.stop()
