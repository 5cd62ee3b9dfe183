"""Correction lines name the subscription's period they correct: plan and period start.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Before this revision a late-usage correction line recorded only the start of the period it
corrected, so two subscriptions of one customer whose periods start at the same instant
(two monthly plans; a weekly and a monthly plan when the 1st is a Monday) mixed up their
corrections. ``invoice_lines.corrects_plan_key`` names the plan of the corrected period; a
customer never has two overlapping subscriptions to one plan, so plan and period start
identify the subscription's period.

Existing correction lines are filled in: the customer's only issued invoice of that period
start when there is one; otherwise the one whose plan holds the line's product (the plan
key breaks a tie, the order in which the old code drew them).

It also drops the ``billing_clock`` kept in ``meta`` by ``close --as-of``: reads now default
to the current time, never to a stored clock.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoice_lines") as batch:
        batch.add_column(sa.Column("corrects_plan_key", sa.Text(), nullable=True))
    _fill_in()
    op.execute(sa.text("DELETE FROM meta WHERE key = 'billing_clock'"))


def _plan_products(connection: sa.Connection) -> dict[str, set[str]]:
    products: dict[str, set[str]] = {}
    for key, definition in connection.execute(sa.text("SELECT key, definition FROM plans")):
        try:
            document = json.loads(definition)
        except ValueError:
            document = {}
        listed = document.get("products", []) if isinstance(document, dict) else []
        products[key] = {str(item) for item in listed} if isinstance(listed, list) else set()
    return products


def _fill_in() -> None:
    connection = op.get_bind()
    lines = connection.execute(
        sa.text(
            "SELECT l.invoice_id, l.position, l.product_key, l.corrects_period_start,"
            " i.customer_id FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id"
            " WHERE l.corrects_period_start IS NOT NULL"
        )
    ).all()
    if not lines:
        return
    products = _plan_products(connection)
    plans_of: dict[tuple[str, int], list[str]] = {}
    for invoice_id, position, product_key, start, customer_id in lines:
        if (customer_id, start) not in plans_of:
            plans_of[(customer_id, start)] = list(
                connection.execute(
                    sa.text(
                        "SELECT plan_key FROM invoices WHERE customer_id = :customer"
                        " AND period_start = :start ORDER BY plan_key"
                    ),
                    {"customer": customer_id, "start": start},
                ).scalars()
            )
        candidates = plans_of[(customer_id, start)]
        holding = [plan for plan in candidates if product_key in products.get(plan, set())]
        if not candidates:
            continue
        chosen = (holding or candidates)[0]
        connection.execute(
            sa.text(
                "UPDATE invoice_lines SET corrects_plan_key = :plan"
                " WHERE invoice_id = :invoice AND position = :position"
            ),
            {"plan": chosen, "invoice": invoice_id, "position": position},
        )


def downgrade() -> None:
    with op.batch_alter_table("invoice_lines") as batch:
        batch.drop_column("corrects_plan_key")
