"""The real ``meterbill`` command: a ``serve`` subprocess on 127.0.0.1, keys, CLI runs."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["Server", "create_admin_key", "meterbill", "run_cli", "serve"]


def meterbill() -> Path:
    """The ``meterbill`` script of the virtualenv this benchmark runs in."""
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


def create_admin_key(database: str) -> str:
    """A new admin API key: ``meterbill keys create --admin`` prints the secret last."""
    _, out = run_cli(database, "keys", "create", "--admin", "--name", "bench")
    return out.strip().splitlines()[-1].strip()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Server:
    base_url: str
    pid: int
    log: Path


@contextmanager
def serve(
    database: str, *, log: Path, wrap: Sequence[str] = (), startup: float = 60.0
) -> Iterator[Server]:
    """``meterbill --database URL serve --port P --close-every 0`` on 127.0.0.1.

    ``wrap`` prefixes the command (a sampling profiler, say). The process gets its own
    session; on exit its group is sent SIGINT, so uvicorn (and a wrapper) shut down cleanly.
    """
    port = _free_port()
    command = [
        *wrap,
        str(meterbill()),
        "--database",
        database,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--close-every",
        "0",
    ]
    base_url = f"http://127.0.0.1:{port}"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_ready(base_url, process, log, startup)
            yield Server(base_url, process.pid, log)
        finally:
            _stop(process)


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"meterbill serve exited {process.returncode}: {_tail(log)}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"meterbill serve did not answer /healthz in {limit:.0f} s: {_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    group = os.getpgid(process.pid)
    os.killpg(group, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        process.wait(timeout=10)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"
