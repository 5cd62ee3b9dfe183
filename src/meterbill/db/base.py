"""The declarative base and the two column types every table relies on.

Storage rules (no floats anywhere):

* instants are stored as ``BIGINT`` microseconds since the Unix epoch, UTC, through
  :class:`UtcMicros`; Python code only ever sees aware UTC ``datetime`` objects and naive
  datetimes are refused on the way in;
* exact decimals (quantities, unit prices, usage sums) are stored as ``TEXT`` through
  :class:`DecimalText`: ``str(value)`` on the way in, ``Decimal(text)`` on the way out, so
  every digit survives on SQLite and PostgreSQL alike;
* money is stored as integer minor units in plain ``BigInteger`` columns.

Constraint and index names come from :data:`NAMING_CONVENTION` so that the Alembic chain
can refer to them by name on both databases.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import BigInteger, MetaData, Table, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "DecimalText",
    "UtcMicros",
    "datetime_to_micros",
    "micros_to_datetime",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)


def datetime_to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch of an aware ``datetime`` (exact integer arithmetic).

    Raises ``ValueError`` for a naive datetime: an instant without an offset is ambiguous.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot be stored: add a timezone")
    return (value - _EPOCH) // _ONE_MICROSECOND


def micros_to_datetime(micros: int) -> datetime:
    """The aware UTC ``datetime`` that is ``micros`` microseconds after the Unix epoch."""
    return _EPOCH + timedelta(microseconds=micros)


class UtcMicros(TypeDecorator[datetime]):
    """An instant stored as ``BIGINT`` microseconds since the Unix epoch, read back in UTC."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UtcMicros expects a datetime, got {type(value).__name__}")
        return datetime_to_micros(value)

    def process_result_value(self, value: object | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"UtcMicros column holds {type(value).__name__}, not an integer")
        return micros_to_datetime(value)


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal stored as its ``str()`` in a ``TEXT`` column.

    Only ``Decimal`` (and ``int``) values are accepted: a ``float`` is refused because it is
    not exact, and so are NaN and infinities, which have no place in a bill.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, Decimal):
            raise TypeError(f"DecimalText expects a Decimal, got {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"DecimalText cannot store the non-finite value {value}")
        return str(value)

    def process_result_value(self, value: object | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"DecimalText column holds {type(value).__name__}, not text")
        return Decimal(value)


class Base(DeclarativeBase):
    """Declarative base of every meterbill table.

    ``type_annotation_map`` makes a bare ``Mapped[datetime]`` or ``Mapped[Decimal]`` use the
    exact types above, so no column can fall back to a float or a naive timestamp by accident.
    """

    # Every meterbill model is mapped to a Table (SQLAlchemy types this as any FromClause).
    __table__: ClassVar[Table]

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[
        dict[type, TypeEngine[str] | TypeEngine[datetime] | TypeEngine[Decimal]]
    ] = {
        str: Text(),
        datetime: UtcMicros(),
        Decimal: DecimalText(),
    }
