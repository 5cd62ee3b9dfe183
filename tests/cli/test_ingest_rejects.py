"""``meterbill ingest`` reports rejected lines as it goes and keeps none of them.

A file where most lines are rejected, larger than one batch (5,000 lines), on SQLite and
PostgreSQL: every rejected line is in the ``--rejects`` file with its number, transaction id
and reason, in order; the exit code says some lines were rejected unless ``--allow-rejects``;
rejections reach stderr while the input is still open (so they were not held until the end);
and :func:`meterbill.cli.ingest.report` hands each rejection on before it pulls the next
outcome, keeping nothing but the counts.
"""

import json
import os
import selectors
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from meterbill.cli.ingest import BATCH, REJECTED_EXIT, FileRejects, report
from meterbill.services.ingest import Outcome, Status
from tests.cli.test_cli import SETUP, event, run

BAD_JSON = "invalid JSON: Expecting property name enclosed in double quotes at column 2"
OLD = "timestamp 1999-12-31T23:00:00Z is before 2000-01-01T00:00:00Z"


def _applied(db: str, tmp_path: Path) -> None:
    path = tmp_path / "setup.yaml"
    path.write_text(SETUP)
    assert run(db, "apply", str(path)).returncode == 0


def _line(index: int) -> tuple[str, dict[str, object] | None]:
    """Line ``index`` (0-based) of the generated file and its expected reject record.

    Of every four lines one is a valid event and three are rejected, each way differently.
    """
    number = index + 1
    kind = index % 4
    if kind == 0:
        return event(f"ok-{index}"), None
    if kind == 1:
        return "{not json", {"line": number, "transaction_id": None, "reason": BAD_JSON}
    if kind == 2:
        reason = "unknown customer 'nobody'"
        return event(f"who-{index}", customer="nobody"), {
            "line": number,
            "transaction_id": f"who-{index}",
            "reason": reason,
        }
    return event(f"old-{index}", when="1999-12-31T23:00:00Z"), {
        "line": number,
        "transaction_id": f"old-{index}",
        "reason": OLD,
    }


LINES = 12_000  # three batches of 5,000, 5,000 and 2,000 lines; 3,000 valid, 9,000 rejected


def test_rejects_file_lists_every_rejected_line(db_url: str, tmp_path: Path) -> None:
    _applied(db_url, tmp_path)
    events = tmp_path / "events.jsonl"
    expected = []
    with events.open("w") as out:
        for index in range(LINES):
            text, record = _line(index)
            out.write(text + "\n")
            if record is not None:
                expected.append(record)
    rejects = tmp_path / "rejects.jsonl"

    done = run(db_url, "ingest", str(events), "--rejects", str(rejects))

    assert done.returncode == REJECTED_EXIT
    assert done.stdout.strip() == "3000 accepted, 0 duplicate, 9000 rejected"
    assert done.stderr.strip() == (
        f"error: 9000 line(s) rejected (listed in {rejects}); --allow-rejects exits 0 anyway"
    )
    written = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert len(written) == 9000
    assert written == expected

    # Again, allowing rejects: the valid lines are now duplicates, the file is rewritten.
    again = run(db_url, "ingest", str(events), "--rejects", str(rejects), "--allow-rejects")
    assert again.returncode == 0
    assert again.stdout.strip() == "0 accepted, 3000 duplicate, 9000 rejected"
    assert again.stderr == ""
    assert [json.loads(line) for line in rejects.read_text().splitlines()] == expected


def test_no_rejects_exits_zero_and_leaves_an_empty_rejects_file(
    db_url: str, tmp_path: Path
) -> None:
    _applied(db_url, tmp_path)
    rejects = tmp_path / "rejects.jsonl"
    done = run(db_url, "ingest", "-", "--rejects", str(rejects), stdin=event("only") + "\n")
    assert done.returncode == 0
    assert done.stdout.strip() == "1 accepted, 0 duplicate, 0 rejected"
    assert rejects.read_bytes() == b""


def test_unwritable_rejects_file_is_a_clear_error(db_url: str, tmp_path: Path) -> None:
    _applied(db_url, tmp_path)
    target = tmp_path / "no-such-dir" / "rejects.jsonl"
    done = run(db_url, "ingest", "-", "--rejects", str(target), stdin=event("x") + "\n")
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: cannot write {target}: No such file or directory"


def _read_line(stream: object, limit: float) -> str:
    """One line from a pipe, waiting at most ``limit`` seconds (then fail, never hang)."""
    assert hasattr(stream, "readline")
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
        if not selector.select(timeout=limit):
            pytest.fail(f"nothing on stderr after {limit:.0f} s while the input was still open")
    line: bytes = stream.readline()
    return line.decode()


def test_rejections_reach_stderr_before_the_input_ends(db_url: str, tmp_path: Path) -> None:
    _applied(db_url, tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "meterbill", "--database", db_url, "ingest", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
        bufsize=0,  # unbuffered pipes: communicate() below must see what readline left
    )
    try:
        assert process.stdin is not None
        assert process.stderr is not None
        # One whole batch of bad lines, then wait with stdin still open.
        process.stdin.write(b"{not json\n" * BATCH)
        process.stdin.flush()
        first = _read_line(process.stderr, 60)
        assert first == f"rejected line 1: {BAD_JSON}\n"
        out, err = process.communicate((event("late") + "\n").encode(), timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    lines = err.decode().splitlines()
    assert lines[: BATCH - 1] == [f"rejected line {n}: {BAD_JSON}" for n in range(2, BATCH + 1)]
    assert lines[BATCH - 1 :] == [
        f"error: {BATCH} line(s) rejected (listed above); --allow-rejects exits 0 anyway"
    ]
    assert out.decode().strip() == f"1 accepted, 0 duplicate, {BATCH} rejected"
    assert process.returncode == REJECTED_EXIT


class _CountingSink:
    """A reject sink that remembers only how many rejections it got."""

    def __init__(self) -> None:
        self.count = 0
        self.flushed = 0

    def __call__(self, number: int, outcome: Outcome) -> None:
        assert outcome.status is Status.REJECTED
        assert number == 2 * self.count + 1  # every odd line is rejected, in order
        self.count += 1

    def flush(self) -> None:
        self.flushed += 1


def test_report_hands_each_rejection_on_before_reading_the_next() -> None:
    sink = _CountingSink()
    pulled = 0

    def outcomes() -> Iterator[tuple[int, Outcome]]:
        nonlocal pulled
        for index in range(100_000):
            # By the time the next outcome is asked for, every earlier rejection is out.
            assert sink.count == (index + 1) // 2
            pulled += 1
            if index % 2 == 0:
                yield index + 1, Outcome(Status.REJECTED, f"t{index}", "bad")
            else:
                yield index + 1, Outcome(Status.ACCEPTED, f"t{index}")

    summary = report(outcomes(), sink)
    assert pulled == 100_000
    assert (summary.accepted, summary.duplicate, summary.rejected) == (50_000, 0, 50_000)
    assert sink.count == 50_000
    assert sink.flushed == 1


def test_report_memory_does_not_grow_with_rejections(tmp_path: Path) -> None:
    def rejected(count: int) -> Iterator[tuple[int, Outcome]]:
        for number in range(1, count + 1):
            yield number, Outcome(Status.REJECTED, f"tx-{number}", f"reason number {number}")

    def peak(count: int) -> int:
        with open(os.devnull, "wb") as sink:
            tracemalloc.start()
            try:
                summary = report(rejected(count), FileRejects(sink))
                _, top = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert summary.rejected == count
        return top

    # Keeping ~90 bytes per rejection (the old behaviour) would add ~9 MB for 100,000.
    small, large = peak(1_000), peak(100_000)
    assert large < small + 64 * 1024, (small, large)
