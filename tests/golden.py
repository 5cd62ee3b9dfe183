"""The golden scenarios of ../shared/scenarios: loading them and comparing invoices."""

import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

__all__ = ["SCENARIOS", "Scenario", "compare_invoices", "scenario_dir"]


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


if os.environ.get("CI") and not scenario_dir().exists():
    raise RuntimeError(f"golden scenarios not found at {scenario_dir()}: CI must run them")

SCENARIOS = (
    sorted(
        (Scenario(p.name, p) for p in scenario_dir().iterdir() if (p / "expected.json").exists()),
        key=lambda s: s.name,
    )
    if scenario_dir().exists()
    else []
)


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
    where: str, want: list[dict[str, object]], got: list[dict[str, object]]
) -> list[str]:
    problems: list[str] = []
    got_by_key = {_line_key(line): line for line in got}
    for line in want:
        key = _line_key(line)
        other = got_by_key.pop(key, None)
        if other is None:
            problems.append(f"{where}: missing line {key}")
            continue
        if line.get("type") != other.get("type"):
            problems.append(f"{where}: line {key} type {line.get('type')} != {other.get('type')}")
        if not _same(line["quantity"], other.get("quantity"), quantity=True):
            problems.append(
                f"{where}: line {key} quantity {line['quantity']} != {other.get('quantity')}"
            )
        if not _same(line["amount"], other.get("amount"), quantity=False):
            problems.append(f"{where}: line {key} amount {line['amount']} != {other.get('amount')}")
        if not _same(line.get("unit_price"), other.get("unit_price"), quantity=True):
            problems.append(
                f"{where}: line {key} unit_price "
                f"{line.get('unit_price')} != {other.get('unit_price')}"
            )
    problems.extend(f"{where}: unexpected line {key}" for key in got_by_key)
    return problems
