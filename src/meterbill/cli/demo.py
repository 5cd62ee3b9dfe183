"""``meterbill demo``: a database with two realistic customers, then the server.

It applies the demo setup (a WarpStream-like and a Typesense-like customer subscribed two
months ago), ingests their usage up to now, closes the finished months, creates keys and
prints where to look.
"""

from datetime import UTC, datetime, timedelta
from itertools import islice

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from meterbill.cli.folding import fold_all
from meterbill.db.database import Database
from meterbill.demo.data import DEMO_CUSTOMERS, demo_events, demo_setup
from meterbill.services.catalog import apply_setup, load_catalog
from meterbill.services.ingest import BatchSummary, ingest_batch, rebuild_meter
from meterbill.services.invoicing import close_periods
from meterbill.services.keys import derived_key
from meterbill.services.links import dashboard_link_token, link_secret

__all__ = ["build_demo", "dashboard_links", "run_demo"]

DASHBOARD_LINK_DAYS = 30


def build_demo(database: Database, *, now: datetime, console: Console) -> dict[str, str]:
    """Fill ``database`` with the demo; returns its keys by who they are for.

    The keys are derived from the database's own link secret (``services.keys.derived_key``),
    so a second run over the same database prints the same keys instead of new ones.
    """
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
    fold_all(database)
    with database.transaction() as session:
        issued = close_periods(session, as_of=now).issued
        seed = link_secret(session)
        keys = {
            "admin": derived_key(
                session, seed=seed, label="demo admin", customer_id=None, now=now, name="demo admin"
            )[1]
        }
        for customer in DEMO_CUSTOMERS:
            keys[customer] = derived_key(
                session,
                seed=seed,
                label=f"demo {customer}",
                customer_id=customer,
                now=now,
                name="demo",
            )[1]
    console.print(
        f"demo: {summary.accepted} events accepted ({summary.duplicate} already there), "
        f"{len(issued)} invoices issued"
    )
    return keys


def dashboard_links(
    database: Database, *, base: str, now: datetime, days: int = DASHBOARD_LINK_DAYS
) -> dict[str, str]:
    """A signed dashboard URL per demo customer, valid ``days`` days from ``now``."""
    expires = now + timedelta(days=days)
    with database.transaction() as session:
        secret = link_secret(session)
        return {
            customer: f"{base}/d/{dashboard_link_token(secret, customer, expires_at=expires)}"
            for customer in DEMO_CUSTOMERS
        }


def run_demo(url: str | None, *, host: str, port: int, serve: bool, console: Console) -> None:
    database = Database(url)
    base = f"http://{host}:{port}"
    try:
        now = datetime.now(UTC)
        keys = build_demo(database, now=now, console=console)
        dashboards = dashboard_links(database, base=base, now=now)
    finally:
        database.dispose()
    console.print(f"API docs:      {base}/docs")
    console.print(f"health:        {base}/healthz")
    for customer in DEMO_CUSTOMERS:
        console.print(f"invoices:      {base}/v1/customers/{customer}/invoices")
    for customer, link in dashboards.items():
        console.print(f"dashboard:     {link}  ({customer}, valid {DASHBOARD_LINK_DAYS} days)")
    for who, secret in keys.items():
        console.print(f"key {who:<12} {secret}")
    console.print(
        f'try: curl -H "Authorization: Bearer {keys["admin"]}" '
        f"{base}/v1/customers/{DEMO_CUSTOMERS[0]}/invoices"
    )
    if serve:
        from meterbill.cli.serve import ServeOptions
        from meterbill.cli.serve import serve as run_server

        run_server(url, ServeOptions(host=host, port=port, close_every=60.0))
