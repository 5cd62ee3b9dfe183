"""The golden scenarios of ../shared/scenarios: loading them and comparing invoices."""

import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

from meterbill.core.money import minor_exponent

__all__ = [
    "SCENARIOS",
    "STEP_SCENARIOS",
    "Scenario",
    "compare_invoices",
    "compare_step_invoices",
    "minor_digit_problems",
    "scenario_dir",
]


def scenario_dir() -> Path:
    configured = os.environ.get("METERBILL_SCENARIOS")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1].parent / "shared" / "scenarios"


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path

    @property
    def setup(self) -> dict[str, object]:
        loaded = yaml.safe_load((self.path / "setup.yaml").read_text())
        assert isinstance(loaded, dict)
        return loaded

    @property
    def expected(self) -> dict[str, object]:
        loaded = json.loads((self.path / "expected.json").read_text())
        assert isinstance(loaded, dict)
        return loaded

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def has_steps(self) -> bool:
        return "steps" in self.expected


if os.environ.get("CI") and not scenario_dir().exists():
    raise RuntimeError(f"golden scenarios not found at {scenario_dir()}: CI must run them")

_ALL = (
    sorted(
        (Scenario(p.name, p) for p in scenario_dir().iterdir() if (p / "expected.json").exists()),
        key=lambda s: s.name,
    )
    if scenario_dir().exists()
    else []
)
SCENARIOS = [s for s in _ALL if not s.has_steps]
"""Scenarios of one apply, one ingest and one close (``setup.yaml``, ``events.jsonl``)."""
STEP_SCENARIOS = [s for s in _ALL if s.has_steps]
"""Scenarios run step by step (``expected.json`` has ``steps``; see the scenarios' README)."""


def _same(expected: object, actual: object, *, quantity: bool) -> bool:
    if expected is None or actual is None:
        return expected is actual
    e, a = Decimal(str(expected)), Decimal(str(actual))
    return round(e, 12) == round(a, 12) if quantity else e == a


def compare_invoices(
    expected: list[dict[str, object]], actual: list[dict[str, object]]
) -> list[str]:
    """Differences between expected and actual invoices of one customer, as readable lines."""
    problems: list[str] = []
    if len(expected) != len(actual):
        problems.append(f"expected {len(expected)} invoices, got {len(actual)}")
    for want, got in zip(expected, actual, strict=False):
        where = f"invoice {want['period_start']}"
        for field in ("period_start", "period_end", "status"):
            if want[field] != got.get(field):
                problems.append(
                    f"{where}: {field} expected {want[field]!r}, got {got.get(field)!r}"
                )
        for field in ("subtotal", "credits_applied", "total", "credit_balance_after"):
            if not _same(want[field], got.get(field), quantity=False):
                problems.append(f"{where}: {field} expected {want[field]}, got {got.get(field)}")
        want_credits = {(c["credit"], Decimal(c["amount"])) for c in want["credits"]}  # type: ignore[attr-defined]
        got_credits = {(c["credit"], Decimal(c["amount"])) for c in got.get("credits", [])}  # type: ignore[attr-defined]
        if want_credits != got_credits:
            problems.append(
                f"{where}: credits expected {sorted(want_credits)}, got {sorted(got_credits)}"
            )
        problems.extend(_compare_lines(where, want["lines"], got.get("lines", [])))  # type: ignore[arg-type]
    return problems


def _line_key(line: dict[str, object]) -> tuple[object, ...]:
    return (line["name"], line.get("product"), json.dumps(line.get("group", {}), sort_keys=True))


def _compare_lines(
    where: str,
    want: list[dict[str, object]],
    got: list[dict[str, object]],
    *,
    given_only: bool = False,
) -> list[str]:
    """Lines paired by name, product and group. With ``given_only`` (scenarios with steps),
    ``type`` and ``unit_price`` are compared only where expected.json gives them, and a
    line's ``quantity_places`` replaces the 12 decimal places."""
    problems: list[str] = []
    got_by_key = {_line_key(line): line for line in got}
    for line in want:
        key = _line_key(line)
        other = got_by_key.pop(key, None)
        if other is None:
            problems.append(f"{where}: missing line {key}")
            continue
        if (not given_only or "type" in line) and line.get("type") != other.get("type"):
            problems.append(f"{where}: line {key} type {line.get('type')} != {other.get('type')}")
        places = int(str(line.get("quantity_places", 12)))
        if not _same_places(line["quantity"], other.get("quantity"), places):
            problems.append(
                f"{where}: line {key} quantity {line['quantity']} != {other.get('quantity')}"
            )
        if not _same(line["amount"], other.get("amount"), quantity=False):
            problems.append(f"{where}: line {key} amount {line['amount']} != {other.get('amount')}")
        if (not given_only or "unit_price" in line) and not _same(
            line.get("unit_price"), other.get("unit_price"), quantity=True
        ):
            problems.append(
                f"{where}: line {key} unit_price "
                f"{line.get('unit_price')} != {other.get('unit_price')}"
            )
    problems.extend(f"{where}: unexpected line {key}" for key in got_by_key)
    return problems


def _same_places(expected: object, actual: object, places: int) -> bool:
    if expected is None or actual is None:
        return expected is actual
    return round(Decimal(str(expected)), places) == round(Decimal(str(actual)), places)


_MONEY_FIELDS = (
    "subtotal",
    "tax",
    "credits_applied",
    "total",
    "credit_balance_after",
    "payments",
    "credit_notes",
    "amount_due",
)
_VOID_FIELDS = ("number", "plan", "status", "period_start", "period_end", "replaces")


def _pair_key(invoice: dict[str, object]) -> tuple[str, str]:
    return (str(invoice.get("period_start")), str(invoice.get("plan")))


def _order(invoice: dict[str, object]) -> tuple[bool, int]:
    number = invoice.get("number")
    return (number is None, number if isinstance(number, int) else 0)


def _pairs(
    expected: list[dict[str, object]], actual: list[dict[str, object]]
) -> tuple[list[tuple[dict[str, object], dict[str, object] | None]], list[dict[str, object]]]:
    """Expected invoices paired with actual ones by period start and plan, then by number
    (the draft last); returns the pairs and the actual invoices left unpaired."""
    by_key: dict[tuple[str, str], list[dict[str, object]]] = {}
    for invoice in sorted(actual, key=_order):
        by_key.setdefault(_pair_key(invoice), []).append(invoice)
    pairs: list[tuple[dict[str, object], dict[str, object] | None]] = []
    for want in sorted(expected, key=_order):
        candidates = by_key.get(_pair_key(want), [])
        pairs.append((want, candidates.pop(0) if candidates else None))
    return pairs, [invoice for rest in by_key.values() for invoice in rest]


def compare_step_invoices(
    expected: list[dict[str, object]], actual: list[dict[str, object]]
) -> list[str]:
    """The comparison of a scenario with steps (the scenarios' README): invoices paired by
    period start and plan (several by number, the draft last), each field compared only
    where expected.json gives it, a void invoice on its identity, lines, subtotal and tax."""
    problems: list[str] = []
    pairs, unpaired = _pairs(expected, actual)
    for want, got in pairs:
        where = f"invoice {want.get('period_start')} {want.get('plan')} #{want.get('number')}"
        if got is None:
            problems.append(f"{where}: missing")
            continue
        void = want.get("status") == "void"
        for field in _VOID_FIELDS:
            if field in want and want[field] != got.get(field):
                problems.append(
                    f"{where}: {field} expected {want[field]!r}, got {got.get(field)!r}"
                )
        for field in ("subtotal", "tax") if void else _MONEY_FIELDS:
            if field in want and not _same(want[field], got.get(field), quantity=False):
                problems.append(f"{where}: {field} expected {want[field]}, got {got.get(field)}")
        if "credits" in want and not void:
            want_credits = {(c["credit"], Decimal(c["amount"])) for c in want["credits"]}  # type: ignore[attr-defined]
            got_credits = {(c["credit"], Decimal(c["amount"])) for c in got.get("credits", [])}  # type: ignore[attr-defined]
            if want_credits != got_credits:
                problems.append(
                    f"{where}: credits expected {sorted(want_credits)}, got {sorted(got_credits)}"
                )
        if "lines" in want:
            problems.extend(
                _compare_lines(where, want["lines"], got.get("lines", []), given_only=True)  # type: ignore[arg-type]
            )
    problems.extend(
        f"unexpected invoice {_pair_key(invoice)} #{invoice.get('number')}" for invoice in unpaired
    )
    return problems


def _minor_places(text: object, places: int) -> bool:
    """``text`` is a decimal string with exactly ``places`` decimals (none when 0)."""
    if not isinstance(text, str):
        return False
    whole, dot, fraction = text.lstrip("-").partition(".")
    if not whole.isdigit() or bool(dot) != bool(places):
        return False
    return len(fraction) == places and (not places or fraction.isdigit())


def minor_digit_problems(invoices: list[dict[str, object]]) -> list[str]:
    """Amounts of ``invoices list --json`` not written with exactly the currency's minor
    digits (docs/decisions.md 46); quantities and unit prices are not amounts."""
    problems: list[str] = []
    for invoice in invoices:
        places = minor_exponent(str(invoice["currency"]))
        where = f"invoice {invoice.get('period_start')} #{invoice.get('number')}"
        amounts = [(field, invoice[field]) for field in _MONEY_FIELDS]
        amounts += [("line amount", line["amount"]) for line in invoice["lines"]]  # type: ignore[attr-defined]
        amounts += [("credit amount", use["amount"]) for use in invoice["credits"]]  # type: ignore[attr-defined]
        problems.extend(
            f"{where}: {field} {text!r} has not {places} decimals"
            for field, text in amounts
            if not _minor_places(text, places)
        )
    return problems
