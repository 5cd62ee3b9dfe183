"""A fresh SQLite file opened by several processes at once: switching it to WAL can be
refused with "database is locked" without the busy handler waiting, so connecting retries
(``db.session.run_while_locked``)."""

import sqlite3
from collections.abc import Callable

import pytest

from meterbill.db.session import run_while_locked


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def refusing(
    times: int, message: str = "database is locked"
) -> tuple[list[int], Callable[[], None]]:
    calls: list[int] = []

    def statement() -> None:
        calls.append(1)
        if len(calls) <= times:
            raise sqlite3.OperationalError(message)

    return calls, statement


def test_a_locked_statement_is_run_again_until_it_passes() -> None:
    clock = Clock()
    calls, statement = refusing(3)
    run_while_locked(statement, sleep=clock.sleep, clock=lambda: clock.now)
    assert len(calls) == 4
    assert clock.pauses == [0.01, 0.02, 0.04]  # doubling from 10 ms


def test_a_lock_that_outlasts_the_patience_is_raised() -> None:
    clock = Clock()
    calls, statement = refusing(1000)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        run_while_locked(statement, patience=1.0, sleep=clock.sleep, clock=lambda: clock.now)
    # 0.01 + 0.02 + 0.04 + 0.08 + 0.16 + 0.25 + 0.25 = 0.81 s slept; the next 0.25 would
    # pass the 1 s patience, so the eighth refusal is raised.
    assert len(calls) == 8
    assert sum(clock.pauses) == pytest.approx(0.81)


def test_any_other_error_is_raised_at_once() -> None:
    clock = Clock()
    calls, statement = refusing(1, "no such table: nowhere")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        run_while_locked(statement, sleep=clock.sleep, clock=lambda: clock.now)
    assert len(calls) == 1
    assert clock.pauses == []
