"""Events waiting to be folded into usage buckets (issue 12).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

``usage_pending`` lists, by event id, the accepted events whose order-free meters' buckets
do not hold them yet. Ingest writes a row per accepted event in the event's transaction;
the fold deletes the rows of the events it adds to the buckets in the same transaction.
Reads add the listed events to the buckets they read. Existing installations start empty:
every event stored before this revision is already in the buckets.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_pending",
        sa.Column(
            "event_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_usage_pending")),
    )
    op.create_index(
        op.f("ix_usage_pending_customer_id"), "usage_pending", ["customer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_usage_pending_customer_id"), table_name="usage_pending")
    op.drop_table("usage_pending")
