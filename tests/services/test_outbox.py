"""The outbox keeps an event exactly when the transaction that emitted it commits."""

from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import select

from meterbill.db.database import Database
from meterbill.db.models import OutboxMessage
from meterbill.db.outbox import message_count
from meterbill.services.outbox import emit

AT = datetime(2026, 2, 1, 0, 0, 5, tzinfo=UTC)


def test_a_committed_event_is_kept_with_its_standard_webhooks_payload(db_url: str) -> None:
    database = Database(db_url)
    try:
        with database.transaction() as session:
            message_id = emit(session, "invoice.issued", {"invoice_id": "inv_1"}, at=AT)
        with database.transaction() as session:
            row = session.get(OutboxMessage, 1)
            assert row is not None
            assert row.id == message_id
            assert message_id.startswith("msg_")
            assert len(message_id) == 30
            assert row.event_type == "invoice.issued"
            assert row.created_at == AT
            assert orjson.loads(row.payload) == {
                "type": "invoice.issued",
                "timestamp": "2026-02-01T00:00:05Z",
                "data": {"invoice_id": "inv_1"},
            }
    finally:
        database.dispose()


def test_a_rolled_back_event_is_gone_and_unknown_types_are_refused(db_url: str) -> None:
    database = Database(db_url)
    try:
        with database.transaction() as session:
            emit(session, "invoice.paid", {"invoice_id": "inv_1"}, at=AT)
            session.rollback()
        with database.transaction() as session:
            assert message_count(session) == 0
            with pytest.raises(ValueError, match=r"invoice\.deleted"):
                emit(session, "invoice.deleted", {}, at=AT)
    finally:
        database.dispose()


def test_the_customer_an_event_is_about_is_stored(db_url: str) -> None:
    database = Database(db_url)
    try:
        with database.transaction() as session:
            about = emit(
                session, "invoice.paid", {"invoice_id": "inv_1"}, at=AT, customer_id="acme"
            )
            batch = emit(session, "events.rejected", {"rejected": 2}, at=AT)
        with database.transaction() as session:
            rows = {row.id: row.customer_id for row in session.scalars(select(OutboxMessage))}
        assert rows == {about: "acme", batch: None}
    finally:
        database.dispose()
