"""``meterbill ingest``: a JSON Lines file in batches, each rejected line reported at once.

Nothing grows with the file: lines are read one at a time and stored in batches of
:data:`BATCH` (one transaction each), and every rejected line is written out — to stderr,
or as JSON Lines to a ``--rejects`` file — as soon as its batch is stored, then forgotten.
Only the three counts are kept for the summary.
"""

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import BinaryIO, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from meterbill.db.database import Database
from meterbill.services.catalog import load_catalog
from meterbill.services.ingest import BatchSummary, Outcome, Status, ingest_batch
from meterbill.services.jsonio import JSONError, dumps, iter_json_lines, loads_exact

__all__ = [
    "BATCH",
    "REJECTED_EXIT",
    "FileRejects",
    "IngestProgress",
    "RejectSink",
    "StderrRejects",
    "ingest_lines",
    "report",
]

BATCH = 5000
REJECTED_EXIT = 3
"""Exit code when the file was ingested but some lines were rejected (without
``--allow-rejects``); 1 stays for a file or database that cannot be used at all."""


class RejectSink(Protocol):
    """Where rejected lines go, one call per line, as they are found."""

    def __call__(self, number: int, outcome: Outcome) -> None: ...

    def flush(self) -> None: ...


class StderrRejects:
    """``rejected line N: reason`` on the console (above the progress bar, if any)."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def __call__(self, number: int, outcome: Outcome) -> None:
        message = f"rejected line {number}: {outcome.reason}"
        if self._console.is_terminal:
            self._console.print(message, markup=False, highlight=False)
        else:
            self._console.file.write(message + "\n")

    def flush(self) -> None:
        self._console.file.flush()


class FileRejects:
    """One JSON object per rejected line: ``{"line", "transaction_id", "reason"}``."""

    def __init__(self, output: BinaryIO) -> None:
        self._output = output

    def __call__(self, number: int, outcome: Outcome) -> None:
        record = {
            "line": number,
            "transaction_id": outcome.transaction_id,
            "reason": outcome.reason,
        }
        self._output.write(dumps(record) + b"\n")

    def flush(self) -> None:
        self._output.flush()


def _batches(stream: BinaryIO) -> Iterator[list[tuple[int, object]]]:
    batch: list[tuple[int, object]] = []
    for number, line in iter_json_lines(stream):
        try:
            batch.append((number, loads_exact(line)))
        except JSONError as error:
            batch.append((number, error))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest_lines(
    database: Database,
    stream: BinaryIO,
    *,
    clock: Callable[[], datetime],
    after_batch: Callable[[int], None] = lambda lines: None,
) -> Iterator[tuple[int, Outcome]]:
    """``(line number, outcome)`` of every non-blank line, one committed batch at a time.

    A batch is stored (and committed) before any of its outcomes is yielded; ``after_batch``
    runs once its outcomes have all been consumed, with the number of lines (events) in it.
    """
    for batch in _batches(stream):
        with database.transaction() as session:
            state = load_catalog(session)
            outcomes = ingest_batch(session, state, [item for _, item in batch], now=clock())
        yield from zip((number for number, _ in batch), outcomes, strict=True)
        after_batch(len(batch))


class _EventCount(ProgressColumn):
    """``12,345 events · 4,321 events/s``: the lines read so far and their rate."""

    def render(self, task: Task) -> Text:
        events = int(task.fields.get("events", 0))
        elapsed = task.elapsed or 0.0
        rate = f" · {events / elapsed:,.0f} events/s" if elapsed > 0 and events else ""
        return Text(f"{events:,} events{rate}")


class IngestProgress:
    """The progress bar of ``meterbill ingest``, on a terminal only.

    The bar and the time left follow the bytes read of the file (its size is known up
    front, the number of lines is not); the text counts events (non-blank lines) and their
    rate. Reading standard input, there is no bar, only the count.
    """

    def __init__(self, console: Console, stream: BinaryIO, size: int | None) -> None:
        self._stream = stream
        self._size = size
        self._events = 0
        self.progress = Progress(
            TextColumn("ingesting"),
            BarColumn(),
            _EventCount(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task = self.progress.add_task("ingest", total=size or None, events=0)

    def advance(self, events: int) -> None:
        """``events`` more lines were stored."""
        self._events += events
        self.progress.update(
            self._task,
            completed=self._stream.tell() if self._size else 0,
            events=self._events,
        )


def report(results: Iterable[tuple[int, Outcome]], rejects: RejectSink) -> BatchSummary:
    """Count the outcomes, handing each rejected line to ``rejects`` as it comes.

    ``results`` is consumed lazily and nothing of it is kept but the counts, so memory does
    not depend on how many lines there are or how many of them are rejected.
    """
    summary = BatchSummary()
    for number, outcome in results:
        summary.add((outcome,))
        if outcome.status is Status.REJECTED:
            rejects(number, outcome)
    rejects.flush()
    return summary
