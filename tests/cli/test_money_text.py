"""The CLI writes amounts with the currency's minor digits: ``--json`` as the API
(``"137.54"``, ``"138"``, ``"137.538"``), tables right-aligned with the currency
(``$137.54``, ``¥138``, ``KWD 137.538``). Hand-computed in ``tests/currencies.py``."""

import json
import subprocess
import sys
from pathlib import Path

from tests.currencies import CUSTOMERS, EVENTS, SETUP_YAML, expected_fields, money_fields

AS_OF = "2026-02-10T00:00:00Z"


def run(db: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "meterbill", "--database", db, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_json_and_tables_in_three_currencies(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "setup.yaml").write_text(SETUP_YAML)
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    run(db_url, "apply", str(tmp_path / "setup.yaml"))
    run(db_url, "ingest", str(tmp_path / "events.jsonl"))
    closed = run(db_url, "close", "--as-of", "2026-02-02T00:00:00Z")
    # Numbered by customer id: jpy-co #1, kwd-co #2, usd-co #3.
    assert "total 133 JPY (issued)" in closed
    assert "total 132.538 KWD (issued)" in closed
    assert "total 132.54 USD (issued)" in closed

    for customer, currency in CUSTOMERS.items():
        listed = json.loads(
            run(db_url, "invoices", "list", "--customer", customer, "--json", "--as-of", AS_OF)
        )["data"]
        assert money_fields(listed[0]) == expected_fields(currency), currency

    table = run(db_url, "invoices", "list", "--customer", "usd-co", "--as-of", AS_OF)
    rows = [line for line in table.splitlines() if "2026-0" in line]
    assert len(rows) == 2
    # January: subtotal, tax, credits, total, due; February's draft: the base fee only.
    assert all(amount in rows[0] for amount in ("$137.54", "$132.54", "$5.00"))
    # Right-aligned: the totals of both rows end in the same column.
    january_due = rows[0].rindex("$132.54") + len("$132.54")
    february_due = rows[1].rindex("$100.00") + len("$100.00")
    assert january_due == february_due

    shown = {
        currency: run(db_url, "invoices", "show", str(number))
        for number, currency in ((1, "JPY"), (2, "KWD"), (3, "USD"))
    }
    assert all(text in shown["JPY"] for text in ("¥38", "¥12.5", "¥0"))
    assert "subtotal ¥138  tax ¥0  credits ¥5  total ¥133  amount due ¥133  (JPY)" in (shown["JPY"])
    assert all(text in shown["KWD"] for text in ("KWD 37.500", "KWD 0.038"))
    assert "KWD 0.0125" in shown["KWD"]  # a unit price keeps its own places
    assert "total KWD 132.538" in shown["KWD"]
    assert all(text in shown["USD"] for text in ("$37.50", "$0.04", "$100.00"))
    assert "$0.0125" in shown["USD"]

    paid = run(db_url, "invoices", "pay", "1", "--amount", "3")
    assert "paid 3 JPY on invoice #1: issued, amount due 130 JPY" in paid
    noted = run(db_url, "invoices", "credit", "2", "--amount", "1.5", "--reason", "test")
    assert "credit note #1 of 1.500 KWD on invoice #2: 1.500 KWD off the amount due" in noted
