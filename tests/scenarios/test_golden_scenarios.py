"""Every golden scenario through the CLI contract, on SQLite and PostgreSQL.

apply → ingest → close --as-of (or, for a scenario with ``steps``, each step's command in
order), then the invoices read back with ``invoices list --json --as-of`` and the daily
breakdowns must match expected.json (amounts exactly, as decimals: expected.json's
``"512"`` is the ``"512.00"`` meterbill writes; quantities to 12 decimal places), and every
amount must be written with exactly the currency's minor digits.
"""

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from meterbill.core.events import parse_timestamp
from meterbill.core.money import decimal_text
from meterbill.core.periods import WindowSize
from meterbill.db.database import Database
from meterbill.services.breakdowns import breakdown_of, visible
from meterbill.services.invoicing import customer_invoices
from tests.golden import (
    SCENARIOS,
    STEP_SCENARIOS,
    Scenario,
    compare_invoices,
    compare_step_invoices,
    minor_digit_problems,
)

pytestmark = pytest.mark.skipif(not SCENARIOS, reason="../shared/scenarios not found")


def run_meterbill(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "meterbill", "--database", database, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def meterbill(database: str, *args: str) -> str:
    done = run_meterbill(database, *args)
    assert done.returncode == 0, f"meterbill {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def run_scenario(db_url: str, scenario: Scenario) -> None:
    meterbill(db_url, "apply", str(scenario.path / "setup.yaml"))
    summary = meterbill(db_url, "ingest", str(scenario.events))
    assert " accepted, " in summary
    meterbill(db_url, "close", "--as-of", str(scenario.expected["as_of"]))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_matches_expected(db_url: str, scenario: Scenario) -> None:
    run_scenario(db_url, scenario)
    expected = scenario.expected
    invoices = expected["invoices"]
    assert isinstance(invoices, dict)
    problems: list[str] = []
    for customer_id, wanted in invoices.items():
        listed = json.loads(
            meterbill(
                db_url,
                "invoices",
                "list",
                "--customer",
                customer_id,
                "--json",
                "--as-of",
                str(expected["as_of"]),
            )
        )
        problems.extend(compare_invoices(wanted, listed["data"]))
        problems.extend(minor_digit_problems(listed["data"]))
    breakdowns = expected["breakdowns"]
    assert isinstance(breakdowns, list)
    database = Database(db_url)
    try:
        for wanted_breakdown in breakdowns:
            problems.extend(_compare_breakdown(database, wanted_breakdown, str(expected["as_of"])))
    finally:
        database.dispose()
    assert problems == [], "\n".join(problems)


def _step_command(step: dict[str, object]) -> list[str]:
    """The CLI contract's command for one step (the scenarios' README)."""
    if "apply" in step:
        return ["apply", str(step["apply"])]
    if "ingest" in step:
        return ["ingest", str(step["ingest"])]
    if "close" in step:
        return ["close", "--as-of", str(step["close"])]
    if "void" in step:
        void = step["void"]
        assert isinstance(void, dict)
        return ["invoices", "void", str(void["number"])] + (
            ["--write-off"] if void.get("write_off") else []
        )
    if "pay" in step:
        pay = step["pay"]
        assert isinstance(pay, dict)
        return ["invoices", "pay", str(pay["number"]), "--amount", str(pay["amount"])]
    if "credit_note" in step:
        note = step["credit_note"]
        assert isinstance(note, dict)
        at = ["--at", str(note["at"])] if "at" in note else []
        return [
            "invoices",
            "credit",
            str(note["number"]),
            "--amount",
            str(note["amount"]),
            "--reason",
            str(note["reason"]),
            *at,
        ]
    raise AssertionError(f"unknown step {step}")


def run_steps(db_url: str, scenario: Scenario) -> None:
    steps = scenario.expected["steps"]
    assert isinstance(steps, list)
    for index, step in enumerate(steps, start=1):
        command = _step_command(step)
        if command[0] in ("apply", "ingest"):
            command[1] = str(scenario.path / command[1])
        done = run_meterbill(db_url, *command)
        where = f"step {index} {step}"
        if "rejected" in step:
            assert done.returncode != 0, f"{where} was not refused"
            assert str(step["rejected"]).lower() in done.stderr.lower(), (where, done.stderr)
            continue
        rejected = int(step.get("rejected_events", 0))
        ok_codes = (0,) if rejected == 0 else (0, 3)
        assert done.returncode in ok_codes, f"{where} failed:\n{done.stderr}"
        if "ingest" in step:
            assert f"{rejected} rejected" in done.stdout, (where, done.stdout)


@pytest.mark.parametrize("scenario", STEP_SCENARIOS, ids=[s.name for s in STEP_SCENARIOS])
def test_step_scenario_matches_expected(db_url: str, scenario: Scenario) -> None:
    run_steps(db_url, scenario)
    expected = scenario.expected
    as_of = str(expected["as_of"])
    invoices = expected["invoices"]
    assert isinstance(invoices, dict)
    problems: list[str] = []
    for customer_id, wanted in invoices.items():
        listed = json.loads(
            meterbill(
                db_url, "invoices", "list", "--customer", customer_id, "--json", "--as-of", as_of
            )
        )
        problems.extend(
            f"{customer_id}: {p}" for p in compare_step_invoices(wanted, listed["data"])
        )
        problems.extend(f"{customer_id}: {p}" for p in minor_digit_problems(listed["data"]))
    breakdowns = expected.get("breakdowns", [])
    assert isinstance(breakdowns, list)
    database = Database(db_url)
    try:
        for wanted_breakdown in breakdowns:
            problems.extend(_compare_breakdown(database, wanted_breakdown, as_of))
    finally:
        database.dispose()
    assert problems == [], "\n".join(problems)


def _compare_breakdown(database: Database, wanted: dict[str, object], as_of: str) -> list[str]:
    moment = parse_timestamp(as_of)
    with database.transaction() as session:
        views = customer_invoices(session, str(wanted["customer"]), as_of=moment)
        view = next(
            v
            for v in views
            if v.ref.period.start == parse_timestamp(wanted["period_start"])
            and wanted.get("plan", v.ref.plan) == v.ref.plan
            and v.status != "void"
        )
        breakdown = breakdown_of(
            session, view, size=WindowSize(str(wanted["window"])), as_of=moment
        )
    got: dict[tuple[str, str, str], tuple[Decimal, Decimal]] = {}
    for entry in breakdown.windows:
        # A day with nothing is absent: no quantity and no amount. A product minimum or
        # maximum line has quantity 0 in every window but an amount, so it is listed.
        for line, shown in visible(entry, skip_zero=False):
            if line.product != wanted["product"] or (shown.quantity == 0 and shown.amount == 0):
                continue
            key = (
                entry.window.start.date().isoformat(),
                line.name,
                json.dumps(line.group_dict, sort_keys=True),
            )
            got[key] = (shown.quantity, shown.amount)
    problems: list[str] = []
    rows = wanted["rows"]
    assert isinstance(rows, list)
    where = f"breakdown {wanted['customer']} {wanted['product']}"
    for row in rows:
        key = (row["date"], row["line"], json.dumps(row["group"], sort_keys=True))
        figure = got.pop(key, None)
        if figure is None:
            problems.append(f"{where}: missing row {key}")
            continue
        quantity, amount = figure
        if round(quantity, 12) != round(Decimal(row["quantity"]), 12):
            problems.append(
                f"{where} {key}: quantity {decimal_text(quantity)} != {row['quantity']}"
            )
        if amount != Decimal(row["amount"]):
            problems.append(f"{where} {key}: amount {decimal_text(amount)} != {row['amount']}")
    problems.extend(f"{where}: unexpected row {key}" for key in got)
    return problems
