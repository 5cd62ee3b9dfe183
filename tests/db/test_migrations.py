"""The packaged Alembic chain: it applies on SQLite and PostgreSQL, matches the models, is
idempotent and survives being run by several threads or processes at once."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

import meterbill
from meterbill.db.base import Base
from meterbill.db.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    migration_transaction,
    upgrade,
)
from meterbill.db.models import InvoiceCounter
from meterbill.db.session import create_engine_for

TABLES = {
    "alert_firings",
    "api_keys",
    "credit_applications",
    "credit_note_counter",
    "credit_notes",
    "customer_aliases",
    "customers",
    "events",
    "invoice_counter",
    "invoice_lines",
    "invoices",
    "meta",
    "meters",
    "outbox_messages",
    "payments",
    "plans",
    "products",
    "usage_bucket_values",
    "usage_buckets",
    "usage_pending",
    "usage_revisions",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
}


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def counter_rows(engine: Engine) -> list[tuple[int, int]]:
    with engine.connect() as connection:
        rows = connection.execute(select(InvoiceCounter.id, InvoiceCounter.last_number)).all()
    return [(row.id, row.last_number) for row in rows]


def assert_at_head(url: str) -> None:
    engine = create_engine_for(url)
    try:
        assert current_revision(engine) == head_revision()
        assert table_names(engine) == TABLES | {"alembic_version"}
        assert counter_rows(engine) == [(1, 0)]
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [row[0] for row in versions] == [head_revision()]
    finally:
        engine.dispose()


def test_migrations_ship_inside_the_package() -> None:
    package_dir = Path(meterbill.__file__).resolve().parent
    assert package_dir / "db" / "migrations" == MIGRATIONS_DIR
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert head_revision() == "0008"


def test_models_declare_every_table() -> None:
    assert set(Base.metadata.tables) == TABLES


def test_upgrade_creates_every_table(engine: Engine) -> None:
    assert table_names(engine) == TABLES | {"alembic_version"}


def test_upgrade_is_idempotent(db_url: str) -> None:
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert_at_head(db_url)
    upgrade(db_url)
    assert_at_head(db_url)


def test_upgrade_does_not_depend_on_the_working_directory(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    upgrade(db_url)
    assert_at_head(db_url)
    assert list(elsewhere.iterdir()) == []


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_initial_migration_seeds_the_invoice_counter(engine: Engine) -> None:
    assert counter_rows(engine) == [(1, 0)]


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    with migration_transaction(engine) as connection:
        command.downgrade(alembic_config(connection), "base")
    assert table_names(engine) == {"alembic_version"}
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert table_names(engine) == TABLES | {"alembic_version"}


def test_env_py_migrates_from_a_url_without_a_connection(db_url: str) -> None:
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", db_url.replace("%", "%%"))
    command.upgrade(config, "head")
    assert_at_head(db_url)


@pytest.mark.parametrize("shared_engine", [False, True], ids=["own-engines", "shared-engine"])
def test_two_threads_upgrading_at_once_both_succeed(db_url: str, shared_engine: bool) -> None:
    engine = create_engine_for(db_url)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            upgrade(engine if shared_engine else db_url)
        except BaseException as error:  # collected and re-checked in the main thread
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        engine.dispose()
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert_at_head(db_url)


def test_processes_upgrading_at_once_all_succeed(db_url: str) -> None:
    # Separate processes exercise the real cross-process lock (advisory lock on PostgreSQL,
    # BEGIN IMMEDIATE on SQLite); threads of one process are also serialised in-process.
    script = "import sys\nfrom meterbill.db.migrate import upgrade\nupgrade(sys.argv[1])\n"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, db_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = []
    for process in processes:
        _out, err = process.communicate(timeout=120)
        outcomes.append((process.returncode, err))
    assert outcomes == [(0, "")] * len(processes)
    assert_at_head(db_url)


def test_0002_names_the_plan_of_existing_correction_lines(db_url: str) -> None:
    """A database with issued invoices and corrections from before 0002 upgrades in place:
    each correction line gets the plan of the period it corrects."""
    engine = create_engine_for(db_url)
    try:
        with migration_transaction(engine) as connection:
            command.upgrade(alembic_config(connection), "0001")
        jan = 1767225600000000  # 2026-01-01T00:00:00Z in microseconds
        feb = 1769904000000000  # 2026-02-01T00:00:00Z
        mar = 1772323200000000  # 2026-03-01T00:00:00Z
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO plans (key, definition, position) VALUES"
                    " ('basic', '{\"products\": [\"calls\"]}', 0),"
                    " ('extra', '{\"products\": [\"storage\"]}', 1),"
                    " ('solo', '{\"products\": [\"calls\"]}', 2)"
                )
            )
            connection.execute(
                text("INSERT INTO meta (key, value) VALUES ('billing_clock', '\"2030-01-01\"')")
            )
            for customer in ("acme", "bolt"):
                connection.execute(
                    text(
                        "INSERT INTO customers (id, name, currency, definition, uuid, created_at)"
                        " VALUES (:id, :id, 'USD', '{}', :id, 0)"
                    ),
                    {"id": customer},
                )
            invoices = [
                ("a-jan-basic", "acme", "basic", jan, feb),
                ("a-jan-extra", "acme", "extra", jan, feb),
                ("b-jan-solo", "bolt", "solo", jan, feb),
                ("a-feb-basic", "acme", "basic", feb, mar),
                ("b-feb-solo", "bolt", "solo", feb, mar),
            ]
            for number, (invoice, customer, plan, start, end) in enumerate(invoices, 1):
                connection.execute(
                    text(
                        "INSERT INTO invoices (id, customer_id, plan_key, period_start,"
                        " period_end, currency, status, number, issued_at, subtotal,"
                        " credits_applied, total, document) VALUES (:id, :customer, :plan,"
                        " :start, :end, 'USD', 'issued', :number, 0, 0, 0, 0, '{}')"
                    ),
                    {
                        "id": invoice,
                        "customer": customer,
                        "plan": plan,
                        "start": start,
                        "end": end,
                        "number": number,
                    },
                )
            lines = [
                ("a-feb-basic", 0, "calls", None),
                ("a-feb-basic", 1, "calls", jan),
                ("a-feb-basic", 2, "storage", jan),
                ("b-feb-solo", 0, "calls", jan),
            ]
            for invoice, position, product, corrects in lines:
                connection.execute(
                    text(
                        "INSERT INTO invoice_lines (invoice_id, position, line_key, name,"
                        " product_key, line_type, group_values, quantity, amount,"
                        " corrects_period_start) VALUES (:invoice, :position, 'k', 'n',"
                        " :product, 'usage', '{}', '1', 100, :corrects)"
                    ),
                    {
                        "invoice": invoice,
                        "position": position,
                        "product": product,
                        "corrects": corrects,
                    },
                )
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            filled = connection.execute(
                text(
                    "SELECT invoice_id, position, corrects_plan_key FROM invoice_lines"
                    " ORDER BY invoice_id, position"
                )
            ).all()
        assert [tuple(row) for row in filled] == [
            ("a-feb-basic", 0, None),
            ("a-feb-basic", 1, "basic"),
            ("a-feb-basic", 2, "extra"),
            ("b-feb-solo", 0, "solo"),
        ]
        with engine.connect() as connection:
            keys = connection.execute(text("SELECT key FROM meta")).scalars().all()
        assert "billing_clock" not in keys
    finally:
        engine.dispose()
