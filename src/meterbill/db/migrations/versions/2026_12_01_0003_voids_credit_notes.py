"""Void and reissue, write-offs and credit notes (spec 5.6).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

A voided invoice's period returns to draft and the next close issues a replacement: a period
may now hold several invoices, at most one of them not void. The unique constraint on
``(customer_id, plan_key, period_start)`` becomes a partial unique index over the invoices
that are not void. ``invoices.replaces`` is the number of the void invoice a replacement
replaces; ``invoices.written_off`` marks a void whose period is deliberately not billed.

``credit_notes`` holds credit notes with their own gap-free numbers, handed out from the
single row of ``credit_note_counter`` (locked like ``invoice_counter``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MICROS = sa.BigInteger
_NOT_VOID = sa.text("status <> 'void'")


_COLUMNS = (
    "id, customer_id, plan_key, period_start, period_end, currency, status, number,"
    " issued_at, paid_at, voided_at, subtotal, credits_applied, total, late_usage, document"
)


def _invoices_table(*, voids: bool) -> None:
    """``invoices`` as of 0002 (``voids=False``) or as of this revision."""
    extra: list[sa.Column[object] | sa.UniqueConstraint] = (
        [
            sa.Column("replaces", sa.BigInteger(), nullable=True),
            sa.Column("written_off", sa.Boolean(), server_default=sa.false(), nullable=False),
        ]
        if voids
        else [
            sa.UniqueConstraint(
                "customer_id",
                "plan_key",
                "period_start",
                name=op.f("uq_invoices_customer_id_plan_key_period_start"),
            )
        ]
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("plan_key", sa.Text(), nullable=False),
        sa.Column("period_start", _MICROS(), nullable=False),
        sa.Column("period_end", _MICROS(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", _MICROS(), nullable=False),
        sa.Column("paid_at", _MICROS(), nullable=True),
        sa.Column("voided_at", _MICROS(), nullable=True),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("credits_applied", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("late_usage", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        *extra,
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_invoices_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
    )
    op.create_index(
        op.f("ix_invoices_customer_id_period_start"), "invoices", ["customer_id", "period_start"]
    )


def _rebuild_sqlite_invoices(*, voids: bool) -> None:
    """SQLite cannot drop a constraint: rebuild ``invoices`` in place, foreign keys on.

    The rows are kept aside, the table dropped and created again under the same name (the
    tables pointing at ``invoices`` keep pointing at it) and the rows put back. With the
    foreign keys deferred, dropping the table counts the rows left pointing at no invoice
    and putting the invoices back counts them down again, so the commit finds none.
    """
    op.execute(sa.text("PRAGMA defer_foreign_keys = ON"))
    op.execute(sa.text(f"CREATE TEMPORARY TABLE _invoices_0003 AS SELECT {_COLUMNS} FROM invoices"))
    op.drop_index(op.f("ix_invoices_customer_id_period_start"), table_name="invoices")
    op.drop_table("invoices")
    _invoices_table(voids=voids)
    op.execute(sa.text(f"INSERT INTO invoices ({_COLUMNS}) SELECT {_COLUMNS} FROM _invoices_0003"))
    op.execute(sa.text("DROP TABLE _invoices_0003"))


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        _rebuild_sqlite_invoices(voids=True)
    else:
        with op.batch_alter_table("invoices") as batch:
            batch.drop_constraint("uq_invoices_customer_id_plan_key_period_start", type_="unique")
            batch.add_column(sa.Column("replaces", sa.BigInteger(), nullable=True))
            batch.add_column(
                sa.Column("written_off", sa.Boolean(), server_default=sa.false(), nullable=False)
            )
    op.create_index(
        "uq_invoices_live_period",
        "invoices",
        ["customer_id", "plan_key", "period_start"],
        unique=True,
        sqlite_where=_NOT_VOID,
        postgresql_where=_NOT_VOID,
    )
    op.create_table(
        "credit_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("invoice_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("off_due", sa.BigInteger(), nullable=False),
        sa.Column("granted", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", _MICROS(), nullable=False),
        sa.Column("created_at", _MICROS(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_credit_notes_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_credit_notes_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_notes")),
        sa.UniqueConstraint("number", name=op.f("uq_credit_notes_number")),
    )
    op.create_index(op.f("ix_credit_notes_customer_id"), "credit_notes", ["customer_id"])
    op.create_index(op.f("ix_credit_notes_invoice_id"), "credit_notes", ["invoice_id"])
    counter = op.create_table(
        "credit_note_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_note_counter")),
    )
    op.bulk_insert(counter, [{"id": 1, "last_number": 0}])


def downgrade() -> None:
    op.drop_table("credit_note_counter")
    op.drop_index(op.f("ix_credit_notes_invoice_id"), table_name="credit_notes")
    op.drop_index(op.f("ix_credit_notes_customer_id"), table_name="credit_notes")
    op.drop_table("credit_notes")
    op.drop_index("uq_invoices_live_period", table_name="invoices")
    if _sqlite():
        _rebuild_sqlite_invoices(voids=False)
        return
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("written_off")
        batch.drop_column("replaces")
        batch.create_unique_constraint(
            "uq_invoices_customer_id_plan_key_period_start",
            ["customer_id", "plan_key", "period_start"],
        )
