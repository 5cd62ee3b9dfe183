"""``meterbill webhooks``: add, list, delete and rotate endpoints; list and re-send deliveries.

Billing errors (an unknown endpoint, a bad URL or event type) leave as the ``error: …`` line
and exit code 1 of ``meterbill.cli.main.main``.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from meterbill.db.database import Database
from meterbill.services import webhooks
from meterbill.services.jsonio import dumps
from meterbill.views.webhooks import attempt_document, delivery_document, endpoint_document

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(
    help="Webhook endpoints (Standard Webhooks) and their deliveries.", no_args_is_help=True
)
stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

Json = Annotated[bool, typer.Option("--json", help="Print the native API's JSON.")]


@contextmanager
def _database(ctx: typer.Context) -> Iterator[Database]:
    url = ctx.find_root().obj
    database = Database(url if isinstance(url, str) else None)
    try:
        yield database
    finally:
        database.dispose()


def _now() -> datetime:
    return datetime.now(UTC)


def _print_json(value: object) -> None:
    sys.stdout.write(dumps(value).decode() + "\n")


def _show_secret(document: dict[str, object], what: str) -> None:
    stdout.print(f"{what} webhook endpoint {document['id']} → {document['url']}", markup=False)
    stderr.print(
        "its signing secret is the last line; it is not shown again (rotate to get a new one)",
        markup=False,
    )
    sys.stdout.write(f"{document['secret']}\n")


@webhooks_app.command("add")
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to POST: an http or https URL.")],
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            help="Comma-separated event types (default: every type): "
            + ", ".join(webhooks.EVENT_TYPES),
        ),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="A label for the endpoint.")
    ] = None,
    json_output: Json = False,
) -> None:
    """Register a webhook endpoint; its signing secret is the last line printed."""
    types = [] if events is None else [name for name in events.split(",") if name.strip()]
    with _database(ctx) as database, database.transaction() as session:
        view, secret = webhooks.create_endpoint(
            session, url=url, event_types=types, description=description, now=_now()
        )
    document = endpoint_document(view, secret=secret)
    if json_output:
        _print_json({"data": document})
        return
    _show_secret(document, "added")


@webhooks_app.command("list")
def list_endpoints(ctx: typer.Context, json_output: Json = False) -> None:
    """List webhook endpoints (never their secrets)."""
    with _database(ctx) as database, database.transaction(read_only=True) as session:
        documents = [endpoint_document(view) for view in webhooks.list_endpoints(session)]
    if json_output:
        _print_json({"data": documents})
        return
    table = Table(title="Webhook endpoints")
    for column in ("id", "url", "event types", "description", "created"):
        table.add_column(column, overflow="fold")
    for document in documents:
        types = document["event_types"]
        assert isinstance(types, list)
        table.add_row(
            str(document["id"]),
            str(document["url"]),
            ", ".join(str(name) for name in types) or "(all)",
            str(document["description"] or ""),
            str(document["created_at"]),
        )
    stdout.print(table)


@webhooks_app.command("delete")
def delete(
    ctx: typer.Context,
    endpoint_id: Annotated[str, typer.Argument(help="Endpoint id (ep_…).")],
    json_output: Json = False,
) -> None:
    """Delete an endpoint with its pending deliveries and its attempt log."""
    with _database(ctx) as database, database.transaction() as session:
        webhooks.delete_endpoint(session, endpoint_id)
    if json_output:
        _print_json({"data": {"id": endpoint_id, "deleted": True}})
        return
    stdout.print(f"deleted webhook endpoint {endpoint_id}", markup=False)


@webhooks_app.command("rotate")
def rotate(
    ctx: typer.Context,
    endpoint_id: Annotated[str, typer.Argument(help="Endpoint id (ep_…).")],
    json_output: Json = False,
) -> None:
    """A new signing secret (the last line printed); the previous one keeps signing beside
    it for 24 hours."""
    with _database(ctx) as database, database.transaction() as session:
        view, secret = webhooks.rotate_secret(session, endpoint_id, now=_now())
    document = endpoint_document(view, secret=secret)
    if json_output:
        _print_json({"data": document})
        return
    stderr.print(
        f"the previous secret signs too until {document['previous_secret_valid_until']}",
        markup=False,
    )
    _show_secret(document, "rotated the secret of")


@webhooks_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    endpoint_id: Annotated[str, typer.Argument(help="Endpoint id (ep_…).")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Attempts shown.")] = 50,
    json_output: Json = False,
) -> None:
    """The endpoint's delivery attempts, newest first."""
    with _database(ctx) as database, database.transaction(read_only=True) as session:
        documents = [
            attempt_document(view)
            for view in webhooks.endpoint_attempts(session, endpoint_id, limit=limit)
        ]
    if json_output:
        _print_json({"data": documents, "next_cursor": None})
        return
    table = Table(title=f"Delivery attempts to {endpoint_id}")
    for column in ("at", "message", "event type", "attempt", "status", "outcome", "error"):
        table.add_column(column, overflow="fold")
    for document in documents:
        table.add_row(
            str(document["at"]),
            str(document["message_id"]),
            str(document["event_type"]),
            str(document["attempt"]),
            "" if document["status_code"] is None else str(document["status_code"]),
            str(document["outcome"]),
            str(document["error"] or ""),
        )
    stdout.print(table)


@webhooks_app.command("resend")
def resend(
    ctx: typer.Context,
    endpoint_id: Annotated[str, typer.Argument(help="Endpoint id (ep_…).")],
    message_id: Annotated[str, typer.Argument(help="Message id (msg_…, the webhook-id).")],
    json_output: Json = False,
) -> None:
    """Send a failed (or delivered) message again; ``meterbill serve`` delivers it."""
    with _database(ctx) as database, database.transaction() as session:
        view = webhooks.resend(session, endpoint_id, message_id, now=_now())
    if json_output:
        _print_json({"data": delivery_document(view)})
        return
    stdout.print(
        f"message {message_id} ({view.event_type}) is pending again for {endpoint_id}",
        markup=False,
    )
