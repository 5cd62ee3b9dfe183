"""Column types, constraints and defaults of the models, and the engine/session behaviour
they rely on (SQLite pragmas and BEGIN IMMEDIATE, transactions, savepoints)."""

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from meterbill.db.base import Base, UtcMicros, datetime_to_micros, micros_to_datetime
from meterbill.db.models import (
    CustomerAlias,
    CustomerRow,
    EventRow,
    InvoiceCounter,
    InvoiceRow,
    Meta,
    MeterRow,
    PaymentRow,
    UsageBucket,
)
from meterbill.db.session import (
    DATABASE_URL_ENV,
    create_engine_for,
    database_url,
    make_sessionmaker,
    transaction,
)

Factory = sessionmaker[Session]

T0 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


class Boom(Exception):
    """Raised by a test to make a transaction fail."""


def store(factory: Factory, *rows: Base) -> None:
    """Add ``rows`` in one transaction of its own."""
    with transaction(factory) as session:
        session.add_all(rows)


def add_meter(factory: Factory, key: str = "api_calls") -> int:
    with transaction(factory) as session:
        meter = MeterRow(key=key, name=key, definition="{}", fingerprint="f", position=0)
        session.add(meter)
        session.flush()
        return meter.id


def add_customer(factory: Factory, customer_id: str = "acme") -> None:
    with transaction(factory) as session:
        session.add(
            CustomerRow(
                id=customer_id,
                name="Acme",
                currency="USD",
                definition="{}",
                uuid=f"uuid-{customer_id}",
                created_at=T0,
            )
        )


def bucket(meter_id: int, group_key: str = "[]", **values: object) -> UsageBucket:
    return UsageBucket(
        meter_id=meter_id,
        customer_id="acme",
        width=3600,
        start=1_790_000_000,
        group_key=group_key,
        **values,
    )


def event(customer_id: str, transaction_id: str) -> EventRow:
    return EventRow(
        customer_id=customer_id,
        transaction_id=transaction_id,
        event_type="api_call",
        timestamp=T0,
        arrived_at=T0,
        properties="{}",
    )


# --- DecimalText ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        Decimal("0.000000000000000001"),
        Decimal("123456789012345678901234567.5"),
        Decimal("-42.50"),
        Decimal("0"),
        Decimal("1E+30"),
    ],
    ids=str,
)
def test_decimal_text_round_trips_exactly(sessionmaker: Factory, value: Decimal) -> None:
    meter_id = add_meter(sessionmaker)
    with transaction(sessionmaker) as session:
        session.add(bucket(meter_id, total=value, weighted=value))
    with transaction(sessionmaker) as session:
        stored = session.scalars(select(UsageBucket)).one()
        raw = session.execute(text("SELECT total FROM usage_buckets")).scalar_one()
    assert stored.total == value
    assert str(stored.total) == str(value)  # same digits and exponent, not just equal
    assert stored.weighted == value
    assert raw == str(value)


@pytest.mark.parametrize("value", [1.5, "1.5", Decimal("NaN"), Decimal("-Infinity")], ids=repr)
def test_decimal_text_refuses_inexact_values(sessionmaker: Factory, value: object) -> None:
    meter_id = add_meter(sessionmaker)
    with pytest.raises(StatementError):
        store(sessionmaker, bucket(meter_id, total=value))


# --- UtcMicros ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 21, 13, 45, 7, 123456, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, 0, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-8))),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
    ids=lambda value: value.isoformat(),
)
def test_utc_micros_round_trips_the_instant_in_utc(sessionmaker: Factory, value: datetime) -> None:
    meter_id = add_meter(sessionmaker)
    with transaction(sessionmaker) as session:
        session.add(bucket(meter_id, latest_ts=value))
    with transaction(sessionmaker) as session:
        stored = session.scalars(select(UsageBucket.latest_ts)).one()
        raw = session.execute(text("SELECT latest_ts FROM usage_buckets")).scalar_one()
    assert stored == value  # the same instant
    assert stored is not None
    assert stored.tzinfo is UTC
    assert stored.replace(tzinfo=None) == value.astimezone(UTC).replace(tzinfo=None)
    assert raw == datetime_to_micros(value)


def test_utc_micros_stores_microseconds_since_the_epoch() -> None:
    assert datetime_to_micros(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert datetime_to_micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005
    assert datetime_to_micros(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1
    east = timezone(timedelta(hours=2))
    assert datetime_to_micros(datetime(1970, 1, 1, 2, tzinfo=east)) == 0
    assert micros_to_datetime(1_790_000_000_123_456) == datetime(
        2026, 9, 21, 14, 13, 20, 123456, tzinfo=UTC
    )


def test_utc_micros_refuses_naive_datetimes(sessionmaker: Factory) -> None:
    meter_id = add_meter(sessionmaker)
    with pytest.raises(StatementError, match="naive datetime"):
        store(sessionmaker, bucket(meter_id, latest_ts=datetime(2026, 11, 21, 12, 0)))
    with pytest.raises(ValueError, match="naive datetime"):
        datetime_to_micros(datetime(2026, 11, 21, 12, 0))
    assert UtcMicros().cache_ok


def test_utc_micros_compares_instants_in_queries(sessionmaker: Factory) -> None:
    with transaction(sessionmaker) as session:
        for minute in range(5):
            row = event("acme", f"tx-{minute}")
            row.timestamp = T0 + timedelta(minutes=minute)
            session.add(row)
    tokyo = timezone(timedelta(hours=9))
    since = (T0 + timedelta(minutes=2)).astimezone(tokyo)
    with transaction(sessionmaker) as session:
        found = session.scalars(
            select(EventRow.transaction_id)
            .where(EventRow.customer_id == "acme", EventRow.timestamp >= since)
            .order_by(EventRow.timestamp)
        ).all()
    assert found == ["tx-2", "tx-3", "tx-4"]


# --- constraints and defaults ---------------------------------------------------------------


def test_duplicate_event_transaction_id_is_rejected(sessionmaker: Factory) -> None:
    with transaction(sessionmaker) as session:
        session.add(event("acme", "tx-1"))
        session.add(event("globex", "tx-1"))  # same transaction id, other customer: fine
    with pytest.raises(IntegrityError):
        store(sessionmaker, event("acme", "tx-1"))
    with transaction(sessionmaker) as session:
        assert session.scalar(select(func.count()).select_from(EventRow)) == 2


def test_event_ids_are_generated(sessionmaker: Factory) -> None:
    with transaction(sessionmaker) as session:
        rows = [event("acme", f"tx-{n}") for n in range(3)]
        session.add_all(rows)
        session.flush()
        ids = [row.id for row in rows]
    assert len(set(ids)) == 3
    assert all(isinstance(row_id, int) and row_id > 0 for row_id in ids)


def test_foreign_keys_are_enforced(sessionmaker: Factory) -> None:
    with pytest.raises(IntegrityError):
        store(sessionmaker, CustomerAlias(alias="acme-old", customer_id="nobody"))
    add_customer(sessionmaker)
    with transaction(sessionmaker) as session:
        session.add(CustomerAlias(alias="acme-old", customer_id="acme"))


def test_deleting_a_meter_deletes_its_buckets(sessionmaker: Factory) -> None:
    meter_id = add_meter(sessionmaker)
    with transaction(sessionmaker) as session:
        session.add(bucket(meter_id))
    with transaction(sessionmaker) as session:
        session.execute(delete(MeterRow).where(MeterRow.id == meter_id))
    with transaction(sessionmaker) as session:
        assert session.scalars(select(UsageBucket)).all() == []


def test_server_defaults(sessionmaker: Factory) -> None:
    meter_id = add_meter(sessionmaker)
    with transaction(sessionmaker) as session:
        session.execute(
            text(
                "INSERT INTO usage_buckets (meter_id, customer_id, width, start, group_key)"
                " VALUES (:meter_id, 'acme', 3600, 0, '[]')"
            ),
            {"meter_id": meter_id},
        )
        session.execute(
            text(
                "INSERT INTO customers (id, name, currency, definition, uuid, created_at)"
                " VALUES ('acme', 'Acme', 'USD', '{}', 'u-1', 0)"
            )
        )
        session.execute(
            text(
                "INSERT INTO invoices (id, customer_id, plan_key, period_start, period_end,"
                " currency, status, number, issued_at, subtotal, credits_applied, total,"
                " document) VALUES ('inv-1', 'acme', 'pro', 0, 1, 'USD', 'issued', 1, 1,"
                " 0, 0, 0, '{}')"
            )
        )
        session.execute(
            text("INSERT INTO payments (invoice_id, amount, paid_at) VALUES ('inv-1', 100, 2)")
        )
    with transaction(sessionmaker) as session:
        stored = session.scalars(select(UsageBucket)).one()
        assert (stored.count, stored.skipped, stored.total) == (0, 0, Decimal(0))
        assert stored.maximum is None
        assert stored.latest_ts is None
        assert session.scalars(select(CustomerRow.ingest_lock)).one() == 0
        assert session.scalars(select(InvoiceRow.late_usage)).one() is False
        payment = session.scalars(select(PaymentRow)).one()
        assert (payment.method, payment.paid_at) == ("card", micros_to_datetime(2))


def test_python_side_defaults(sessionmaker: Factory) -> None:
    meter_id = add_meter(sessionmaker)
    with transaction(sessionmaker) as session:
        row = bucket(meter_id)
        session.add(row)
        session.flush()
        assert (row.count, row.skipped, row.total) == (0, 0, Decimal(0))


# --- transactions ---------------------------------------------------------------------------


def test_transaction_commits_on_success(sessionmaker: Factory) -> None:
    with transaction(sessionmaker) as session:
        session.add(Meta(key="k", value='"v"'))
    with transaction(sessionmaker) as session:
        assert session.get(Meta, "k") is not None


def test_transaction_rolls_back_on_error(sessionmaker: Factory) -> None:
    def fail() -> None:
        with transaction(sessionmaker) as session:
            session.add(Meta(key="k", value='"v"'))
            session.flush()
            raise Boom

    with pytest.raises(Boom):
        fail()
    with transaction(sessionmaker) as session:
        assert session.get(Meta, "k") is None


def test_objects_stay_readable_after_commit(sessionmaker: Factory) -> None:
    with transaction(sessionmaker) as session:
        meta = Meta(key="k", value='"v"')
        session.add(meta)
    assert meta.value == '"v"'  # no refresh needed: expire_on_commit=False


def test_savepoint_rolls_back_only_its_own_work(sessionmaker: Factory) -> None:
    with transaction(sessionmaker) as session:
        session.add(Meta(key="outer", value="1"))

        def fail() -> None:
            with session.begin_nested():
                session.add(Meta(key="inner", value="2"))
                session.flush()
                raise Boom

        with pytest.raises(Boom):
            fail()
    with transaction(sessionmaker) as session:
        assert session.scalars(select(Meta.key)).all() == ["outer"]


def test_concurrent_writers_serialize(sessionmaker: Factory) -> None:
    # Read-then-write transactions from many connections: on SQLite each one takes the write
    # lock at BEGIN (IMMEDIATE) and waits its turn instead of failing on lock upgrade; on
    # PostgreSQL the row lock does the same. No increment may be lost.
    writers = 8
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def next_number() -> None:
        try:
            barrier.wait(timeout=30)
            with transaction(sessionmaker) as session:
                counter = session.scalars(
                    select(InvoiceCounter).where(InvoiceCounter.id == 1).with_for_update()
                ).one()
                time.sleep(0.01)
                counter.last_number += 1
        except BaseException as error:  # collected and re-checked in the main thread
            errors.append(error)

    threads = [threading.Thread(target=next_number) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with transaction(sessionmaker) as session:
        counter = session.get(InvoiceCounter, 1)
        assert counter is not None
        assert counter.last_number == writers


# --- engines and URLs -----------------------------------------------------------------------


def test_database_url_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert database_url(None) == "sqlite:///meterbill.db"
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://u@db:5432/bills")
    assert database_url(None) == "postgresql+psycopg://u@db:5432/bills"
    assert database_url("other.db") == "sqlite:///other.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("foo.db", "sqlite:///foo.db"),
        ("/var/lib/meterbill/data.db", "sqlite:////var/lib/meterbill/data.db"),
        ("sqlite:///foo.db", "sqlite:///foo.db"),
        ("sqlite://", "sqlite://"),
        (
            "postgresql://postgres@127.0.0.1:5432/test",
            "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        ),
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_database_url_normalises(given: str, expected: str) -> None:
    assert database_url(given) == expected


def test_create_engine_for_postgres_uses_psycopg_with_pre_ping() -> None:
    engine = create_engine_for("postgresql://postgres@127.0.0.1:5432/test")  # does not connect
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.pool._pre_ping
    finally:
        engine.dispose()


def test_create_engine_for_refuses_other_databases() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        create_engine_for("mysql://u@h/db")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(str(tmp_path / "plain.db"))
    yield engine
    engine.dispose()


def test_sqlite_pragmas(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar_one() == "wal"
        assert pragma("PRAGMA foreign_keys").scalar_one() == 1
        assert pragma("PRAGMA synchronous").scalar_one() == 1  # NORMAL
        assert pragma("PRAGMA busy_timeout").scalar_one() == 30000


def test_sqlite_transactions_take_the_write_lock_at_begin(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "plain.db", timeout=0, isolation_level=None)
    try:
        with sqlite_engine.begin() as connection:
            connection.exec_driver_sql("SELECT 1")  # a read is enough: BEGIN IMMEDIATE
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again after commit
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_sqlite_ddl_is_transactional(sqlite_engine: Engine) -> None:
    def fail() -> None:
        with sqlite_engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE scratch (x INTEGER)")
            raise Boom

    with pytest.raises(Boom):
        fail()
    with sqlite_engine.connect() as connection:
        tables = connection.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
    assert "scratch" not in tables


def test_sqlite_autocommit_connections_then_transactions_again(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("CREATE TABLE scratch (x INTEGER)")
        connection.exec_driver_sql("VACUUM")  # impossible inside a transaction
    factory = make_sessionmaker(sqlite_engine)

    def fail() -> None:
        with transaction(factory) as session:
            session.execute(text("INSERT INTO scratch (x) VALUES (1)"))
            raise Boom

    with pytest.raises(Boom):
        fail()
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM scratch").scalar_one() == 0
