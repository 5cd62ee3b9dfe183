"""CLI polish (issue 11): short invoice ids, prefixes, the ingest progress, demo keys."""

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from meterbill.cli.ids import short_ids
from meterbill.cli.ingest import IngestProgress
from tests.cli.test_cli import SETUP, event, run


def test_short_ids_are_unique_prefixes_of_at_least_eight_characters() -> None:
    ids = [
        "0e3725668e06-aaaa",
        "0e3725669e06-bbbb",
        "abcdef01-1111",
        "12345678-2222",
        "12345679-3333",
    ]
    short = short_ids(ids)
    assert short["0e3725668e06-aaaa"] == "0e3725668"
    assert short["0e3725669e06-bbbb"] == "0e3725669"
    assert short["abcdef01-1111"] == "abcdef01"
    # Digits only would read as an invoice number: lengthened to hold the dash.
    assert short["12345678-2222"] == "12345678-"
    assert short["12345679-3333"] == "12345679-"
    assert len(set(short.values())) == len(ids)
    assert short_ids([]) == {}


def test_ingest_progress_counts_events_and_their_rate() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    stream = io.BytesIO(b"x" * 1000)
    stream.seek(600)
    progress = IngestProgress(console, stream, size=1000)
    with progress.progress:
        progress.advance(5000)
        progress.advance(2500)
        task = progress.progress.tasks[0]
        assert task.fields["events"] == 7500
        assert task.completed == 600  # the bar follows the bytes read
        assert task.total == 1000
        columns = progress.progress.columns
        text = " ".join(str(column.render(task)) for column in columns if hasattr(column, "render"))
    assert "7,500 events" in text
    assert "bytes" not in text


def test_ingest_progress_is_off_without_a_terminal(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    setup = tmp_path / "setup.yaml"
    setup.write_text(SETUP)
    assert run(db, "apply", str(setup)).returncode == 0
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(event(f"e{i}") for i in range(7)) + "\n")
    done = run(db, "ingest", str(events))
    assert done.returncode == 0
    assert done.stdout.strip() == "7 accepted, 0 duplicate, 0 rejected"
    assert done.stderr == ""


def test_invoices_by_short_id_and_prefix(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    setup = tmp_path / "setup.yaml"
    setup.write_text(SETUP)
    assert run(db, "apply", str(setup)).returncode == 0
    events = tmp_path / "events.jsonl"
    events.write_text(event("e1") + "\n" + event("e2", when="2026-02-03T00:00:00Z") + "\n")
    assert run(db, "ingest", str(events)).returncode == 0
    assert run(db, "close", "--as-of", "2026-02-02T00:00:00Z").returncode == 0
    listed = json.loads(
        run(
            db,
            "invoices",
            "list",
            "--customer",
            "acme",
            "--json",
            "--as-of",
            "2026-02-10T00:00:00Z",
        ).stdout
    )["data"]
    issued, draft = listed
    table = run(
        db, "invoices", "list", "--customer", "acme", "--as-of", "2026-02-10T00:00:00Z"
    ).stdout
    assert issued["id"] not in table
    assert draft["id"] not in table
    short = short_ids([issued["id"], draft["id"]])
    assert short[issued["id"]] in table
    assert short[draft["id"]] in table
    assert "any unique prefix" in table
    shown = run(db, "invoices", "show", short[issued["id"]], "--json")
    assert json.loads(shown.stdout)["data"]["id"] == issued["id"]
    shown = run(
        db, "invoices", "show", short[draft["id"]], "--json", "--as-of", "2026-02-10T00:00:00Z"
    )
    assert json.loads(shown.stdout)["data"]["id"] == draft["id"]
    text = run(db, "invoices", "show", short[issued["id"]]).stdout
    assert f"id {issued['id']}" in text
    paid = run(db, "invoices", "pay", issued["id"][:9], "--amount", issued["total"])
    assert paid.returncode == 0, paid.stderr
    assert "paid 0.25 USD on invoice #1: paid" in paid.stdout
    # A draft cannot be paid: its prefix is not an issued invoice.
    refused = run(db, "invoices", "pay", draft["id"][:9], "--amount", "1")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ")


def test_invoices_help_promises_only_what_exists() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "meterbill", "invoices", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    commands = {"list", "show", "pdf", "pay", "void", "credit"}
    for command in commands:
        assert f"│ {command} " in done.stdout
    assert "record payments" in done.stdout
    assert "credit notes" in done.stdout
    for command in ("show", "pay", "void", "credit", "pdf"):
        help_text = subprocess.run(
            [sys.executable, "-m", "meterbill", "invoices", command, "--help"],
            capture_output=True,
            text=True,
            check=True,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        ).stdout
        assert "unique prefix of its id" in help_text


@pytest.mark.parametrize("runs", [2])
def test_demo_reuses_its_keys_on_a_second_run(tmp_path: Path, runs: int) -> None:
    from meterbill.cli.demo import build_demo
    from meterbill.db.database import Database
    from meterbill.services.keys import authenticate, list_keys

    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    database = Database(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        printed = [build_demo(database, now=now, console=Console(quiet=True)) for _ in range(runs)]
        assert printed[0] == printed[1]
        with database.transaction() as session:
            assert len(list_keys(session)) == 3
            admin = authenticate(session, printed[0]["admin"])
            assert admin is not None
            assert admin.is_admin
            stream = authenticate(session, printed[0]["acme-stream"])
            assert stream is not None
            assert stream.customer_id == "acme-stream"
    finally:
        database.dispose()
