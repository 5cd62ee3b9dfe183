"""A revision per customer's stored usage, for cached reads (issue 12).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

``usage_revisions`` holds, per customer, a number raised by every transaction that writes
the customer's buckets or takes its events out of ``usage_pending``; the row ``*`` is
raised when a meter's buckets are rebuilt for everyone. With the count of the customer's
pending events it tells a reader whether the usage it computed earlier is still what is
stored (``db.usage.usage_stamp``). Existing installations start with no rows (revision 0).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_revisions",
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_usage_revisions")),
    )


def downgrade() -> None:
    op.drop_table("usage_revisions")
