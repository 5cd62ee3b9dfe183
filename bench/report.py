"""Benchmark results: rows of one table, printed with Rich and written as Markdown."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

__all__ = ["Report", "Row", "percentile", "rate_text", "seconds_text", "verdict"]

_COLUMNS = (
    "database",
    "measurement",
    "size",
    "today (issue 12)",
    "result",
    "vs reference",
    "target",
    "status",
)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (``fraction`` in [0, 1]) of ``samples``."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rate_text(count: int, seconds: float, unit: str) -> str:
    return f"{count / seconds:,.0f} {unit}/s" if seconds > 0 else "n/a"


def seconds_text(seconds: float) -> str:
    return f"{seconds:,.1f} s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@dataclass(frozen=True, slots=True)
class Row:
    database: str
    measurement: str
    size: str
    result: str
    versus: str = ""
    target: str = ""
    status: str = ""
    today: str = ""

    def cells(self) -> tuple[str, ...]:
        return (
            self.database,
            self.measurement,
            self.size,
            self.today,
            self.result,
            self.versus,
            self.target,
            self.status,
        )


@dataclass(slots=True)
class Report:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row, *, console: Console | None = None) -> None:
        self.rows.append(row)
        if console is not None:
            status = f" [{row.status}]" if row.status else ""
            console.log(f"{row.database}: {row.measurement} ({row.size}): {row.result}{status}")

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def print(self, console: Console) -> None:
        table = Table(title=self.title)
        for column in _COLUMNS:
            table.add_column(column, justify="right" if column in ("size",) else "left")
        for row in self.rows:
            style = {"PASS": "green", "MISS": "red"}.get(row.status)
            cells = list(row.cells())
            if style:
                cells[-1] = f"[{style}]{row.status}[/{style}]"
            table.add_row(*cells)
        console.print(table)
        for number, text in enumerate(self.notes, 1):
            console.print(f"{number}. {text}", markup=False, highlight=False)

    def markdown(self) -> str:
        lines = [
            "| " + " | ".join(_COLUMNS) + " |",
            "| " + " | ".join("---:" if c == "size" else "---" for c in _COLUMNS) + " |",
        ]
        for row in self.rows:
            cells = [cell.replace("|", "\\|") for cell in row.cells()]
            if row.status:
                cells[-1] = f"**{row.status}**"
            lines.append("| " + " | ".join(cells) + " |")
        if self.notes:
            lines.append("")
            lines.extend(f"{number}. {text}" for number, text in enumerate(self.notes, 1))
        return "\n".join(lines) + "\n"
