"""The CLI contract: names, flags, outputs, and clear errors (never a traceback)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SETUP = """
meters:
  - {key: calls, name: Calls, event_type: call, aggregation: count, group_by: [region]}
products:
  - key: calls
    name: API calls
    meter: calls
    price: {model: per_unit, unit_price: "0.25"}
plans:
  - {key: basic, name: Basic, interval: month, products: [calls]}
customers:
  - id: acme
    name: Acme
    aliases: [acme-alias]
    subscriptions: [{plan: basic, starts_at: "2026-01-01T00:00:00Z"}]
"""


def run(db: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "meterbill", "--database", db, *args],
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "Traceback" not in done.stdout, done.stdout
    return done


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def setup_file(tmp_path: Path) -> Path:
    path = tmp_path / "setup.yaml"
    path.write_text(SETUP)
    return path


def event(txid: str, customer: str = "acme", when: str = "2026-01-05T10:00:00Z") -> str:
    return json.dumps(
        {
            "transaction_id": txid,
            "customer_id": customer,
            "event_type": "call",
            "timestamp": when,
            "properties": {"region": "eu"},
        }
    )


def test_apply_ingest_close_and_read_back(db: str, setup_file: Path, tmp_path: Path) -> None:
    assert run(db, "apply", str(setup_file)).returncode == 0
    again = run(db, "apply", str(setup_file))
    assert "0 created, 0 updated, 4 unchanged" in again.stdout
    lines = [
        event("e1"),
        event("e2", customer="acme-alias"),
        event("e1"),
        "{not json",
        "",
        event("e3", customer="nobody"),
        event("e4", when="1999-12-31T23:00:00Z"),
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n")
    ingested = run(db, "ingest", str(events))
    assert ingested.returncode == 0
    assert ingested.stdout.strip().endswith("2 accepted, 1 duplicate, 3 rejected")
    assert "line 4: invalid JSON" in ingested.stderr
    assert "line 6: unknown customer 'nobody'" in ingested.stderr
    assert "line 7: timestamp 1999-12-31T23:00:00Z is before 2000-01-01" in ingested.stderr
    closed = run(db, "close", "--as-of", "2026-02-02T00:00:00Z")
    assert "issued #1 acme 2026-01-01T00:00:00Z → 2026-02-01T00:00:00Z total 0.50" in closed.stdout
    listed = json.loads(
        run(
            db,
            "invoices",
            "list",
            "--customer",
            "acme",
            "--json",
            "--as-of",
            "2026-02-02T00:00:00Z",
        ).stdout
    )
    assert [(i["status"], i["number"], i["total"]) for i in listed["data"]] == [
        ("issued", 1, "0.5"),
        ("draft", None, "0"),
    ]
    assert listed["next_cursor"] is None
    shown = json.loads(run(db, "invoices", "show", listed["data"][0]["id"], "--json").stdout)
    assert shown["data"]["lines"][0]["quantity"] == "2"
    assert shown["data"] == listed["data"][0]


def test_ingest_reads_stdin(db: str, setup_file: Path) -> None:
    run(db, "apply", str(setup_file))
    done = run(db, "ingest", "-", stdin=event("s1") + "\n" + event("s2") + "\n")
    assert done.stdout.strip().endswith("2 accepted, 0 duplicate, 0 rejected")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param(
            "meters: [{key: a, name: A, event_type: e, aggregation: count, colour: red}]",
            "meters[0].colour: unknown field 'colour'",
            id="unknown field",
        ),
        pytest.param(
            "products:\n  - {key: p, name: P, meter: nope, price: {model: per_unit, "
            "unit_price: '1'}}",
            "products[0].meter: unknown meter 'nope'",
            id="unknown meter",
        ),
        pytest.param("meters: [\n  {key: a,\n", "at line 3", id="broken YAML names the line"),
    ],
)
def test_bad_setup_is_rejected_with_where(
    db: str, tmp_path: Path, document: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(document)
    done = run(db, "apply", str(path))
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert message in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["close", "--as-of", "yesterday"],
            "--as-of: timestamp 'yesterday' is not RFC 3339",
            id="bad as-of",
        ),
        pytest.param(
            ["invoices", "show", "no-such-invoice"],
            "invoice 'no-such-invoice' not found",
            id="unknown invoice",
        ),
        pytest.param(
            ["invoices", "list", "--customer", "ghost"],
            "customer 'ghost' not found",
            id="unknown customer",
        ),
        pytest.param(
            ["keys", "create"],
            "give exactly one of --admin or --customer ID",
            id="key kind missing",
        ),
        pytest.param(["keys", "revoke", "nope"], "key 'nope' not found", id="unknown key"),
        pytest.param(
            ["ingest", "/no/such/file.jsonl"], "cannot read /no/such/file.jsonl", id="missing file"
        ),
    ],
)
def test_errors_are_one_clear_line(
    db: str, setup_file: Path, args: list[str], message: str
) -> None:
    run(db, "apply", str(setup_file))
    done = run(db, *args)
    assert done.returncode != 0
    assert message in done.stderr


def test_keys_create_list_revoke(db: str, setup_file: Path) -> None:
    run(db, "apply", str(setup_file))
    created = run(db, "keys", "create", "--customer", "acme")
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("mb_")
    key_id = secret.split("_")[1]
    assert key_id in run(db, "keys", "list").stdout
    assert run(db, "keys", "revoke", key_id).returncode == 0
    assert "already revoked" in run(db, "keys", "revoke", key_id).stderr
