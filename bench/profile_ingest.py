"""Profile ``ingest_batch`` in-process with pyinstrument on the benchmark's shared stream.

Run from the repository root::

    .venv/bin/python bench/profile_ingest.py [--events N] [--database sqlite|postgresql]

Creates a throw-away database (as ``bench/run.py`` does), applies the benchmark catalog,
ingests batches of 1,000 events of 10 customers × 100 clusters (every customer in every
batch, one transaction per batch, as the HTTP route does) and prints pyinstrument's text
report (the ``--top`` heaviest frames). The HTTP layer is not in it: run ``bench/run.py
--profile DIR --py-spy .venv/bin/py-spy`` for the server as a whole.
"""

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyinstrument import Profiler

from bench.databases import postgres_database, sqlite_url
from bench.loading import ingest_load
from bench.workload import Feed, cluster_ids, event_batches, month_start, setup_document
from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup
from meterbill.services.ingest import rebuild_meter

CUSTOMERS = tuple(f"ingest_{n:02d}" for n in range(10))


def profile(url: str, events: int) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    database = Database(url)
    try:
        with database.transaction() as session:
            apply_setup(
                session,
                setup_document(customers=list(CUSTOMERS), starts_at=month_start(now)),
                now=now,
                rebuild=rebuild_meter,
            )
        clusters = tuple(cluster_ids(100))
        feed = Feed(
            prefix="prof-",
            customers=CUSTOMERS,
            clusters=dict.fromkeys(CUSTOMERS, clusters),
            count=events,
            start=now - timedelta(days=7),
            end=now - timedelta(hours=1),
        )
        batches = list(event_batches(feed, 1_000))
        profiler = Profiler(interval=0.001)
        profiler.start()
        load = ingest_load(database, batches, now=now)
        profiler.stop()
    finally:
        database.dispose()
    header = (
        f"{load.accepted:,} events in {load.seconds:.1f} s "
        f"({load.accepted / load.seconds:,.0f} events/s in-process); "
        f"1-minute load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
    )
    return header + profiler.output_text(unicode=True, color=False, show_all=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/profile_ingest.py")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("METERBILL_TEST_POSTGRES_URL")
        or "postgresql://postgres@127.0.0.1:5432/test",
    )
    args = parser.parse_args(argv)
    if args.database == "sqlite":
        with tempfile.TemporaryDirectory(prefix="meterbill-prof-") as tmp:
            print(profile(sqlite_url(Path(tmp)), args.events))
    else:
        with postgres_database(args.postgres) as url:
            print(profile(url, args.events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
