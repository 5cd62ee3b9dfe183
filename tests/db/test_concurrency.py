"""Racing writers: ingest, closing and numbering stay exactly-once.

Several threads, each with its own connection (as several ``meterbill serve`` processes
would have), ingest overlapping batches of the same events and close periods at the same
time. Every event must be stored and counted once, every period issued once, and the
invoice numbers must run 1..N without a gap.
"""

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup, load_catalog
from meterbill.services.ingest import Status, ingest_batch, rebuild_meter
from meterbill.services.invoicing import close_periods, customer_invoices
from tests.reliability.support import NOW, event, setup_document

SETUP = setup_document(3)  # the reliability suite's world: sum of n by region at 0.01


def _events(customer: str) -> list[dict[str, object]]:
    """1,200 events of 3 units, 97 minutes apart from 1 January (to mid-March)."""
    return [event(f"{customer}-{i}", customer, 97 * i, 3) for i in range(1200)]


def _race(workers: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(workers))

    def run(work: Callable[[], None]) -> None:
        try:
            barrier.wait()
            work()
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors


def test_racing_ingest_and_close_are_exactly_once(db_url: str) -> None:
    databases = [Database(db_url) for _ in range(4)]
    try:
        with databases[0].transaction() as session:
            apply_setup(session, SETUP, now=NOW, rebuild=rebuild_meter)
        everything = [e for n in range(3) for e in _events(f"c{n}")]
        accepted: list[int] = []

        def ingester(database: Database, offset: int) -> Callable[[], None]:
            def work() -> None:
                # Each worker sends every event, in its own order and batch split.
                ordered = everything[offset:] + everything[:offset]
                for index in range(0, len(ordered), 250):
                    with database.transaction() as session:
                        outcomes = ingest_batch(
                            session, load_catalog(session), ordered[index : index + 250], now=NOW
                        )
                    accepted.append(sum(o.status is Status.ACCEPTED for o in outcomes))

            return work

        def closer(database: Database) -> Callable[[], None]:
            def work() -> None:
                for day in (2, 3, 5):
                    with database.transaction() as session:
                        close_periods(session, as_of=datetime(2026, 3, day, tzinfo=UTC))

            return work

        errors = _race(
            [
                ingester(databases[0], 0),
                ingester(databases[1], 1234),
                ingester(databases[2], 2500),
                closer(databases[3]),
            ]
        )
        assert errors == []
        assert sum(accepted) == 3600
        # Close again after the race so every ended month is issued, late events included.
        with databases[0].transaction() as session:
            close_periods(session, as_of=datetime(2026, 4, 5, tzinfo=UTC))
        with databases[0].transaction() as session:
            numbers: list[int] = []
            for n in range(3):
                views = customer_invoices(session, f"c{n}", as_of=NOW)
                issued = [v for v in views if v.number is not None]
                assert [v.ref.period.start.month for v in issued] == [1, 2, 3]
                numbers.extend(v.number for v in issued if v.number is not None)
                # 1200 events x 3 calls x 0.01, whatever invoice (or correction) billed them.
                billed = sum((line.amount for v in views for line in v.lines), Decimal(0))
                assert billed == Decimal("36.00")
            assert sorted(numbers) == list(range(1, 10))
    finally:
        for database in databases:
            database.dispose()
