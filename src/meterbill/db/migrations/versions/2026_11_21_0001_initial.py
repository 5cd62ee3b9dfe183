"""Initial schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Hand-written to match ``meterbill.db.models``. Column types are spelled with plain SQLAlchemy
types so the migration never changes when the Python-side types do: instants (``UtcMicros``)
are ``BIGINT`` microseconds since the epoch, exact decimals (``DecimalText``) are ``TEXT``,
money is ``BIGINT`` minor units. Constraint names follow ``meterbill.db.base.NAMING_CONVENTION``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Instants: microseconds since the Unix epoch, UTC.
_MICROS = sa.BigInteger
# Exact decimals, stored as their str().
_DECIMAL = sa.Text


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )
    op.create_table(
        "meters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("archived_at", _MICROS(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("key", name=op.f("uq_meters_key")),
    )
    op.create_table(
        "products",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_products")),
    )
    op.create_table(
        "plans",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_plans")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("uuid", sa.Text(), nullable=False),
        sa.Column("created_at", _MICROS(), nullable=False),
        sa.Column("archived_at", _MICROS(), nullable=True),
        sa.Column("ingest_lock", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("uuid", name=op.f("uq_customers_uuid")),
    )
    op.create_table(
        "customer_aliases",
        sa.Column("alias", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_aliases_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_customer_aliases")),
    )
    op.create_index(op.f("ix_customer_aliases_customer_id"), "customer_aliases", ["customer_id"])
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("timestamp", _MICROS(), nullable=False),
        sa.Column("arrived_at", _MICROS(), nullable=False),
        sa.Column("properties", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint(
            "customer_id", "transaction_id", name=op.f("uq_events_customer_id_transaction_id")
        ),
    )
    op.create_index(
        op.f("ix_events_customer_id_event_type_timestamp"),
        "events",
        ["customer_id", "event_type", "timestamp"],
    )
    op.create_index(op.f("ix_events_arrived_at"), "events", ["arrived_at"])
    op.create_table(
        "usage_buckets",
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("skipped", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("total", _DECIMAL(), server_default="0", nullable=False),
        sa.Column("maximum", _DECIMAL(), nullable=True),
        sa.Column("latest_ts", _MICROS(), nullable=True),
        sa.Column("latest_txid", sa.Text(), nullable=True),
        sa.Column("latest_value", _DECIMAL(), nullable=True),
        sa.Column("first_ts", _MICROS(), nullable=True),
        sa.Column("first_value", _DECIMAL(), nullable=True),
        sa.Column("last_ts", _MICROS(), nullable=True),
        sa.Column("last_value", _DECIMAL(), nullable=True),
        sa.Column("weighted", _DECIMAL(), nullable=True),
        sa.ForeignKeyConstraint(
            ["meter_id"],
            ["meters.id"],
            name=op.f("fk_usage_buckets_meter_id_meters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "meter_id", "customer_id", "width", "start", "group_key", name=op.f("pk_usage_buckets")
        ),
    )
    op.create_table(
        "usage_bucket_values",
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"],
            ["meters.id"],
            name=op.f("fk_usage_bucket_values_meter_id_meters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "meter_id",
            "customer_id",
            "width",
            "start",
            "group_key",
            "value",
            name=op.f("pk_usage_bucket_values"),
        ),
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
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_invoices_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.UniqueConstraint(
            "customer_id",
            "plan_key",
            "period_start",
            name=op.f("uq_invoices_customer_id_plan_key_period_start"),
        ),
    )
    op.create_index(
        op.f("ix_invoices_customer_id_period_start"), "invoices", ["customer_id", "period_start"]
    )
    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("line_key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("product_key", sa.Text(), nullable=True),
        sa.Column("line_type", sa.Text(), nullable=False),
        sa.Column("group_values", sa.Text(), nullable=False),
        sa.Column("quantity", _DECIMAL(), nullable=False),
        sa.Column("unit_price", _DECIMAL(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("corrects_period_start", _MICROS(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("invoice_id", "position", name=op.f("pk_invoice_lines")),
    )
    op.create_table(
        "credit_applications",
        sa.Column("invoice_id", sa.Text(), nullable=False),
        sa.Column("grant_key", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_credit_applications_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("invoice_id", "grant_key", name=op.f("pk_credit_applications")),
    )
    op.create_index(
        op.f("ix_credit_applications_customer_id"), "credit_applications", ["customer_id"]
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", _MICROS(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("method", sa.Text(), server_default="card", nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payments_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index(op.f("ix_payments_invoice_id"), "payments", ["invoice_id"])
    invoice_counter = op.create_table(
        "invoice_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_counter")),
    )
    op.bulk_insert(invoice_counter, [{"id": 1, "last_number": 0}])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=True),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("created_at", _MICROS(), nullable=False),
        sa.Column("revoked_at", _MICROS(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_api_keys_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("invoice_counter")
    op.drop_index(op.f("ix_payments_invoice_id"), table_name="payments")
    op.drop_table("payments")
    op.drop_index(op.f("ix_credit_applications_customer_id"), table_name="credit_applications")
    op.drop_table("credit_applications")
    op.drop_table("invoice_lines")
    op.drop_index(op.f("ix_invoices_customer_id_period_start"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("usage_bucket_values")
    op.drop_table("usage_buckets")
    op.drop_index(op.f("ix_events_arrived_at"), table_name="events")
    op.drop_index(op.f("ix_events_customer_id_event_type_timestamp"), table_name="events")
    op.drop_table("events")
    op.drop_index(op.f("ix_customer_aliases_customer_id"), table_name="customer_aliases")
    op.drop_table("customer_aliases")
    op.drop_table("customers")
    op.drop_table("plans")
    op.drop_table("products")
    op.drop_table("meters")
    op.drop_table("meta")
