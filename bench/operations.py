"""Two measurements of meterbill's commands as an operator runs them (issue 12):

* ``close_run``: ``meterbill close`` over many customers with usage in an ended period,
  on a database of its own, timed as a whole process: invoices issued per second;
* ``ingest_memory``: the peak resident memory of ``meterbill ingest FILE`` (its
  ``VmHWM``), on a file with a given share of rejected lines.
"""

import random
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.loading import ingest_load
from bench.server import meterbill
from bench.workload import EVENT_TYPE, cluster_ids, setup_document
from meterbill.core.events import format_timestamp
from meterbill.core.periods import Span
from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup
from meterbill.services.ingest import rebuild_meter
from meterbill.services.jsonio import dumps

__all__ = ["CloseRun", "MemoryRun", "close_run", "ingest_memory", "write_lines"]

LOAD_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class CloseRun:
    customers: int
    events: int
    invoices: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.invoices / self.seconds if self.seconds else 0.0


def close_run(
    url: str, *, customers: int, events_each: int, period: Span, now: datetime
) -> CloseRun:
    """``customers`` customers subscribed from ``period``'s start, ``events_each`` events each
    inside it (loaded in-process and folded, not timed), then ``meterbill close --as-of
    now``, timed; every ended period of every customer is issued."""
    ids = [f"close_{n:06d}" for n in range(customers)]
    database = Database(url)
    try:
        with database.transaction() as session:
            apply_setup(
                session,
                setup_document(customers=ids, starts_at=period.start),
                now=now,
                rebuild=rebuild_meter,
            )
        rng = random.Random(customers)
        step = (period.end - period.start) / max(events_each, 1)
        clusters = cluster_ids(3)

        def batches() -> list[list[dict[str, object]]]:
            items: list[dict[str, object]] = [
                {
                    "transaction_id": f"{customer}-{number:04d}",
                    "customer_id": customer,
                    "event_type": EVENT_TYPE,
                    "timestamp": format_timestamp(period.start + step * number),
                    "properties": {
                        "cluster_id": clusters[rng.randrange(len(clusters))],
                        "uncompressed_bytes": rng.randrange(1, 64 * 1024**2),
                    },
                }
                for customer in ids
                for number in range(events_each)
            ]
            return [items[i : i + LOAD_BATCH] for i in range(0, len(items), LOAD_BATCH)]

        loaded = ingest_load(database, batches(), now=now)
    finally:
        database.dispose()
    started = time.perf_counter()
    done = subprocess.run(
        [str(meterbill()), "--database", url, "close", "--as-of", format_timestamp(now)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"meterbill close exited {done.returncode}: {done.stderr[-2000:]}")
    issued = sum(1 for line in done.stdout.splitlines() if line.startswith("issued #"))
    return CloseRun(customers, loaded.accepted, issued, seconds)


@dataclass(frozen=True, slots=True)
class MemoryRun:
    lines: int
    rejected: int
    peak_mib: float
    seconds: float


def write_lines(
    path: Path, *, lines: int, rejected_share: float, customer: str, span: Span, prefix: str
) -> int:
    """A JSON Lines file of ``lines`` events of ``customer`` inside ``span``, the given share
    of them rejected (a timestamp that is no time); the number of rejected lines."""
    rng = random.Random(f"{prefix}:{lines}:{rejected_share}")
    step = (span.end - span.start) / max(lines, 1)
    every = round(1 / rejected_share) if rejected_share else 0
    rejected = 0
    clusters = cluster_ids(10)
    with path.open("wb") as output:
        for number in range(lines):
            bad = bool(every) and number % every == 0
            rejected += bad
            event = {
                "transaction_id": f"{prefix}-{number:09d}",
                "customer_id": customer,
                "event_type": EVENT_TYPE,
                "timestamp": "not a time" if bad else format_timestamp(span.start + step * number),
                "properties": {
                    "cluster_id": clusters[rng.randrange(len(clusters))],
                    "uncompressed_bytes": rng.randrange(1, 64 * 1024**2),
                },
            }
            output.write(dumps(event) + b"\n")
    return rejected


def _peak_kib(pid: int) -> int | None:
    """``VmHWM`` of a running process (its peak resident memory since it exec'd), in KiB."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def ingest_memory(url: str, path: Path, *, lines: int, rejected: int) -> MemoryRun:
    """Run ``meterbill ingest --allow-rejects --rejects FILE`` on ``path``; its peak RSS.

    The peak is ``VmHWM`` read every 20 ms while the process runs (not ``wait4``'s
    ``ru_maxrss``: a child forked from this process starts with this process's resident
    size, which exec does not reset).
    """
    rejects = path.with_suffix(".rejects.jsonl")
    command = [
        str(meterbill()),
        "--database",
        url,
        "ingest",
        "--allow-rejects",
        "--rejects",
        str(rejects),
        str(path),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _peak_kib(process.pid) or 0)
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    assert process.stderr is not None
    errors = process.stderr.read()
    if process.returncode != 0:
        raise RuntimeError(f"meterbill ingest exited {process.returncode}: {errors[-2000:]!r}")
    rejects.unlink(missing_ok=True)
    return MemoryRun(lines, rejected, peak / 1024, seconds)
