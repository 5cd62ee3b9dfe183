"""``meterbill demo``: a database with two realistic customers, then the server.

It applies the demo setup (a WarpStream-like and a Typesense-like customer subscribed two
months ago), ingests their usage up to now, closes the finished months, creates keys and
prints where to look.
"""

from datetime import UTC, datetime
from itertools import islice

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup, load_catalog
from meterbill.services.demo import DEMO_CUSTOMERS, demo_events, demo_setup
from meterbill.services.ingest import BatchSummary, ingest_batch, rebuild_meter
from meterbill.services.invoicing import close_periods
from meterbill.services.keys import create_key

__all__ = ["build_demo", "run_demo"]


def build_demo(database: Database, *, now: datetime, console: Console) -> dict[str, str]:
    """Fill ``database`` with the demo; returns the new keys by who they are for."""
    with database.transaction() as session:
        apply_setup(session, demo_setup(now=now), now=now, rebuild=rebuild_meter)
    summary = BatchSummary()
    events = demo_events(now=now)
    progress = Progress(
        TextColumn("demo usage"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("events", total=None)
        while batch := list(islice(events, 2000)):
            with database.transaction() as session:
                summary.add(ingest_batch(session, load_catalog(session), batch, now=now))
            progress.advance(task, len(batch))
    with database.transaction() as session:
        issued = close_periods(session, as_of=now)
        keys = {"admin": create_key(session, customer_id=None, now=now, name="demo admin")[1]}
        for customer in DEMO_CUSTOMERS:
            keys[customer] = create_key(session, customer_id=customer, now=now, name="demo")[1]
    console.print(
        f"demo: {summary.accepted} events accepted ({summary.duplicate} already there), "
        f"{len(issued)} invoices issued"
    )
    return keys


def run_demo(url: str | None, *, host: str, port: int, serve: bool, console: Console) -> None:
    database = Database(url)
    try:
        keys = build_demo(database, now=datetime.now(UTC), console=console)
    finally:
        database.dispose()
    base = f"http://{host}:{port}"
    console.print(f"API docs:      {base}/docs")
    console.print(f"health:        {base}/healthz")
    for customer in DEMO_CUSTOMERS:
        console.print(f"invoices:      {base}/v1/customers/{customer}/invoices")
    for who, secret in keys.items():
        console.print(f"key {who:<12} {secret}")
    console.print(
        f'try: curl -H "Authorization: Bearer {keys["admin"]}" '
        f"{base}/v1/customers/{DEMO_CUSTOMERS[0]}/invoices"
    )
    if serve:
        from meterbill.cli.serve import serve as run_server

        run_server(url, host=host, port=port, close_every=60.0)
