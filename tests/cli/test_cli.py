"""The CLI contract: names, flags, outputs, and clear errors (never a traceback)."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
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
    assert ingested.returncode == 3
    assert ingested.stdout.strip().endswith("2 accepted, 1 duplicate, 3 rejected")
    assert ingested.stderr.splitlines() == [
        "rejected line 4: invalid JSON: Expecting property name enclosed in double quotes at "
        "column 2",
        "rejected line 6: unknown customer 'nobody'",
        "rejected line 7: timestamp 1999-12-31T23:00:00Z is before 2000-01-01T00:00:00Z",
        "error: 3 line(s) rejected (listed above); --allow-rejects exits 0 anyway",
    ]
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
        ("issued", 1, "0.50"),
        ("draft", None, "0.00"),
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


def test_close_refuses_a_time_in_the_future_unless_forced(db: str, setup_file: Path) -> None:
    run(db, "apply", str(setup_file))
    ahead = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    refused = run(db, "close", "--as-of", ahead)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: --as-of {ahead} is in the future")
    assert "pass --force" in refused.stderr
    assert "issued" not in refused.stdout
    listed = json.loads(run(db, "invoices", "list", "--customer", "acme", "--json").stdout)
    assert {i["status"] for i in listed["data"]} == {"draft"}
    forced = run(db, "close", "--as-of", ahead, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "issued #1 acme 2026-01-01T00:00:00Z" in forced.stdout


def test_reads_refuse_an_as_of_too_far_ahead(db: str, setup_file: Path) -> None:
    run(db, "apply", str(setup_file))
    done = run(db, "invoices", "list", "--customer", "acme", "--as-of", "2099-12-01T00:00:00Z")
    assert done.returncode == 1
    assert "error: --as-of 2099-12-01T00:00:00Z is too far ahead: at most 366 days" in (done.stderr)


BIG_SETUP = """
meters:
  - {key: units, name: Units, event_type: call, aggregation: sum, property: units}
products:
  - {key: calls, name: Calls, meter: units, price: {model: per_unit, unit_price: "0.25"}}
  - {key: units, name: Units, meter: units, price: {model: per_unit, unit_price: "999999999999999"}}
plans:
  - {key: basic, name: Basic, interval: month, products: [calls]}
  - {key: huge, name: Huge, interval: month, products: [units]}
customers:
  - {id: acme, name: Acme, subscriptions: [{plan: basic, starts_at: "2026-01-01T00:00:00Z"}]}
  - {id: big, name: Big, subscriptions: [{plan: huge, starts_at: "2026-01-01T00:00:00Z"}]}
  - {id: zeta, name: Zeta, subscriptions: [{plan: basic, starts_at: "2026-01-01T00:00:00Z"}]}
"""


def units(txid: str, customer: str, amount: int) -> str:
    return json.dumps(
        {
            "transaction_id": txid,
            "customer_id": customer,
            "event_type": "call",
            "timestamp": "2026-01-05T10:00:00Z",
            "properties": {"units": amount},
        }
    )


def test_close_reports_a_customer_that_cannot_be_invoiced_and_closes_the_others(
    db: str, tmp_path: Path
) -> None:
    (tmp_path / "big.yaml").write_text(BIG_SETUP)
    assert run(db, "apply", str(tmp_path / "big.yaml")).returncode == 0
    lines = [units("a", "acme", 4), units("b1", "big", 6000), units("b2", "big", 4000)]
    (tmp_path / "events.jsonl").write_text("\n".join([*lines, units("z", "zeta", 8)]) + "\n")
    assert run(db, "ingest", str(tmp_path / "events.jsonl")).returncode == 0
    closed = run(db, "close", "--as-of", "2026-02-02T00:00:00Z")
    assert closed.returncode == 1
    assert "issued #1 acme 2026-01-01T00:00:00Z → 2026-02-01T00:00:00Z total 1.00" in (
        closed.stdout
    )
    assert "issued #2 zeta 2026-01-01T00:00:00Z → 2026-02-01T00:00:00Z total 2.00" in (
        closed.stdout
    )
    assert (
        "error: customer 'big' not closed: customer 'big', product 'units', period "
        "2026-01-01T00:00:00Z → 2026-02-01T00:00:00Z: amount 9999999999999990000"
    ) in closed.stderr
    assert "1 customer(s) not closed; every other customer was closed" in closed.stderr
    shown = run(db, "invoices", "list", "--customer", "big", "--as-of", "2026-02-02T00:00:00Z")
    assert shown.returncode == 1
    assert "customer 'big', product 'units', period 2026-01-01T00:00:00Z" in shown.stderr


def test_pay_and_void_by_number(db: str, setup_file: Path, tmp_path: Path) -> None:
    run(db, "apply", str(setup_file))
    (tmp_path / "events.jsonl").write_text(event("e1") + "\n" + event("e2") + "\n")
    run(db, "ingest", str(tmp_path / "events.jsonl"))
    run(db, "close", "--as-of", "2026-03-02T00:00:00Z")  # January 0.50 (#1), February 0 (#2)
    over = run(db, "invoices", "pay", "1", "--amount", "999999.00")
    assert over.returncode == 1
    assert "payment of 999999.00 USD on invoice 1 is above the amount due, 0.50 USD" in (
        over.stderr
    )
    part = run(db, "invoices", "pay", "#1", "--amount", "0.20", "--at", "2026-03-03T00:00:00Z")
    assert part.returncode == 0, part.stderr
    assert "paid 0.20 USD on invoice #1: issued, amount due 0.30 USD" in part.stdout
    voided = run(db, "invoices", "void", "1")
    assert voided.returncode == 1
    assert "only issued, unpaid invoices can be voided" in voided.stderr
    rest = run(db, "invoices", "pay", "1", "--amount", "0.30")
    assert "paid 0.30 USD on invoice #1: paid, amount due 0.00 USD" in rest.stdout
    assert (
        "payments go on issued invoices" in run(db, "invoices", "pay", "2", "--amount", "1").stderr
    )
    assert "invoice number 9 not found" in run(db, "invoices", "void", "9").stderr


def test_apply_refuses_a_change_under_an_issued_invoice(
    db: str, setup_file: Path, tmp_path: Path
) -> None:
    assert run(db, "apply", str(setup_file)).returncode == 0
    assert run(db, "ingest", "-", stdin=event("e1") + "\n").returncode == 0
    assert run(db, "close", "--as-of", "2026-02-02T00:00:00Z").returncode == 0
    changed = tmp_path / "changed.yaml"
    changed.write_text(SETUP.replace('"0.25"', '"0.30"').replace("name: Acme", "name: Acme 2"))
    done = run(db, "apply", str(changed))
    assert done.returncode != 0
    assert "products[0].price.unit_price: cannot change: issued invoice 1" in done.stderr
    assert "period 2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z" in done.stderr
    # Nothing of the document was applied: the original applies to nothing new.
    again = run(db, "apply", str(setup_file))
    assert again.returncode == 0
    assert "0 created, 0 updated" in again.stdout


def test_prices_lists_every_products_price_versions(db: str, tmp_path: Path) -> None:
    versioned = tmp_path / "versioned.yaml"
    versioned.write_text(
        SETUP.replace(
            '    price: {model: per_unit, unit_price: "0.25"}\n',
            '    price: {model: per_unit, unit_price: "0.25"}\n'
            "    price_changes:\n"
            '      - {effective_from: "2026-03-01T00:00:00Z",'
            ' price: {model: per_unit, unit_price: "0.30"}}\n',
        )
    )
    assert run(db, "apply", str(versioned)).returncode == 0
    done = run(db, "prices", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "data": [
            {
                "product": "calls",
                "from": None,
                "price": {"model": "per_unit", "unit_price": "0.25"},
            },
            {
                "product": "calls",
                "from": "2026-03-01T00:00:00Z",
                "price": {"model": "per_unit", "unit_price": "0.30"},
            },
        ]
    }
    table = run(db, "prices")
    assert "2026-03-01T00:00:00Z" in table.stdout
    assert "(start)" in table.stdout


def test_credit_void_reissue_and_write_off_by_number(
    db: str, setup_file: Path, tmp_path: Path
) -> None:
    run(db, "apply", str(setup_file))
    (tmp_path / "events.jsonl").write_text(event("e1") + "\n" + event("e2") + "\n")
    run(db, "ingest", str(tmp_path / "events.jsonl"))
    run(db, "close", "--as-of", "2026-03-02T00:00:00Z")  # January 0.50 (#1), February 0 (#2)
    over = run(db, "invoices", "credit", "1", "--amount", "0.60", "--reason", "typo")
    assert over.returncode == 1
    assert "above what the invoice still allows, 0.50 USD" in over.stderr
    note = run(db, "invoices", "credit", "#1", "--amount", "0.20", "--reason", "typo")
    assert note.returncode == 0, note.stderr
    assert "credit note #1 of 0.20 USD on invoice #1: 0.20 USD off the amount due" in note.stdout
    shown = json.loads(run(db, "invoices", "show", "1", "--json").stdout)["data"]
    assert (shown["credit_notes"], shown["amount_due"], shown["status"]) == (
        "0.20",
        "0.30",
        "issued",
    )
    refused = run(db, "invoices", "void", "1")
    assert refused.returncode == 1
    assert "has credit notes" in refused.stderr
    paying = run(
        db,
        "invoices",
        "credit",
        "1",
        "--amount",
        "0.30",
        "--reason",
        "r",
        "--json",
        "--at",
        "2026-03-10T00:00:00Z",
    )
    second = json.loads(paying.stdout)["data"]
    assert (second["number"], second["off_due"], second["at"]) == (
        2,
        "0.30",
        "2026-03-10T00:00:00Z",
    )
    assert json.loads(run(db, "invoices", "show", "1", "--json").stdout)["data"]["status"] == "paid"
    # March: one call, #3; voided, its period returns to draft and is reissued as #4.
    (tmp_path / "march.jsonl").write_text(event("e3", when="2026-03-05T00:00:00Z") + "\n")
    run(db, "ingest", str(tmp_path / "march.jsonl"))
    run(db, "close", "--as-of", "2026-04-02T00:00:00Z")
    voided = run(db, "invoices", "void", "3")
    assert voided.returncode == 0, voided.stderr
    assert "voided invoice #3 of acme" in voided.stdout
    listed = run(
        db, "invoices", "list", "--customer", "acme", "--json", "--as-of", "2026-04-02T00:00:00Z"
    )
    march = [
        i for i in json.loads(listed.stdout)["data"] if i["period_start"].startswith("2026-03")
    ]
    assert [(i["number"], i["status"], i["replaces"]) for i in march] == [
        (3, "void", None),
        (None, "draft", 3),
    ]
    run(db, "close", "--as-of", "2026-04-03T00:00:00Z")
    reissued = json.loads(run(db, "invoices", "show", "4", "--json").stdout)["data"]
    assert (reissued["replaces"], reissued["total"], reissued["period_start"]) == (
        3,
        "0.25",
        "2026-03-01T00:00:00Z",
    )
    assert json.loads(run(db, "invoices", "show", "3", "--json").stdout)["data"]["replaced_by"] == 4
    written = run(db, "invoices", "void", "4", "--write-off")
    assert "wrote off invoice #4 of acme" in written.stdout
    listed = run(
        db, "invoices", "list", "--customer", "acme", "--json", "--as-of", "2026-04-03T00:00:00Z"
    )
    march = [
        i for i in json.loads(listed.stdout)["data"] if i["period_start"].startswith("2026-03")
    ]
    assert [(i["number"], i["status"], i["written_off"]) for i in march] == [
        (3, "void", False),
        (4, "void", True),
    ]
