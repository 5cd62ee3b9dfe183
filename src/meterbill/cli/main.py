"""The ``meterbill`` command line: apply, ingest, close, invoices, keys, webhooks, serve,
demo.

Every command opens the database (migrating a fresh one), does its work in one transaction
(``ingest``: one per batch) and turns billing errors into a message and exit code 1, never
a traceback.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
)
from rich.table import Table

from meterbill import __version__
from meterbill.cli.folding import fold_all
from meterbill.cli.ids import short_ids
from meterbill.cli.ingest import (
    REJECTED_EXIT,
    FileRejects,
    IngestProgress,
    RejectSink,
    StderrRejects,
    ingest_lines,
    report,
)
from meterbill.cli.webhooks import webhooks_app
from meterbill.core.errors import BillingError, InvalidSetup
from meterbill.core.events import format_timestamp
from meterbill.core.money import money_text
from meterbill.core.numbers import format_money, format_quantity, format_unit_price
from meterbill.core.periods import parse_instant
from meterbill.db.database import Database
from meterbill.services import invoicing, keys
from meterbill.services.catalog import apply_setup, current_setup
from meterbill.services.ingest import rebuild_meter
from meterbill.services.jsonio import dumps
from meterbill.services.setupio import load_setup_document
from meterbill.views.invoice import credit_note_document, invoice_document

if TYPE_CHECKING:
    from meterbill.cli.serve import ServeOptions

__all__ = ["app", "main", "serve_options"]

app = typer.Typer(
    name="meterbill",
    help="Self-hosted usage-based billing: meter, price, invoice and break down usage.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
invoices_app = typer.Typer(
    help="List and show invoices, write their PDFs, record payments, void them and issue "
    "credit notes.",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(invoices_app, name="invoices")
app.add_typer(keys_app, name="keys")
links_app = typer.Typer(help="Signed links to pages that open without a key.", no_args_is_help=True)
app.add_typer(links_app, name="links")
app.add_typer(webhooks_app, name="webhooks")

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A user-facing failure: printed as ``error: …`` with exit code 1."""


def _now() -> datetime:
    return datetime.now(UTC)


def _time(value: str | None, option: str) -> datetime | None:
    return None if value is None else parse_instant(value, option)


def _print_version(value: bool) -> None:
    if value:
        stdout.print(f"meterbill {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            envvar="METERBILL_DATABASE_URL",
            help="Database URL or SQLite path (default: sqlite:///meterbill.db).",
        ),
    ] = None,
) -> None:
    ctx.obj = database


@contextmanager
def _database(ctx: typer.Context) -> Iterator[Database]:
    url = ctx.find_root().obj
    database = Database(url if isinstance(url, str) else None)
    try:
        yield database
    finally:
        database.dispose()


def _load_setup(path: Path) -> object:
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror}") from None
    try:
        return load_setup_document(data, source=str(path))
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text") from None


@app.command("apply")
def apply_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Setup file (YAML or JSON), - for stdin.")],
) -> None:
    """Apply a setup file: create or update meters, products, plans and customers."""
    document = _load_setup(file)
    with _database(ctx) as database, database.transaction() as session:
        try:
            report = apply_setup(session, document, now=_now(), rebuild=rebuild_meter)
        except InvalidSetup as error:
            raise CliError(f"{file}: {error}") from None
    stdout.print(
        f"applied {file}: {len(report.created)} created, {len(report.updated)} updated, "
        f"{report.unchanged} unchanged"
        + (f"; rebuilt meters {', '.join(report.rebuilt)}" if report.rebuilt else "")
    )


@app.command("prices")
def prices_command(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every product's price versions: its price, then each price change (spec 5.1)."""
    with _database(ctx) as database, database.transaction() as session:
        document = current_setup(session)
    rows: list[dict[str, object]] = []
    products = document.get("products")
    for product in products if isinstance(products, list) else []:
        assert isinstance(product, dict)
        rows.append({"product": product["key"], "from": None, "price": product["price"]})
        for change in product.get("price_changes", []):
            rows.append(
                {
                    "product": product["key"],
                    "from": change["effective_from"],
                    "price": change["price"],
                }
            )
    if json_output:
        _print_json({"data": rows})
        return
    table = Table(title="Price versions")
    for column in ("product", "from", "price"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["product"]), str(row["from"] or "(start)"), dumps(row["price"]).decode()
        )
    stdout.print(table)


@app.command("ingest")
def ingest_command(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="JSON Lines file of events, - for stdin.")],
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            help='Write rejected lines to this file as JSON Lines ({"line", "transaction_id",'
            ' "reason"}) instead of stderr.',
        ),
    ] = None,
    allow_rejects: Annotated[
        bool,
        typer.Option(
            "--allow-rejects",
            help=f"Exit 0 even if lines were rejected (otherwise exit {REJECTED_EXIT}).",
        ),
    ] = False,
) -> None:
    """Ingest usage events from a JSON Lines file, in constant memory.

    Each rejected line is reported once its batch is stored: on stderr, or in --rejects.

    The summary (accepted, duplicate, rejected) goes to stdout.

    Exit code: 0 when no line was rejected; 3 when some were (0 with --allow-rejects).

    Exit code 1: the file or the database cannot be used.
    """
    try:
        stream: BinaryIO = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    except OSError as error:
        raise CliError(f"cannot read {file}: {error.strerror}") from None
    try:
        output = None if rejects is None else rejects.open("wb")
    except OSError as error:
        stream.close()
        raise CliError(f"cannot write {rejects}: {error.strerror}") from None
    sink: RejectSink = StderrRejects(stderr) if output is None else FileRejects(output)
    size = None if file == "-" else Path(file).stat().st_size
    progress = IngestProgress(stderr, stream, size)
    with stream, progress.progress, _database(ctx) as database, output or nullcontext():

        def after_batch(events: int) -> None:
            sink.flush()
            progress.advance(events)

        summary = report(ingest_lines(database, stream, clock=_now, after_batch=after_batch), sink)
        fold_all(database)  # so that reads after this find the buckets complete
    stdout.print(
        f"{summary.accepted} accepted, {summary.duplicate} duplicate, {summary.rejected} rejected"
    )
    if summary.rejected and not allow_rejects:
        where = f"listed in {rejects}" if rejects is not None else "listed above"
        stderr.print(
            f"error: {summary.rejected} line(s) rejected ({where}); --allow-rejects exits 0 anyway",
            markup=False,
        )
        raise typer.Exit(REJECTED_EXIT)


@app.command("close")
def close_command(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="RFC 3339 time (default: now).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow an --as-of time in the future.")
    ] = False,
) -> None:
    """Finalize every draft whose period end + grace period ≤ the given time.

    Each customer is closed on its own: one whose invoice cannot be computed is reported
    (and the exit status is 1) while every other customer is still closed.
    """
    now = _now()
    moment = _time(as_of, "--as-of") or now
    if moment > now and not force:
        raise CliError(
            f"--as-of {format_timestamp(moment)} is in the future (now is "
            f"{format_timestamp(now)}): closing it would issue invoices for periods that "
            "have not ended; pass --force to do it anyway"
        )
    progress = Progress(
        TextColumn("closing"),
        BarColumn(),
        MofNCompleteColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )
    with progress, _database(ctx) as database, database.transaction() as session:
        task = progress.add_task("customers", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = invoicing.close_periods(session, as_of=moment, progress=advance)
    # Once committed, as plain text: customer ids are not markup, and 10,000 lines through
    # Rich take longer than the close itself.
    stdout.file.write(
        "".join(
            f"issued #{view.number} {view.customer.id} {format_timestamp(view.ref.period.start)}"
            f" → {format_timestamp(view.ref.period.end)} total "
            f"{money_text(view.totals.total, view.currency)} {view.currency} ({view.status})\n"
            for view in result.issued
        )
    )
    stdout.file.flush()
    stdout.print(f"{len(result.issued)} invoice(s) issued as of {format_timestamp(moment)}")
    if result.failed:
        for failure in result.failed:
            stderr.print(
                f"error: customer {failure.customer_id!r} not closed: {failure.message}",
                markup=False,
            )
        stderr.print(
            f"{len(result.failed)} customer(s) not closed; every other customer was closed",
            markup=False,
        )
        raise typer.Exit(1)


def _read_time(as_of: str | None) -> datetime:
    """The ``--as-of`` of a read: now by default, at most a bounded time ahead."""
    now = _now()
    moment = _time(as_of, "--as-of")
    return now if moment is None else invoicing.check_as_of(moment, now=now, name="--as-of")


def _print_json(value: object) -> None:
    sys.stdout.write(dumps(value).decode() + "\n")


_WIDEST_TABLE = 1000


def _print_table(table: Table) -> None:
    """Print a table at the terminal's width (80 columns when not a terminal), or wider when
    its no-wrap columns need it: an id, a quantity or an amount is never cut to "…"; only
    text columns (line names, groups) wrap."""
    options = stdout.options.update_width(_WIDEST_TABLE)
    needed = Measurement.get(stdout, options, table).maximum
    for column in table.columns:
        if not column.no_wrap:  # it may shrink to its longest word; a no-wrap one may not
            sizes = [
                Measurement.get(stdout, options, cell) for cell in (column.header, *column.cells)
            ]
            needed -= max(size.maximum for size in sizes) - max(size.minimum for size in sizes)
    if needed <= stdout.width:
        stdout.print(table)
        return
    Console(file=stdout.file, width=needed, highlight=False, soft_wrap=True).print(table)


INVOICE_HELP = "Invoice number (42 or #42), id, or a unique prefix of its id."
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Read as of this time (default: now): what the drafts hold then."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the native API's JSON.")]


@invoices_app.command("list")
def invoices_list(
    ctx: typer.Context,
    customer: Annotated[str, typer.Option("--customer", help="Customer id.")],
    json_output: Json = False,
    as_of: AsOf = None,
) -> None:
    """List a customer's invoices: issued ones and the live drafts."""
    with _database(ctx) as database, database.transaction() as session:
        moment = _read_time(as_of)
        views = invoicing.customer_invoices(session, customer, as_of=moment)
    documents = [invoice_document(view) for view in views]
    if json_output:
        _print_json({"data": documents, "next_cursor": None})
        return
    table = Table(
        title=f"Invoices of {customer}",
        caption="ids are shortened: any unique prefix of an id works" if documents else None,
    )
    short = short_ids(view.id for view in views)
    for column in ("id", "number", "period", "status"):
        table.add_column(column, no_wrap=True, justify="right" if column == "number" else "left")
    for column in ("subtotal", "tax", "credits", "total", "due"):
        table.add_column(column, justify="right", no_wrap=True)
    for view in views:
        table.add_row(
            short[view.id],
            str(view.number or "—"),
            f"{view.ref.period.start:%Y-%m-%d} → {view.ref.period.end:%Y-%m-%d}",
            view.status,
            *(
                format_money(amount, view.currency)
                for amount in (
                    view.totals.subtotal,
                    view.totals.tax,
                    view.totals.credits_applied,
                    view.totals.total,
                    view.amount_due,
                )
            ),
        )
    _print_table(table)


@invoices_app.command("show")
def invoices_show(
    ctx: typer.Context,
    invoice_id: Annotated[str, typer.Argument(help=INVOICE_HELP)],
    json_output: Json = False,
    as_of: AsOf = None,
) -> None:
    """Show one invoice with its lines (a live draft too)."""
    with _database(ctx) as database, database.transaction() as session:
        moment = _read_time(as_of)
        view = invoicing.find_invoice(
            session,
            invoicing.resolve_invoice(session, invoice_id, drafts_as_of=moment),
            as_of=moment,
        )
    doc = invoice_document(view)
    if json_output:
        _print_json({"data": doc})
        return
    table = Table(
        title=f"Invoice {doc['number'] or '(draft)'} · {view.customer.name} · "
        f"{str(doc['period_start'])[:10]} → {str(doc['period_end'])[:10]} · {doc['status']}"
    )
    table.add_column("line")
    table.add_column("group")
    for column in ("quantity", "unit price", "amount"):
        table.add_column(column, justify="right", no_wrap=True)
    currency = view.currency
    for line in view.lines:
        table.add_row(
            line.name,
            ", ".join(v for _, v in line.group),
            format_quantity(line.quantity),
            "" if line.unit_price is None else format_unit_price(line.unit_price, currency),
            format_money(line.amount, currency),
        )
    _print_table(table)
    totals = view.totals
    stdout.print(
        f"subtotal {format_money(totals.subtotal, currency)}  "
        f"tax {format_money(totals.tax, currency)}  "
        f"credits {format_money(totals.credits_applied, currency)}  "
        f"total {format_money(totals.total, currency)}  "
        f"amount due {format_money(view.amount_due, currency)}  ({currency})",
        markup=False,
    )
    stdout.print(f"id {doc['id']}")


@invoices_app.command("pdf")
def invoices_pdf(
    ctx: typer.Context,
    invoice_id: Annotated[str, typer.Argument(help=INVOICE_HELP + " A live draft's too.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="PDF file to write, - for stdout.")
    ],
    paper: Annotated[str, typer.Option("--paper", help="Paper size: a4 or letter.")] = "a4",
    as_of: AsOf = None,
) -> None:
    """Write one invoice as a PDF, the same as its page; a draft is marked DRAFT."""
    from meterbill.api.pages import invoice_pdf
    from meterbill.views import pdf

    size = next((known for known in pdf.PAPERS if known == paper.strip().lower()), None)
    if size is None:
        raise CliError(f"--paper must be one of {', '.join(pdf.PAPERS)}, got {paper!r}")
    with _database(ctx) as database, database.transaction() as session:
        moment = _read_time(as_of)
        view = invoicing.find_invoice(
            session,
            invoicing.resolve_invoice(session, invoice_id, drafts_as_of=moment),
            as_of=moment,
        )
        sheet = pdf.read_sheet(session, view)
    document = invoice_pdf(sheet, paper=size)
    if str(output) == "-":
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(document)
    except OSError as error:
        raise CliError(f"cannot write {output}: {error.strerror}") from None
    stdout.print(f"wrote {output}: {sheet.title} ({sheet.status}), {len(document):,} bytes")


@invoices_app.command("pay")
def invoices_pay(
    ctx: typer.Context,
    invoice: Annotated[str, typer.Argument(help=INVOICE_HELP)],
    amount: Annotated[str, typer.Option("--amount", help="Amount paid, e.g. 12.50.")],
    at: Annotated[
        str | None, typer.Option("--at", help="RFC 3339 time of the payment (default: now).")
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="The payment's reference.")
    ] = None,
) -> None:
    """Record a payment; one above the amount due, or on an invoice that is not issued, is
    refused."""
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise CliError(f"--amount: {amount!r} is not a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise CliError(f"--amount: {amount!r} must be a number above 0")
    moment = _time(at, "--at") or _now()
    with _database(ctx) as database, database.transaction() as session:
        view = invoicing.record_payment(
            session,
            invoicing.resolve_invoice(session, invoice),
            amount=value,
            now=moment,
            reference=reference,
        )
    stdout.print(
        f"paid {money_text(value, view.currency)} {view.currency} on invoice #{view.number}: "
        f"{view.status}, amount due {money_text(view.amount_due, view.currency)} {view.currency}"
    )


@invoices_app.command("void")
def invoices_void(
    ctx: typer.Context,
    invoice: Annotated[str, typer.Argument(help=INVOICE_HELP)],
    write_off: Annotated[
        bool,
        typer.Option(
            "--write-off",
            help="Write the period off: no replacement, and its late usage is never billed.",
        ),
    ] = False,
) -> None:
    """Void an issued invoice with no payment and no credit note; its period returns to
    draft and the next close issues a replacement (unless --write-off)."""
    with _database(ctx) as database, database.transaction() as session:
        view = invoicing.void_invoice(
            session, invoicing.resolve_invoice(session, invoice), now=_now(), write_off=write_off
        )
    what = "wrote off" if write_off else "voided"
    stdout.print(f"{what} invoice #{view.number} of {view.customer.id}")


@invoices_app.command("credit")
def invoices_credit(
    ctx: typer.Context,
    invoice: Annotated[str, typer.Argument(help=INVOICE_HELP)],
    amount: Annotated[str, typer.Option("--amount", help="Amount credited, e.g. 30.00.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the invoice is credited.")],
    at: Annotated[
        str | None,
        typer.Option("--at", help="RFC 3339 time the credit note takes effect (default: now)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the credit note as JSON.")] = False,
) -> None:
    """Issue a credit note on an issued or paid invoice; what exceeds the amount due becomes
    the credit grant credit-note-<number>."""
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise CliError(f"--amount: {amount!r} is not a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise CliError(f"--amount: {amount!r} must be a number above 0")
    now = _now()
    moment = _time(at, "--at") or now
    with _database(ctx) as database, database.transaction() as session:
        note = invoicing.issue_credit_note(
            session,
            invoicing.resolve_invoice(session, invoice),
            amount=value,
            reason=reason,
            at=moment,
            now=now,
        )
    if as_json:
        _print_json({"data": credit_note_document(note)})
        return
    currency = note.currency
    granted = (
        f", {money_text(note.granted, currency)} {currency} became grant {note.grant}"
        if note.grant
        else ""
    )
    stdout.print(
        f"credit note #{note.number} of {money_text(note.amount, currency)} {currency} on "
        f"invoice #{note.invoice_number}: {money_text(note.off_due, currency)} {currency} off "
        f"the amount due{granted}"
    )


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    admin: Annotated[bool, typer.Option("--admin", help="A key that sees everything.")] = False,
    customer: Annotated[
        str | None, typer.Option("--customer", help="A key for one customer.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label for the key.")] = None,
) -> None:
    """Create an API key; its secret is the last line printed."""
    if admin == (customer is not None):
        raise CliError("give exactly one of --admin or --customer ID")
    with _database(ctx) as database, database.transaction() as session:
        key_id, secret = keys.create_key(session, customer_id=customer, now=_now(), name=name)
    stdout.print(f"created {'admin' if admin else 'customer'} key {key_id}")
    sys.stdout.write(secret + "\n")


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List API keys (never their secrets)."""
    with _database(ctx) as database, database.transaction() as session:
        rows = keys.list_keys(session)
    table = Table(title="API keys")
    for column in ("id", "kind", "customer", "name", "created", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            *(
                ("" if row[k] is None else str(row[k]))
                for k in ("id", "kind", "customer_id", "name", "created_at", "revoked_at")
            )
        )
    stdout.print(table)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="Key id.")]) -> None:
    """Revoke an API key."""
    with _database(ctx) as database, database.transaction() as session:
        keys.revoke_key(session, key_id, now=_now())
    stdout.print(f"revoked key {key_id}")


@links_app.command("dashboard")
def links_dashboard(
    ctx: typer.Context,
    customer: Annotated[str, typer.Option("--customer", help="Customer id.")],
    days: Annotated[
        int, typer.Option("--days", min=1, max=3650, help="Days the link stays valid.")
    ] = 30,
    base_url: Annotated[
        str, typer.Option("--base-url", help="Where meterbill serve answers.")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Print a signed link to a customer's usage dashboard (it needs no key to open)."""
    from meterbill.services import links
    from meterbill.services.catalog import load_customer

    expires = _now() + timedelta(days=days)
    with _database(ctx) as database, database.transaction() as session:
        load_customer(session, customer)
        token = links.dashboard_link_token(links.link_secret(session), customer, expires_at=expires)
    stderr.print(f"dashboard of {customer}, valid until {format_timestamp(expires)}", markup=False)
    sys.stdout.write(f"{base_url.rstrip('/')}/d/{token}\n")


@app.command("migrate")
def migrate_command(ctx: typer.Context) -> None:
    """Create or upgrade the database schema."""
    with _database(ctx) as database:
        stdout.print(f"database {database.dialect} is up to date")


def _setting(name: str, default: object, help: str, *decls: str) -> Any:
    """A ``serve`` option that may come from ``METERBILL_<NAME>`` instead (the option wins;
    ``meterbill.cli.settings.ServeSettings`` reads the variables and checks the values)."""
    shown = str(default).lower() if isinstance(default, bool) else str(default)
    env = "METERBILL_" + name.upper().replace("-", "_")
    return typer.Option(
        *decls,
        help=f"{help} Env: {env}.",
        show_default=shown if default is not None else False,
    )


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    host: Annotated[str | None, _setting("host", "127.0.0.1", "Address to listen on.")] = None,
    port: Annotated[int | None, _setting("port", 8000, "Port to listen on.")] = None,
    close_every: Annotated[
        float | None,
        _setting("close_every", 60.0, "Seconds between background closes (0: off)."),
    ] = None,
    fold_every: Annotated[
        float | None,
        _setting(
            "fold_every",
            0.5,
            "Seconds between folds of accepted events into usage buckets (0: off; reads "
            "count pending events meanwhile, but get slower as they pile up).",
        ),
    ] = None,
    alert_interval: Annotated[
        float | None,
        _setting(
            "alert_interval",
            15.0,
            "Seconds between spend-alert passes (0: off); an alert fires within about this "
            "long of the event that crossed it.",
        ),
    ] = None,
    clock: Annotated[
        str | None,
        _setting(
            "clock",
            None,
            "Serve as if it were always this RFC 3339 time (demos, screenshots); "
            "default: the real time.",
        ),
    ] = None,
    db_connections: Annotated[
        int | None,
        _setting(
            "db_connections",
            10,
            "Requests working on the database at once; the pool keeps as many "
            "connections (and opens as many again for the closer, /readyz and /metrics).",
        ),
    ] = None,
    max_waiting: Annotated[
        int | None,
        _setting("max_waiting", 2000, "Requests that may wait for a slot; more get 503."),
    ] = None,
    wait_timeout: Annotated[
        float | None,
        _setting("wait_timeout", 20.0, "Seconds a request may wait for a slot, then 503."),
    ] = None,
    max_connections: Annotated[
        int | None,
        _setting(
            "max_connections",
            None,
            "Open connections at most; one more gets 503 and is closed "
            "(default: 4096, or less under a lower open-file limit).",
        ),
    ] = None,
    timeout_keep_alive: Annotated[
        float | None,
        _setting("timeout_keep_alive", 5.0, "Seconds an idle keep-alive connection stays open."),
    ] = None,
    timeout_header: Annotated[
        float | None,
        _setting(
            "timeout_header", 10.0, "Seconds a connection has to send a complete request head."
        ),
    ] = None,
    max_header_bytes: Annotated[
        int | None,
        _setting("max_header_bytes", 16384, "Largest request head (request line and headers)."),
    ] = None,
    backlog: Annotated[
        int | None,
        _setting("backlog", 1024, "Connections the kernel queues before they are accepted."),
    ] = None,
    log_level: Annotated[
        str | None,
        _setting("log_level", "info", "Lowest level logged: debug, info, warning or error."),
    ] = None,
    log_format: Annotated[
        str | None,
        _setting(
            "log_format",
            "auto",
            "json (one object per line), console (human-readable) or auto "
            "(json unless stderr is a terminal).",
        ),
    ] = None,
    metrics: Annotated[
        bool | None,
        _setting(
            "metrics", True, "Serve Prometheus metrics at /metrics.", "--metrics/--no-metrics"
        ),
    ] = None,
    webhook_poll: Annotated[
        float | None,
        _setting(
            "webhook_poll", 1.0, "Seconds between looks for webhooks to deliver (0: no sender)."
        ),
    ] = None,
    webhook_timeout: Annotated[
        float | None,
        _setting("webhook_timeout", 10.0, "Seconds a webhook receiver has to answer."),
    ] = None,
    webhook_retry_schedule: Annotated[
        str | None,
        _setting(
            "webhook_retry_schedule",
            "5s,5m,30m,2h,5h,10h,10h",
            "Delays before each webhook retry; after the last, the delivery has failed.",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API and close ended periods in the background.

    Each option may come from its environment variable; the option given here wins."""
    from meterbill.cli.serve import serve

    options = serve_options(
        host=host,
        port=port,
        close_every=close_every,
        fold_every=fold_every,
        clock=clock,
        db_connections=db_connections,
        max_waiting=max_waiting,
        wait_timeout=wait_timeout,
        max_connections=max_connections,
        timeout_keep_alive=timeout_keep_alive,
        timeout_header=timeout_header,
        max_header_bytes=max_header_bytes,
        backlog=backlog,
        log_level=log_level,
        log_format=log_format,
        metrics=metrics,
        alert_interval=alert_interval,
        webhook_poll=webhook_poll,
        webhook_timeout=webhook_timeout,
        webhook_retry_schedule=webhook_retry_schedule,
    )
    url = ctx.find_root().obj
    serve(url if isinstance(url, str) else None, options)


def serve_options(**given: Any) -> "ServeOptions":
    """The options of ``serve``: the environment's ``METERBILL_…`` settings overridden by
    ``given`` (the command-line options; ``None``: not given)."""
    from meterbill.cli.serve import ServeOptions
    from meterbill.cli.settings import ServeSettings, SettingsError
    from meterbill.cli.webhook_sender import parse_schedule

    try:
        settings = ServeSettings.load(**given)
    except SettingsError as error:
        raise CliError(f"invalid setting: {error}") from None
    values = settings.model_dump()
    values["clock"] = _time(
        settings.clock, "--clock" if given.get("clock") is not None else "METERBILL_CLOCK"
    )
    try:
        values["webhook_retry_schedule"] = parse_schedule(settings.webhook_retry_schedule)
    except ValueError as error:
        source = (
            "--webhook-retry-schedule"
            if given.get("webhook_retry_schedule") is not None
            else "METERBILL_WEBHOOK_RETRY_SCHEDULE"
        )
        raise CliError(f"{source}: {error}") from None
    return ServeOptions(**values)


@app.command("demo")
def demo_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after building.")] = True,
) -> None:
    """Build a demo database (two customers, two months of usage) and serve it."""
    from meterbill.cli.demo import run_demo

    url = ctx.find_root().obj
    run_demo(
        url if isinstance(url, str) else None, host=host, port=port, serve=serve, console=stderr
    )


def main() -> None:
    """Entry point: run the app, turning every failure into one line on stderr."""
    try:
        code = app(standalone_mode=False)
        # Without standalone mode click returns a command's typer.Exit code instead.
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (CliError, BillingError) as error:
        stderr.print(f"error: {error}", markup=False)
        sys.exit(1)
    except typer.Abort:
        stderr.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
    except Exception as error:
        if isinstance(error, SystemExit):
            raise
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        stderr.print(f"error: {type(error).__name__}: {error}", markup=False)
        sys.exit(1)
