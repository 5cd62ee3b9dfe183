"""meterbill benchmark: ingest throughput and read latency on SQLite and PostgreSQL.

Run from the repository root::

    .venv/bin/python bench/run.py [--events N] [--postgres URL] [--quick] [--markdown FILE]

For each database, in one run:

1. ingest through the HTTP API: a real ``meterbill serve`` subprocess on 127.0.0.1, an admin
   key from ``meterbill keys create --admin``, ``POST /v1/events`` in batches of 1,000 from
   one sequential ``httpx`` client, then from two concurrent clients;
2. ingest through ``meterbill ingest FILE`` (a subprocess; the JSON Lines file is written
   first and not timed);
3. a plain bulk insert of the same event rows into a fresh table shaped like ``events``
   (SQLAlchemy Core ``insert`` executemany, 1,000 rows per transaction): the database's own
   speed, which 1 and 2 are compared with;
4. draft invoice and daily breakdown latency (p50 / p95) for one customer with 1,000,000
   events in 100 groups and for another with 100,000, in-process through the service
   functions and over HTTP.

Targets are reported as PASS or MISS; nothing is asserted. SQLite lives in a temporary
directory; on PostgreSQL the run creates and drops its own ``meterbill_bench_<random>``
database. See BENCHMARKS.md for results and how to read them.
"""

import argparse
import gc
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (bench/run.py): make the ``bench`` package importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from rich.console import Console
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    insert,
)

from bench.databases import postgres_database, postgres_version, sqlite_url, sqlite_version
from bench.loading import LOADERS, Tally, bulk_load, check_draft, ingest_load
from bench.operations import close_run, ingest_memory, write_lines
from bench.profiling import cprofile, folded_summary
from bench.report import Report, Row, percentile, rate_text, seconds_text, verdict
from bench.server import create_admin_key, run_cli, serve
from bench.workload import (
    EVENT_TYPE,
    GIB,
    Feed,
    cluster_ids,
    event_batches,
    month_start,
    next_month,
    setup_document,
)
from meterbill.cli.ingest import BATCH as CLI_BATCH
from meterbill.core.events import format_timestamp, parse_timestamp
from meterbill.core.periods import Span, WindowSize
from meterbill.db.base import UtcMicros, datetime_to_micros
from meterbill.db.database import Database
from meterbill.services.breakdowns import breakdown_of
from meterbill.services.catalog import apply_setup
from meterbill.services.ingest import rebuild_meter
from meterbill.services.invoicing import InvoiceView, customer_invoices
from meterbill.services.jsonio import dumps, dumps_text

POSTGRES_ENV = "METERBILL_TEST_POSTGRES_URL"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
INGEST_TARGET = {"sqlite": 60_000, "postgresql": 100_000}  # events/s (issue 12)
COPY_SHARE_TARGET = 0.3  # of the reference's rows/s, PostgreSQL (issue 12)
# The figures of issue 12 ("today"), measured before this benchmark compared with COPY.
TODAY = {
    ("postgresql", "http1"): "10.7k ev/s",
    ("postgresql", "http2"): "15.8k ev/s (0.05× COPY)",
    ("postgresql", "shared1"): "4.6k ev/s (0.02× COPY)",
    ("postgresql", "shared2"): "5.4k ev/s (0.03× COPY)",
    ("postgresql", "cli"): "13.5k ev/s",
    ("postgresql", "reference"): "321k rows/s",
    ("sqlite", "http1"): "14.9k ev/s",
    ("sqlite", "http2"): "18.5k ev/s",
    ("sqlite", "cli"): "19.4k ev/s",
    ("sqlite", "reference"): "430k rows/s",
    ("postgresql", "invoice"): "34–39 ms",
    ("sqlite", "invoice"): "34–39 ms",
    ("postgresql", "breakdown"): "107–120 ms",
    ("sqlite", "breakdown"): "107–120 ms",
    ("postgresql", "close"): "not measured",
    ("sqlite", "close"): "not measured",
    ("postgresql", "memory"): "90 MB (+93 MB per million rejected)",
    ("sqlite", "memory"): "90 MB (+93 MB per million rejected)",
}
CLOSE_TARGET = 1_000  # invoices/s, `meterbill close` (issue 12)
MEMORY_TARGET = 150.0  # MiB, peak RSS of `meterbill ingest` (issue 12)
MEMORY_SHARES = (0.0, 0.5, 1.0)  # rejected share of the peak-memory files
LATENCY_TARGET = 20.0  # ms, p50 (issue 12; 100 ms before it)
HTTP_BATCH = 1_000
LOAD_BATCH = 5_000
RAW_BATCH = 1_000
GROUPS = 100
INGEST_CUSTOMERS = tuple(f"ingest_{n:02d}" for n in range(10))
BIG = "big_customer"
SMALL = "small_customer"

progress = Console(stderr=True, highlight=False)


# --------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class Options:
    events: int
    big: int
    small: int
    runs: int
    warmup: int
    databases: tuple[str, ...]
    postgres: str
    loader: str
    month: str
    concurrent: bool
    ingest_only: bool
    markdown: Path | None
    profile: Path | None
    py_spy: Path | None
    seed: int
    close_customers: int
    memory_lines: int


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark meterbill ingest and read latency on SQLite and PostgreSQL.",
    )
    parser.add_argument("--events", type=int, help="events per ingest measurement (200,000)")
    parser.add_argument("--big", type=int, help="events of the large customer (1,000,000)")
    parser.add_argument("--small", type=int, help="events of the small customer (100,000)")
    parser.add_argument("--runs", type=int, help="timed runs per latency (30; at least 20)")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (20k / 100k / 10k events), 20 runs"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES,
        help=f"PostgreSQL server URL (default: ${POSTGRES_ENV} or {DEFAULT_POSTGRES})",
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default: both)",
    )
    parser.add_argument(
        "--loader",
        choices=LOADERS,
        default="bulk",
        help="how the large customer is loaded: bulk (default; see bench/loading.py) or "
        "ingest (ingest_batch per 5,000 events: minutes longer on PostgreSQL)",
    )
    parser.add_argument(
        "--month",
        choices=("last31", "current"),
        default="last31",
        help="billing period of the latency customers: the latest finished 31-day month, "
        "read as of its last minute (default), or the current month as of now",
    )
    parser.add_argument(
        "--no-concurrent", action="store_true", help="skip the 2-client HTTP ingest row"
    )
    parser.add_argument(
        "--ingest-only", action="store_true", help="measure ingest only (no latency rows)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--profile", type=Path, help="write cProfile reports of slow paths here")
    parser.add_argument(
        "--py-spy", type=Path, help="py-spy binary: record the server (needs --profile)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--close-customers",
        type=int,
        help="customers closed by one `meterbill close` (10,000; --quick 1,000; 0: skip)",
    )
    parser.add_argument(
        "--memory-lines",
        type=int,
        help="lines of the `meterbill ingest` peak-memory files (1,000,000; --quick "
        "50,000; 0: skip)",
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    databases = tuple(d.strip() for d in str(args.databases).split(",") if d.strip())
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown or not databases:
        parser.error(f"--databases: unknown {', '.join(sorted(unknown)) or '(none)'}")
    if args.py_spy is not None and args.profile is None:
        parser.error("--py-spy needs --profile DIR")
    runs = args.runs if args.runs is not None else (20 if quick else 30)
    if runs < 20:
        parser.error("--runs must be at least 20")
    return Options(
        events=args.events or (20_000 if quick else 200_000),
        big=args.big or (100_000 if quick else 1_000_000),
        small=args.small or (10_000 if quick else 100_000),
        runs=runs,
        warmup=2,
        databases=databases,
        postgres=str(args.postgres),
        loader=str(args.loader),
        month=str(args.month),
        concurrent=not args.no_concurrent,
        ingest_only=bool(args.ingest_only),
        markdown=args.markdown,
        profile=args.profile,
        py_spy=args.py_spy,
        seed=int(args.seed),
        close_customers=_given(args.close_customers, 1_000 if quick else 10_000),
        memory_lines=_given(args.memory_lines, 50_000 if quick else 1_000_000),
    )


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


# --------------------------------------------------------------------------- clock


@dataclass(frozen=True, slots=True)
class Clock:
    """The run's start, the latency customers' billing period and the time it is read at."""

    now: datetime
    period: Span
    as_of: datetime
    usage_end: datetime


def make_clock(month: str) -> Clock:
    now = datetime.now(UTC).replace(microsecond=0)
    if month == "current":
        start = month_start(now)
        return Clock(now, Span(start, next_month(start)), now, now - timedelta(hours=1))
    start = month_start(now)
    while True:
        start = month_start(start - timedelta(days=1))
        end = next_month(start)
        if (end - start).days == 31:
            return Clock(now, Span(start, end), end - timedelta(minutes=1), end)


# --------------------------------------------------------------------------- context


@dataclass(slots=True)
class Context:
    options: Options
    clock: Clock
    report: Report
    workdir: Path
    started: float = field(default_factory=time.perf_counter)

    def log(self, message: str) -> None:
        progress.log(f"[{time.perf_counter() - self.started:6.0f} s] {message}")


def ingest_feeds(ctx: Context, prefix: str, count: int, parts: int) -> list[Feed]:
    """``parts`` feeds of ``count`` events in all, each to its own share of the ingest
    customers (10 customers, 10 clusters each), over the 7 days before the run."""
    clusters = cluster_ids(GROUPS)
    per_customer = {
        customer: tuple(clusters[n * 10 : n * 10 + 10])
        for n, customer in enumerate(INGEST_CUSTOMERS)
    }
    end = ctx.clock.now - timedelta(hours=1)
    feeds: list[Feed] = []
    for part in range(parts):
        customers = INGEST_CUSTOMERS[part::parts]
        feeds.append(
            Feed(
                prefix=f"{prefix}{part}",
                customers=customers,
                clusters={c: per_customer[c] for c in customers},
                count=count // parts + (1 if part < count % parts else 0),
                start=end - timedelta(days=7),
                end=end,
                seed=ctx.options.seed,
            )
        )
    return feeds


def shared_feeds(ctx: Context, prefix: str, count: int, parts: int) -> list[Feed]:
    """``parts`` feeds of ``count`` events in all, every one sending every ingest customer's
    stream (10 customers × 100 clusters each, timestamps in order over the 7 days before the
    run): each batch of 1,000 holds all ten customers, and concurrent clients share them."""
    clusters = tuple(cluster_ids(GROUPS))
    end = ctx.clock.now - timedelta(hours=1)
    return [
        Feed(
            prefix=f"{prefix}{part}",
            customers=INGEST_CUSTOMERS,
            clusters=dict.fromkeys(INGEST_CUSTOMERS, clusters),
            count=count // parts + (1 if part < count % parts else 0),
            start=end - timedelta(days=7),
            end=end,
            seed=ctx.options.seed,
        )
        for part in range(parts)
    ]


def load_text() -> str:
    one, _, _ = os.getloadavg()
    return f"load {one:.1f}/{os.cpu_count()} CPUs"


def latency_feed(ctx: Context, customer: str, count: int) -> Feed:
    return Feed(
        prefix=customer,
        customers=(customer,),
        clusters={customer: tuple(cluster_ids(GROUPS))},
        count=count,
        start=ctx.clock.period.start,
        end=min(ctx.clock.usage_end, ctx.clock.period.end),
        seed=ctx.options.seed,
    )


def tallied(
    batches: Iterator[list[dict[str, object]]], tally: Tally
) -> Iterator[list[dict[str, object]]]:
    for batch in batches:
        tally.add(batch)
        yield batch


# --------------------------------------------------------------------------- ingest


@dataclass(frozen=True, slots=True)
class Throughput:
    sent: int
    accepted: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else 0.0


def _post_all(base_url: str, key: str, bodies: Sequence[bytes], accepted: list[int]) -> None:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=300) as client:
        for body in bodies:
            response = client.post("/v1/events", content=body)
            response.raise_for_status()
            count = response.json()["accepted"]
            accepted.append(int(count))


def http_ingest(base_url: str, key: str, feeds: Sequence[Feed]) -> Throughput:
    """POST each feed's batches from its own client (one thread per feed)."""
    bodies = [[dumps(batch) for batch in event_batches(feed, HTTP_BATCH)] for feed in feeds]
    results: list[list[int]] = [[] for _ in feeds]
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            _post_all(base_url, key, bodies[index], results[index])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(feeds))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return Throughput(sum(f.count for f in feeds), sum(map(sum, results)), seconds)


def cli_ingest(url: str, feed: Feed, path: Path) -> Throughput:
    with path.open("wb") as out:
        for batch in event_batches(feed, 10_000):
            out.write(b"".join(dumps(item) + b"\n" for item in batch))
    seconds, stdout = run_cli(url, "ingest", str(path))
    match = re.search(r"(\d+) accepted", stdout)
    path.unlink()
    return Throughput(feed.count, int(match.group(1)) if match else 0, seconds)


def raw_table(metadata: MetaData, name: str) -> Table:
    """A table shaped like ``events``: same columns and types, unique constraint, indexes."""
    return Table(
        name,
        metadata,
        Column(
            "id",
            BigInteger().with_variant(Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("customer_id", Text, nullable=False),
        Column("transaction_id", Text, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("timestamp", UtcMicros, nullable=False),
        Column("arrived_at", UtcMicros, nullable=False),
        Column("properties", Text, nullable=False),
        UniqueConstraint("customer_id", "transaction_id", name=f"uq_{name}"),
        Index(f"ix_{name}_cte", "customer_id", "event_type", "timestamp"),
        Index(f"ix_{name}_arrived_at", "arrived_at"),
    )


def raw_insert(engine: Engine, feed: Feed) -> Throughput:
    """The feed's rows, as ingest stores them, into a fresh table: Core executemany."""
    metadata = MetaData()
    table = raw_table(metadata, "bench_raw_events")
    metadata.create_all(engine)
    now = datetime.now(UTC)
    batches = [
        [
            {
                "customer_id": item["customer_id"],
                "transaction_id": item["transaction_id"],
                "event_type": item["event_type"],
                "timestamp": parse_timestamp(item["timestamp"]),
                "arrived_at": now,
                "properties": dumps_text(item["properties"]),
            }
            for item in batch
        ]
        for batch in event_batches(feed, RAW_BATCH)
    ]
    statement = insert(table)
    try:
        started = time.perf_counter()
        for rows in batches:
            with engine.begin() as connection:
                connection.execute(statement, rows)
        seconds = time.perf_counter() - started
    finally:
        metadata.drop_all(engine)
    count = sum(len(rows) for rows in batches)
    return Throughput(count, count, seconds)


def _reference_rows(feed: Feed) -> list[tuple[str, str, str, int, int, str]]:
    now = datetime_to_micros(datetime.now(UTC))
    return [
        (
            str(item["customer_id"]),
            str(item["transaction_id"]),
            str(item["event_type"]),
            datetime_to_micros(parse_timestamp(item["timestamp"])),
            now,
            dumps_text(item["properties"]),
        )
        for batch in event_batches(feed, RAW_BATCH)
        for item in batch
    ]


_REFERENCE_COLUMNS = "customer_id, transaction_id, event_type, timestamp, arrived_at, properties"


def copy_reference(engine: Engine, feed: Feed) -> Throughput:
    """PostgreSQL's own speed: the feed's rows, as ingest stores them (built in Python before
    the clock starts), in one ``COPY … FROM STDIN`` (psycopg 3 ``cursor.copy``) and one
    transaction, into a fresh table shaped like ``events`` (unique key and indexes)."""
    metadata = MetaData()
    raw_table(metadata, "bench_copy_events")
    metadata.create_all(engine)
    rows = _reference_rows(feed)
    connection = engine.raw_connection()
    try:
        driver = connection.driver_connection
        assert driver is not None
        started = time.perf_counter()
        with driver.cursor() as cursor:
            statement = f"COPY bench_copy_events ({_REFERENCE_COLUMNS}) FROM STDIN"
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        driver.commit()
        seconds = time.perf_counter() - started
    finally:
        connection.close()
        metadata.drop_all(engine)
    return Throughput(len(rows), len(rows), seconds)


def sqlite3_reference(directory: Path, feed: Feed) -> Throughput:
    """SQLite's own speed: the same rows with plain ``sqlite3`` ``executemany`` in one
    transaction into a fresh file with meterbill's pragmas and a table shaped like
    ``events`` (unique key and indexes)."""
    path = directory / "reference.db"
    rows = _reference_rows(feed)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL"):
            connection.execute(f"PRAGMA {pragma}")
        connection.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, "
            "transaction_id TEXT NOT NULL, event_type TEXT NOT NULL, timestamp BIGINT NOT NULL,"
            " arrived_at BIGINT NOT NULL, properties TEXT NOT NULL, "
            "UNIQUE (customer_id, transaction_id))"
        )
        connection.execute("CREATE INDEX ix_cte ON events (customer_id, event_type, timestamp)")
        connection.execute("CREATE INDEX ix_arrived ON events (arrived_at)")
        started = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany(
            f"INSERT INTO events ({_REFERENCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows
        )
        connection.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return Throughput(len(rows), len(rows), seconds)


# --------------------------------------------------------------------------- latency


def sample(work: Callable[[], object], *, runs: int, warmup: int) -> list[float]:
    """Wall times of ``runs`` calls of ``work`` in milliseconds, after ``warmup`` calls."""
    for _ in range(warmup):
        work()
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return times


class GcPauses:
    """Durations (ms) of the full (generation 2) collections while installed."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._started) * 1000)

    def __enter__(self) -> "GcPauses":
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self)


def latency_text(times: Sequence[float]) -> str:
    return f"p50 {percentile(times, 0.5):,.1f} ms · p95 {percentile(times, 0.95):,.1f} ms"


def sample_after(
    prepare: Callable[[], object], work: Callable[[], object], *, runs: int, warmup: int
) -> list[float]:
    """Like :func:`sample`, with ``prepare()`` before each call, outside the timing."""
    times: list[float] = []
    for run in range(warmup + runs):
        prepare()
        started = time.perf_counter()
        work()
        if run >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    return times


def draft_of(database: Database, customer: str, clock: Clock) -> InvoiceView:
    with database.transaction(read_only=True) as session:
        views = customer_invoices(session, customer, as_of=clock.as_of)
    for view in views:
        if view.status == "draft" and view.ref.period == clock.period:
            return view
    raise RuntimeError(f"no draft of {customer} for {clock.period}")


@dataclass(frozen=True, slots=True)
class Latencies:
    invoice: list[float]
    breakdown: list[float]
    http_invoice: list[float]
    http_breakdown: list[float]
    fresh_invoice: list[float]
    fresh_breakdown: list[float]
    windows: int
    lines: int
    gc_pauses: list[float]


def measure_latency(
    ctx: Context, database: Database, base_url: str, key: str, customer: str
) -> Latencies:
    clock = ctx.clock
    runs, warmup = ctx.options.runs, ctx.options.warmup
    view = draft_of(database, customer, clock)

    # Read transactions, as the HTTP GET routes use (and with the same read cache).
    def invoices() -> None:
        with database.transaction(read_only=True) as session:
            customer_invoices(session, customer, as_of=clock.as_of)

    windows = 0

    def breakdown() -> None:
        nonlocal windows
        with database.transaction(read_only=True) as session:
            result = breakdown_of(session, view, size=WindowSize.DAY, as_of=clock.as_of)
        windows = len(result.windows)

    with GcPauses() as pauses:
        invoice_times = sample(invoices, runs=runs, warmup=warmup)
        breakdown_times = sample(breakdown, runs=runs, warmup=warmup)
    as_of = format_timestamp(clock.as_of)
    headers = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=300) as client:

        def get(path: str, params: dict[str, str]) -> Callable[[], None]:
            def call() -> None:
                client.get(path, params=params).raise_for_status()

            return call

        http_invoice = sample(
            get(f"/v1/customers/{customer}/invoices", {"as_of": as_of}),
            runs=runs,
            warmup=warmup,
        )
        breakdown_params = {
            "starting_on": format_timestamp(clock.period.start),
            "ending_before": format_timestamp(clock.period.end),
            "window_size": "day",
            "as_of": as_of,
        }
        http_breakdown = sample(
            get(f"/v1/customers/{customer}/breakdowns", breakdown_params),
            runs=runs,
            warmup=warmup,
        )
        sent = 0

        def one_event() -> None:
            # A new event of the customer, accepted (and pending) before the timed read.
            nonlocal sent
            sent += 1
            event = {
                "transaction_id": f"{customer}-fresh-{sent:06d}",
                "customer_id": customer,
                "event_type": EVENT_TYPE,
                "timestamp": format_timestamp(clock.period.start + timedelta(hours=sent)),
                "properties": {"cluster_id": cluster_ids(1)[0], "uncompressed_bytes": 1},
            }
            reply = client.post("/v1/events", content=dumps([event]))
            reply.raise_for_status()

        fresh_invoice = sample_after(
            one_event,
            get(f"/v1/customers/{customer}/invoices", {"as_of": as_of}),
            runs=runs,
            warmup=warmup,
        )
        fresh_breakdown = sample_after(
            one_event,
            get(f"/v1/customers/{customer}/breakdowns", breakdown_params),
            runs=runs,
            warmup=warmup,
        )
    return Latencies(
        invoice_times,
        breakdown_times,
        http_invoice,
        http_breakdown,
        fresh_invoice,
        fresh_breakdown,
        windows,
        len(view.lines),
        pauses.pauses,
    )


# --------------------------------------------------------------------------- one database


def run_database(ctx: Context, name: str, url: str) -> None:
    opts, clock = ctx.options, ctx.clock
    label = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[name]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    database = Database(url)
    try:
        with database.transaction() as session:
            apply_setup(
                session,
                setup_document(
                    customers=[*INGEST_CUSTOMERS, BIG, SMALL], starts_at=clock.period.start
                ),
                now=clock.now,
                rebuild=rebuild_meter,
            )
        key = create_admin_key(url)
        startup, _ = run_cli(url, "migrate")
        wrap: list[str] = []
        folded: Path | None = None
        if opts.py_spy is not None and opts.profile is not None:
            opts.profile.mkdir(parents=True, exist_ok=True)
            folded = opts.profile / f"{name}-serve.folded"
            wrap = [str(opts.py_spy), "record", "--idle", "--format", "raw", "-o", str(folded)]
            wrap.append("--")
        with serve(url, log=ctx.workdir / f"serve-{name}.log", wrap=wrap) as server:
            ctx.log(f"{label}: serving on {server.base_url}")
            _ingest_rows(ctx, label, name, url, database, server.base_url, key, startup)
            if not opts.ingest_only:
                _latency_rows(ctx, label, database, server.base_url, key)
                _operation_rows(ctx, label, name, url)
            if opts.profile is not None and not opts.ingest_only:
                _profiles(ctx, name, database)
        if folded is not None and opts.profile is not None and folded.exists():
            summary = opts.profile / f"{name}-serve.txt"
            summary.write_text(folded_summary(folded))
            for part, within in (
                ("ingest", ("ingest_events",)),
                ("reads", ("list_invoices", "list_breakdowns")),
            ):
                path = opts.profile / f"{name}-serve-{part}.txt"
                path.write_text(folded_summary(folded, within=within))
            ctx.log(f"{label}: py-spy summary of the server in {summary}")
    finally:
        database.dispose()
        ctx.report.note(
            f"{label} part: {time.perf_counter() - started:,.0f} s; 1-minute load average "
            f"{load_before:.1f} at its start and {os.getloadavg()[0]:.1f} at its end "
            f"({os.cpu_count()} CPUs; above ~2 means other processes competed for them)."
        )


def _ingest_rows(
    ctx: Context,
    label: str,
    name: str,
    url: str,
    database: Database,
    base_url: str,
    key: str,
    startup: float,
) -> None:
    opts, report = ctx.options, ctx.report
    n = opts.events
    measured: list[tuple[str, str, Throughput, str]] = []

    def measure(code: str, text: str, work: Callable[[], Throughput]) -> None:
        ctx.log(f"{label}: {text}, {n:,} events")
        load = load_text()
        measured.append((code, text, work(), load))

    measure(
        "http1",
        "HTTP ingest, 1 client",
        lambda: http_ingest(base_url, key, ingest_feeds(ctx, "h1-", n, 1)),
    )
    if opts.concurrent:
        measure(
            "http2",
            "HTTP ingest, 2 clients",
            lambda: http_ingest(base_url, key, ingest_feeds(ctx, "h2-", n, 2)),
        )
    measure(
        "shared1",
        "HTTP ingest, 1 client, 100 groups per customer, all customers in every batch",
        lambda: http_ingest(base_url, key, shared_feeds(ctx, "s1-", n, 1)),
    )
    if opts.concurrent:
        measure(
            "shared2",
            "HTTP ingest, 2 clients both sending every customer's stream",
            lambda: http_ingest(base_url, key, shared_feeds(ctx, "s2-", n, 2)),
        )
    measure(
        "cli",
        "CLI ingest (`meterbill ingest FILE`)",
        lambda: cli_ingest(url, ingest_feeds(ctx, "cli-", n, 1)[0], ctx.workdir / f"{name}.jsonl"),
    )
    same_rows = ingest_feeds(ctx, "h1-", n, 1)[0]
    ctx.log(f"{label}: references, {n:,} rows")
    reference_load = load_text()
    if name == "postgresql":
        reference_name = "COPY"
        reference = copy_reference(database.engine, same_rows)
    else:
        reference_name = "sqlite3"
        reference = sqlite3_reference(ctx.workdir, same_rows)
    core_load = load_text()
    core = raw_insert(database.engine, same_rows)

    def versus(throughput: Throughput) -> str:
        if not reference.rate:
            return ""
        return f"{throughput.rate / reference.rate:.2f}× {reference_name}"

    size = f"{n:,} ev"
    goal = INGEST_TARGET[name]
    http_one = next((t.rate for code, _, t, _ in measured if code == "http1"), 0.0)
    for code, measurement, throughput, load in measured:
        lost = throughput.sent - throughput.accepted
        share = throughput.rate / reference.rate if reference.rate else 0.0
        if code == "cli":
            target = "≥ HTTP, 1 client"
            ok = throughput.rate >= http_one
        elif name == "postgresql":
            target = f"≥ {goal:,} events/s and ≥ {COPY_SHARE_TARGET}× COPY"
            ok = throughput.rate >= goal and share >= COPY_SHARE_TARGET
        else:
            target = f"≥ {goal:,} events/s"
            ok = throughput.rate >= goal
        report.add(
            Row(
                label,
                measurement,
                size,
                rate_text(throughput.accepted, throughput.seconds, "events")
                + (f" ({lost:,} not accepted)" if lost else "")
                + f" · {load}",
                versus(throughput),
                target,
                verdict(ok and lost == 0),
                today=TODAY.get((name, code), ""),
            ),
            console=progress,
        )
    reference_text = (
        "COPY (psycopg 3 `cursor.copy`), one transaction"
        if name == "postgresql"
        else "plain `sqlite3` executemany, one transaction"
    )
    report.add(
        Row(
            label,
            f"reference: {reference_text}",
            f"{reference.sent:,} rows",
            rate_text(reference.accepted, reference.seconds, "rows") + f" · {reference_load}",
            f"1.00× {reference_name}",
            today=TODAY.get((name, "reference"), ""),
        ),
        console=progress,
    )
    report.add(
        Row(
            label,
            "SQLAlchemy Core executemany, 1,000 rows per transaction (the old reference)",
            f"{core.sent:,} rows",
            rate_text(core.accepted, core.seconds, "rows") + f" · {core_load}",
            versus(core),
        ),
        console=progress,
    )
    report.note(
        "HTTP: batches of 1,000 events, bodies encoded before timing; 2 clients = two "
        "threads, each with its own httpx client and its own 5 of the 10 ingest customers "
        "(10 clusters each); '100 groups per customer' = every batch holds all 10 customers "
        "with 100 clusters each, and with 2 clients both send every customer's stream."
    )
    report.note(
        f"CLI: wall time of the whole `meterbill ingest` process, including its start-up "
        f"(`meterbill migrate` alone took {startup:.1f} s on {label}); "
        f"batches of {CLI_BATCH:,} events (one transaction each)."
    )
    report.note(
        "vs reference = meterbill's events/s ÷ the reference's rows/s on the same database in "
        "the same run: the same rows (those of the 1-client HTTP row, built in Python before "
        "the clock starts) into a fresh table with the columns, types, unique key and "
        "indexes of `events`. 'load' = 1-minute load average when the measurement started; "
        "this 2-CPU machine is shared with other test runs, so absolute rates are noisy and "
        "the same-run ratios are the figure to compare."
    )


def _latency_rows(ctx: Context, label: str, database: Database, base_url: str, key: str) -> None:
    opts, clock, report = ctx.options, ctx.clock, ctx.report
    tally = Tally()
    ctx.log(f"{label}: loading {opts.small:,} events of {SMALL} (ingest_batch)")
    small_load = ingest_load(
        database,
        tallied(event_batches(latency_feed(ctx, SMALL, opts.small), LOAD_BATCH), tally),
        now=datetime.now(UTC),
    )
    ctx.log(f"{label}: loading {opts.big:,} events of {BIG} ({opts.loader})")
    big_batches = tallied(event_batches(latency_feed(ctx, BIG, opts.big), LOAD_BATCH), tally)
    big_load = (
        ingest_load(database, big_batches, now=datetime.now(UTC))
        if opts.loader == "ingest"
        else bulk_load(database, BIG, big_batches, now=datetime.now(UTC))
    )
    loader_text = {
        "ingest": "ingest_batch",
        "bulk": "bulk loader",
    }
    for customer, count, load, how in (
        (SMALL, opts.small, small_load, loader_text["ingest"]),
        (BIG, opts.big, big_load, loader_text[opts.loader]),
    ):
        problem = check_draft(
            draft_of(database, customer, clock), tally, product="gib_ingress", divisor=GIB
        )
        report.add(
            Row(
                label,
                f"load {customer} ({how})",
                f"{count:,} ev",
                f"{seconds_text(load.seconds)} · {rate_text(load.accepted, load.seconds, 'ev')}"
                + (f" · DRAFT MISMATCH: {problem}" if problem else " · draft checked"),
            ),
            console=progress,
        )
    results: dict[str, Latencies] = {}
    for customer, count in ((BIG, opts.big), (SMALL, opts.small)):
        ctx.log(f"{label}: latency of {customer} ({count:,} events), {opts.runs} runs each")
        results[customer] = measure_latency(ctx, database, base_url, key, customer)
    target = f"p50 ≤ {LATENCY_TARGET:.0f} ms"
    big, small = results[BIG], results[SMALL]
    invoice_today, breakdown_today = (
        TODAY["postgresql", "invoice"],
        TODAY["postgresql", "breakdown"],
    )
    kinds: list[tuple[str, Callable[[Latencies], list[float]], str]] = [
        ("invoice draft, in-process", lambda r: r.invoice, ""),
        (f"{big.windows}-day breakdown, in-process", lambda r: r.breakdown, ""),
        ("invoice draft, HTTP", lambda r: r.http_invoice, invoice_today),
        (f"{big.windows}-day breakdown, HTTP", lambda r: r.http_breakdown, breakdown_today),
        (
            "invoice draft, HTTP, right after an event of the customer",
            lambda r: r.fresh_invoice,
            "",
        ),
        (
            f"{big.windows}-day breakdown, HTTP, right after an event of the customer",
            lambda r: r.fresh_breakdown,
            "",
        ),
    ]
    for measurement, pick, today in kinds:
        for customer, count in ((BIG, opts.big), (SMALL, opts.small)):
            times = pick(results[customer])
            report.add(
                Row(
                    label,
                    measurement,
                    f"{count:,} ev",
                    latency_text(times),
                    target=target,
                    status=verdict(percentile(times, 0.5) <= LATENCY_TARGET),
                    today=today if customer == BIG else "",
                ),
                console=progress,
            )
        ratio = percentile(pick(big), 0.5) / percentile(pick(small), 0.5)
        report.add(
            Row(label, f"  ↳ p50 growth {opts.big:,} vs {opts.small:,} events", "", f"{ratio:.2f}×")
        )
    pauses = big.gc_pauses + small.gc_pauses
    report.add(
        Row(
            label,
            "gen-2 GC pauses in the in-process latency runs",
            f"{4 * (opts.runs + opts.warmup)} calls",
            f"{len(pauses)} pauses · median {percentile(pauses, 0.5):,.0f} ms · "
            f"max {max(pauses, default=0):,.0f} ms"
            if pauses
            else "none",
        ),
        console=progress,
    )
    report.note(
        "invoice draft = customer_invoices() in-process, GET /v1/customers/{id}/invoices over "
        "HTTP; breakdown = breakdown_of(size=day) of the draft in-process, GET "
        "/v1/customers/{id}/breakdowns?window_size=day over the period via HTTP (that is "
        "customer_invoices + breakdown_of + JSON of every window and line)."
    )
    report.note(
        f"Latency customers: one `produce`-like sum meter grouped by cluster_id, {GROUPS} "
        f"clusters, priced per unit and graduated (3 tiers) plus a flat fee, so the draft has "
        f"{big.lines} lines; period {format_timestamp(clock.period.start)} → "
        f"{format_timestamp(clock.period.end)} read as of {format_timestamp(clock.as_of)}; "
        f"p50/p95 of {opts.runs} runs after {opts.warmup} warm-up runs, each in its own "
        "transaction (in-process) or request (HTTP, keep-alive client)."
    )
    report.note(
        "load = in-process, batches of 5,000, time inside meterbill only; ingest_batch = one "
        "transaction per batch; bulk loader = insert_events per batch, buckets folded in "
        "memory and written by one write_buckets call; 'draft checked' = every per-unit line "
        "of the draft equals the bytes sent for its cluster."
    )


def _operation_rows(ctx: Context, label: str, name: str, url: str) -> None:
    """`meterbill close` over many customers (a database of its own) and the peak memory of
    `meterbill ingest` (into this run's database, after every other measurement)."""
    opts, clock, report = ctx.options, ctx.clock, ctx.report
    if opts.close_customers:
        count = opts.close_customers
        ctx.log(f"{label}: `meterbill close` of {count:,} customers")
        load = load_text()
        if name == "postgresql":
            with postgres_database(opts.postgres) as close_url:
                run = close_run(
                    close_url, customers=count, events_each=10, period=clock.period, now=clock.now
                )
        else:
            folder = ctx.workdir / "close"
            folder.mkdir(exist_ok=True)
            run = close_run(
                sqlite_url(folder),
                customers=count,
                events_each=10,
                period=clock.period,
                now=clock.now,
            )
        report.add(
            Row(
                label,
                "`meterbill close` (whole process), 10 events per customer",
                f"{run.customers:,} customers",
                f"{run.invoices:,} invoices in {seconds_text(run.seconds)} · "
                f"{run.rate:,.0f} invoices/s · {load}",
                target=f"≥ {CLOSE_TARGET:,} invoices/s",
                status=verdict(run.rate >= CLOSE_TARGET and run.invoices >= run.customers),
                today=TODAY.get((name, "close"), ""),
            ),
            console=progress,
        )
    if opts.memory_lines:
        span = Span(clock.period.start, min(clock.usage_end, clock.period.end))
        for share in MEMORY_SHARES:
            path = ctx.workdir / f"memory-{name}-{share}.jsonl"
            prefix = f"mem{int(share * 100)}"
            rejected = write_lines(
                path,
                lines=opts.memory_lines,
                rejected_share=share,
                customer=INGEST_CUSTOMERS[0],
                span=span,
                prefix=prefix,
            )
            ctx.log(f"{label}: peak memory of `meterbill ingest`, {share:.0%} rejected")
            load = load_text()
            used = ingest_memory(url, path, lines=opts.memory_lines, rejected=rejected)
            path.unlink()
            report.add(
                Row(
                    label,
                    f"peak memory of `meterbill ingest FILE`, {share:.0%} of lines rejected",
                    f"{used.lines:,} lines",
                    f"{used.peak_mib:,.0f} MiB · {seconds_text(used.seconds)} · {load}",
                    target=f"≤ {MEMORY_TARGET:.0f} MiB",
                    status=verdict(used.peak_mib <= MEMORY_TARGET),
                    today=TODAY.get((name, "memory"), "") if share == 0.5 else "",
                ),
                console=progress,
            )


def _profiles(ctx: Context, name: str, database: Database) -> None:
    directory = ctx.options.profile
    assert directory is not None
    clock = ctx.clock
    ctx.log(f"{name}: profiling (cProfile) into {directory}")
    feed = ingest_feeds(ctx, "prof-", 20 * HTTP_BATCH, 1)[0]
    cprofile(
        f"{name}-ingest_batch-http-shape",
        lambda: ingest_load(database, event_batches(feed, HTTP_BATCH), now=datetime.now(UTC)),
        directory,
    )
    dense = Feed(
        prefix="prof-dense-",
        customers=(SMALL,),
        clusters={SMALL: tuple(cluster_ids(GROUPS))},
        count=10 * LOAD_BATCH,
        start=clock.period.start,
        end=min(clock.usage_end, clock.period.end),
        seed=ctx.options.seed + 1,
    )
    cprofile(
        f"{name}-ingest_batch-{SMALL}",
        lambda: ingest_load(database, event_batches(dense, LOAD_BATCH), now=datetime.now(UTC)),
        directory,
    )
    view = draft_of(database, BIG, clock)

    def invoices() -> None:
        for _ in range(5):
            with database.transaction() as session:
                customer_invoices(session, BIG, as_of=clock.as_of)

    def breakdowns() -> None:
        for _ in range(5):
            with database.transaction() as session:
                breakdown_of(session, view, size=WindowSize.DAY, as_of=clock.as_of)

    cprofile(f"{name}-customer_invoices-{BIG}", invoices, directory)
    cprofile(f"{name}-breakdown_of-{BIG}", breakdowns, directory)


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    clock = make_clock(opts.month)
    report = Report(title="meterbill benchmark")
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    with tempfile.TemporaryDirectory(prefix="meterbill-bench-") as tmp:
        ctx = Context(opts, clock, report, Path(tmp))
        ctx.log(
            f"sizes: ingest {opts.events:,} events, latency {opts.big:,} and {opts.small:,} "
            f"events, {opts.runs} runs; databases: {', '.join(opts.databases)}"
        )
        failed = False
        for name in opts.databases:
            try:
                if name == "sqlite":
                    ctx.report.note(f"SQLite {sqlite_version()} (file in a temporary directory)")
                    sqlite_dir = Path(tmp) / "sqlite"
                    sqlite_dir.mkdir()
                    run_database(ctx, name, sqlite_url(sqlite_dir))
                else:
                    ctx.report.note(
                        f"PostgreSQL {postgres_version(opts.postgres)} (a throw-away "
                        "meterbill_bench_<random> database on the given server)"
                    )
                    with postgres_database(opts.postgres) as url:
                        run_database(ctx, name, url)
            except Exception as error:
                failed = True
                progress.print(traceback.format_exc(), markup=False)
                report.add(Row(name, "run failed", "", f"{type(error).__name__}: {error}"))
        ctx.log("done")
    report.note(f"Total run time {time.perf_counter() - ctx.started:,.0f} s.")
    report.print(console)
    if opts.markdown is not None:
        opts.markdown.parent.mkdir(parents=True, exist_ok=True)
        opts.markdown.write_text(report.markdown())
        progress.log(f"wrote {opts.markdown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
