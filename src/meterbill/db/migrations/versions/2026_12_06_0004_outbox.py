"""The webhook outbox (issue 10).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

``outbox_messages`` holds every webhook event, written in the same transaction as the change
that causes it (an invoice issued, a payment, a void, a credit note, an alert, a batch with
rejected events). ``seq`` orders it; ``id`` is the Standard Webhooks message id, kept on every
delivery attempt so that receivers can drop repeats. ``customer_id`` names the customer an
event is about (None for one that is about no single customer, ``events.rejected``): the
operator console lists a customer's deliveries by it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("id", name=op.f("uq_outbox_messages_id")),
    )
    op.create_index(op.f("ix_outbox_messages_event_type"), "outbox_messages", ["event_type"])
    op.create_index(op.f("ix_outbox_messages_customer_id"), "outbox_messages", ["customer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_messages_customer_id"), table_name="outbox_messages")
    op.drop_index(op.f("ix_outbox_messages_event_type"), table_name="outbox_messages")
    op.drop_table("outbox_messages")
