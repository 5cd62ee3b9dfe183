"""The ORM classes of every meterbill table.

Conventions (see ``meterbill.db.base``): instants are :class:`UtcMicros`, exact decimals are
:class:`DecimalText`, money is ``BigInteger`` minor units, JSON documents are ``TEXT``.
A column is ``NOT NULL`` unless it is typed ``... | None``.

The migration chain (``migrations/versions/``) creates exactly these tables;
``tests/db/test_migrations.py`` checks that the two never drift apart.
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from meterbill.db.base import Base, DecimalText, UtcMicros

__all__ = [
    "AlertFiring",
    "ApiKeyRow",
    "CreditApplicationRow",
    "CreditNoteCounter",
    "CreditNoteRow",
    "CustomerAlias",
    "CustomerRow",
    "EventRow",
    "InvoiceCounter",
    "InvoiceLineRow",
    "InvoiceRow",
    "Meta",
    "MeterRow",
    "OutboxMessage",
    "PaymentRow",
    "PlanRow",
    "ProductRow",
    "UsageBucket",
    "UsageBucketValue",
    "UsagePending",
    "UsageRevision",
    "WebhookAttemptRow",
    "WebhookDeliveryRow",
    "WebhookEndpointRow",
]


class Meta(Base):
    """Key/value settings of the installation (values are JSON text)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MeterRow(Base):
    """A meter definition; ``id`` is the compact key used by usage buckets."""

    __tablename__ = "meters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    definition: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    archived_at: Mapped[datetime | None] = mapped_column(UtcMicros)


class ProductRow(Base):
    """A product of the catalog (definition is JSON)."""

    __tablename__ = "products"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    definition: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)


class PlanRow(Base):
    """A plan of the catalog (definition is JSON)."""

    __tablename__ = "plans"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    definition: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)


class CustomerRow(Base):
    """A customer; ``ingest_lock`` is the row locked (FOR UPDATE) to serialize its writes."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    definition: Mapped[str] = mapped_column(Text)
    uuid: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    archived_at: Mapped[datetime | None] = mapped_column(UtcMicros)
    ingest_lock: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class CustomerAlias(Base):
    """Another id under which a customer's events may arrive."""

    __tablename__ = "customer_aliases"

    alias: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_id: Mapped[str] = mapped_column(Text, ForeignKey("customers.id"), index=True)


class EventRow(Base):
    """A usage event as accepted; ``(customer_id, transaction_id)`` deduplicates."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("customer_id", "transaction_id"),
        Index(None, "customer_id", "event_type", "timestamp"),
        Index(None, "arrived_at"),
    )

    # BIGINT on PostgreSQL; INTEGER on SQLite so that the column aliases the rowid.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    customer_id: Mapped[str] = mapped_column(Text)
    transaction_id: Mapped[str] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(UtcMicros)
    arrived_at: Mapped[datetime] = mapped_column(UtcMicros)
    properties: Mapped[str] = mapped_column(Text)


class UsagePending(Base):
    """An accepted event not yet folded into the buckets of its order-free meters.

    Ingest writes one row per accepted event in the event's own transaction; the fold
    (``services.rollup``) moves events into the buckets and deletes their rows in one
    transaction, and reads add the events still listed here to the buckets they read, so an
    accepted event counts exactly once whenever it is read (spec 4.7).
    """

    __tablename__ = "usage_pending"

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    customer_id: Mapped[str] = mapped_column(Text, index=True)


class UsageRevision(Base):
    """How often a customer's stored usage has changed other than by new pending events.

    Every transaction that writes the customer's buckets or takes its events out of
    ``usage_pending`` raises ``revision``; the row ``*`` is raised
    when a meter's buckets are deleted for everyone. Between two raises the customer's
    pending events can only grow in number, so (``*``'s revision, the customer's revision,
    the count of its pending events) names what its usage reads are computed from.
    """

    __tablename__ = "usage_revisions"

    customer_id: Mapped[str] = mapped_column(Text, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)


class UsageBucket(Base):
    """Pre-aggregated usage of one meter, customer, window and group of dimension values."""

    __tablename__ = "usage_buckets"

    meter_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("meters.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(Text, primary_key=True)
    width: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    group_key: Mapped[str] = mapped_column(Text, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    skipped: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    total: Mapped[Decimal] = mapped_column(DecimalText, default=Decimal(0), server_default="0")
    maximum: Mapped[Decimal | None] = mapped_column(DecimalText)
    latest_ts: Mapped[datetime | None] = mapped_column(UtcMicros)
    latest_txid: Mapped[str | None] = mapped_column(Text)
    latest_value: Mapped[Decimal | None] = mapped_column(DecimalText)
    first_ts: Mapped[datetime | None] = mapped_column(UtcMicros)
    first_value: Mapped[Decimal | None] = mapped_column(DecimalText)
    last_ts: Mapped[datetime | None] = mapped_column(UtcMicros)
    last_value: Mapped[Decimal | None] = mapped_column(DecimalText)
    weighted: Mapped[Decimal | None] = mapped_column(DecimalText)


class UsageBucketValue(Base):
    """A distinct value seen in a usage bucket (for unique-count meters)."""

    __tablename__ = "usage_bucket_values"

    meter_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("meters.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(Text, primary_key=True)
    width: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    group_key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)


class InvoiceRow(Base):
    """An issued invoice; ``document`` is the frozen invoice as JSON.

    A period has at most one invoice that is not void (the partial unique index); void ones
    stay beside their replacement. ``replaces`` is the number of the void invoice a
    replacement replaces; ``written_off`` marks a void whose period is deliberately not
    billed (spec 5.6).
    """

    __tablename__ = "invoices"
    __table_args__ = (
        Index(
            "uq_invoices_live_period",
            "customer_id",
            "plan_key",
            "period_start",
            unique=True,
            sqlite_where=text("status <> 'void'"),
            postgresql_where=text("status <> 'void'"),
        ),
        Index(None, "customer_id", "period_start"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_id: Mapped[str] = mapped_column(Text, ForeignKey("customers.id"))
    plan_key: Mapped[str] = mapped_column(Text)
    period_start: Mapped[datetime] = mapped_column(UtcMicros)
    period_end: Mapped[datetime] = mapped_column(UtcMicros)
    currency: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    number: Mapped[int] = mapped_column(BigInteger, unique=True)
    issued_at: Mapped[datetime] = mapped_column(UtcMicros)
    paid_at: Mapped[datetime | None] = mapped_column(UtcMicros)
    voided_at: Mapped[datetime | None] = mapped_column(UtcMicros)
    subtotal: Mapped[int] = mapped_column(BigInteger)
    credits_applied: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    late_usage: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    document: Mapped[str] = mapped_column(Text)
    replaces: Mapped[int | None] = mapped_column(BigInteger)
    written_off: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class InvoiceLineRow(Base):
    """One line of an invoice, in display order."""

    __tablename__ = "invoice_lines"

    invoice_id: Mapped[str] = mapped_column(Text, ForeignKey("invoices.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_key: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    product_key: Mapped[str | None] = mapped_column(Text)
    line_type: Mapped[str] = mapped_column(Text)
    group_values: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(DecimalText)
    unit_price: Mapped[Decimal | None] = mapped_column(DecimalText)
    amount: Mapped[int] = mapped_column(BigInteger)
    corrects_period_start: Mapped[datetime | None] = mapped_column(UtcMicros)
    corrects_plan_key: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)


class CreditApplicationRow(Base):
    """How much of one credit grant an invoice consumed."""

    __tablename__ = "credit_applications"

    invoice_id: Mapped[str] = mapped_column(Text, ForeignKey("invoices.id"), primary_key=True)
    grant_key: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_id: Mapped[str] = mapped_column(Text, index=True)
    kind: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)


class PaymentRow(Base):
    """A payment recorded against an invoice."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[str] = mapped_column(Text, ForeignKey("invoices.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[datetime] = mapped_column(UtcMicros)
    reference: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text, default="card", server_default="card")


class InvoiceCounter(Base):
    """The single row (``id`` 1) holding the last invoice number handed out."""

    __tablename__ = "invoice_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(BigInteger)


class CreditNoteRow(Base):
    """A credit note on an issued or paid invoice (spec 5.6).

    ``off_due`` is what it took off the amount still due, ``granted`` what exceeded it and
    became the credit grant ``credit-note-<number>`` (both minor units; they sum to
    ``amount``).
    """

    __tablename__ = "credit_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[int] = mapped_column(BigInteger, unique=True)
    invoice_id: Mapped[str] = mapped_column(Text, ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[str] = mapped_column(Text, ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    off_due: Mapped[int] = mapped_column(BigInteger)
    granted: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcMicros)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)


class CreditNoteCounter(Base):
    """The single row (``id`` 1) holding the last credit-note number handed out."""

    __tablename__ = "credit_note_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(BigInteger)


class ApiKeyRow(Base):
    """An API key; only a hash of its secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(Text, ForeignKey("customers.id"))
    secret_hash: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcMicros)


class OutboxMessage(Base):
    """A webhook event written in the same transaction as the change that causes it.

    ``seq`` orders the outbox; ``id`` is the Standard Webhooks message id (``msg_...``), the
    same on every delivery attempt; ``payload`` is the JSON body that is signed and sent
    (``{"type", "timestamp", "data"}``); ``customer_id`` the customer the event is about (None
    for ``events.rejected``, which may span customers; no foreign key: the outbox is a
    record). Delivery to each endpoint is tracked elsewhere; the outbox row itself never
    changes.
    """

    __tablename__ = "outbox_messages"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(Text, unique=True)
    event_type: Mapped[str] = mapped_column(Text, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    payload: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(Text, index=True)


class AlertFiring(Base):
    """A spend alert that fired: at most one row per alert and billing period.

    The unique constraint makes firing insert-or-nothing, so several evaluators (``serve``
    processes) racing on one crossing record it once; the ``alert.triggered`` outbox message
    is written in the same transaction. ``plan_key`` and ``period_start`` name the
    subscription period; ``threshold`` and ``value`` are the amounts compared.
    """

    __tablename__ = "alert_firings"
    __table_args__ = (UniqueConstraint("customer_id", "alert_key", "plan_key", "period_start"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    customer_id: Mapped[str] = mapped_column(Text, ForeignKey("customers.id"))
    alert_key: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    plan_key: Mapped[str] = mapped_column(Text)
    period_start: Mapped[datetime] = mapped_column(UtcMicros)
    period_end: Mapped[datetime] = mapped_column(UtcMicros)
    currency: Mapped[str] = mapped_column(Text)
    threshold: Mapped[Decimal] = mapped_column(DecimalText)
    value: Mapped[Decimal] = mapped_column(DecimalText)
    fired_at: Mapped[datetime] = mapped_column(UtcMicros)
    message_id: Mapped[str] = mapped_column(Text)


_SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class WebhookEndpointRow(Base):
    """A webhook receiver: its URL, the event types it wants (JSON list; empty: every type)
    and its signing secret, kept in clear because the sender signs with it. After a rotation
    ``previous_secret`` signs too, until ``previous_secret_until``."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    event_types: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UtcMicros)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)


class WebhookDeliveryRow(Base):
    """One outbox message on its way to one endpoint.

    ``status``: ``pending`` (``next_attempt_at`` null: due at once), ``delivered`` or
    ``failed`` (the retry schedule ran out). ``attempts`` counts every attempt;
    ``round_attempts`` those since the message was (re-)sent, which pick the next delay. A
    sender holds the row while ``locked_until`` lies ahead (its ``locked_by`` token).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("message_seq", "endpoint_id"),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    message_seq: Mapped[int] = mapped_column(_SERIAL, ForeignKey("outbox_messages.seq"))
    endpoint_id: Mapped[str] = mapped_column(
        Text, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    round_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcMicros)
    locked_until: Mapped[datetime | None] = mapped_column(UtcMicros)
    locked_by: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcMicros)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)


class WebhookAttemptRow(Base):
    """One delivery attempt: when, the receiver's status code or the error, and the outcome
    (``delivered``, ``retrying`` or ``failed``)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        _SERIAL, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcMicros)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
