"""Event validation, timestamps and property reading (spec section 3); pure, no JSON codec."""

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from meterbill.core.errors import InvalidEvent
from meterbill.core.events import (
    Event,
    format_timestamp,
    group_value,
    parse_timestamp,
    read_number,
    validate_event,
)

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
_DROP = object()  # marks a field to remove from the base event


def _event(**changes: object) -> dict[str, object]:
    """A valid event with some fields replaced (or dropped with ``_DROP``)."""
    event: dict[str, object] = {
        "transaction_id": "evt-0001",
        "customer_id": "ti_acme",
        "event_type": "produce",
        "timestamp": "2026-01-03T10:15:00Z",
        "properties": {"cluster_id": "vci_events", "uncompressed_bytes": "52428800"},
    }
    for key, value in changes.items():
        if value is _DROP:
            del event[key]
        else:
            event[key] = value
    return event


def _props(**properties: object) -> dict[str, object]:
    return _event(properties=properties)


def _nested(depth: int, leaf: object) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


# --- validate_event: accepted ---------------------------------------------------------------


def test_valid_event_is_built_field_by_field() -> None:
    event = validate_event(_event(), now=NOW)
    assert event == Event(
        transaction_id="evt-0001",
        customer_id="ti_acme",
        event_type="produce",
        timestamp=datetime(2026, 1, 3, 10, 15, tzinfo=UTC),
        properties={"cluster_id": "vci_events", "uncompressed_bytes": "52428800"},
    )
    assert event.timestamp.tzinfo is UTC


def test_event_is_frozen() -> None:
    event = validate_event(_event(), now=NOW)
    with pytest.raises(FrozenInstanceError):
        event.customer_id = "other"  # type: ignore[misc]


def test_missing_properties_default_to_empty_object() -> None:
    assert validate_event(_event(properties=_DROP), now=NOW).properties == {}


def test_unknown_top_level_fields_are_ignored() -> None:
    event = validate_event(_event(event_id="abc", source={"sdk": "python"}), now=NOW)
    assert event.transaction_id == "evt-0001"


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_event(timestamp="2000-01-01T00:00:00Z"), id="first-instant-of-2000"),
        pytest.param(_event(timestamp="2026-01-11T12:00:00Z"), id="exactly-24h-ahead"),
        pytest.param(_event(timestamp="2026-01-11T13:00:00+01:00"), id="24h-ahead-via-offset"),
        pytest.param(_event(transaction_id="t" * 200), id="id-of-200-chars"),
        pytest.param(_props(x=10**30 - 1), id="int-just-below-1e30"),
        pytest.param(_props(x=-(10**30) + 1), id="negative-int-just-above-minus-1e30"),
        pytest.param(
            _props(x=Decimal("999999999999999999999999999999.999999999999999999")),
            id="decimal-just-below-1e30-with-18-places",
        ),
        pytest.param(_props(x=Decimal("1E-18")), id="decimal-with-18-places"),
        pytest.param(_props(x=Decimal("1E+29")), id="decimal-1e29"),
        pytest.param(_props(x=True, y=None, z="NaN"), id="bool-null-and-string-not-numbers"),
        pytest.param(_props(x={"deep": [1, Decimal("2.5"), {"z": 3}]}), id="nested-numbers"),
    ],
)
def test_accepted_events(event: dict[str, object]) -> None:
    validate_event(event, now=NOW)


# --- validate_event: refused, one case per reason -------------------------------------------

REJECTIONS = [
    pytest.param([1, 2], "event must be a JSON object, got array", id="array"),
    pytest.param(None, "event must be a JSON object, got null", id="null"),
    pytest.param("evt", "event must be a JSON object, got string", id="string"),
    pytest.param(_event(transaction_id=_DROP), "missing field 'transaction_id'", id="no-txn-id"),
    pytest.param(_event(customer_id=_DROP), "missing field 'customer_id'", id="no-customer"),
    pytest.param(_event(event_type=_DROP), "missing field 'event_type'", id="no-event-type"),
    pytest.param(_event(timestamp=_DROP), "missing field 'timestamp'", id="no-timestamp"),
    pytest.param(
        _event(customer_id=15),
        "field 'customer_id' must be a string, got number",
        id="customer-id-number",
    ),
    pytest.param(
        _event(transaction_id=None),
        "field 'transaction_id' must be a string, got null",
        id="transaction-id-null",
    ),
    pytest.param(
        _event(event_type=True), "field 'event_type' must be a string, got boolean", id="bool"
    ),
    pytest.param(
        _event(event_type=["produce"]),
        "field 'event_type' must be a string, got array",
        id="event-type-array",
    ),
    pytest.param(
        _event(timestamp=1767225600),
        "field 'timestamp' must be a string, got number",
        id="timestamp-epoch-number",
    ),
    pytest.param(
        _event(transaction_id=""), "field 'transaction_id' must not be empty", id="empty-id"
    ),
    pytest.param(
        _event(customer_id="c" * 201),
        "field 'customer_id' is longer than 200 characters",
        id="id-of-201-chars",
    ),
    pytest.param(
        _event(timestamp="2026-13-01T00:00:00Z"),
        "timestamp '2026-13-01T00:00:00Z' is not RFC 3339",
        id="month-13",
    ),
    pytest.param(
        _event(timestamp="1999-12-31T23:59:59Z"),
        "timestamp 1999-12-31T23:59:59Z is before 2000-01-01",
        id="before-2000",
    ),
    pytest.param(
        _event(timestamp="2000-01-01T00:30:00+01:00"),
        "timestamp 1999-12-31T23:30:00Z is before 2000-01-01",
        id="before-2000-once-in-utc",
    ),
    pytest.param(
        _event(timestamp="2026-01-11T12:00:01Z"),
        "timestamp 2026-01-11T12:00:01Z is more than 24 hours in the future",
        id="24h-and-1s-ahead",
    ),
    pytest.param(
        _event(properties=[1]), "properties must be an object, got array", id="props-array"
    ),
    pytest.param(
        _event(properties=None), "properties must be an object, got null", id="props-null"
    ),
    pytest.param(
        _event(properties="x=1"), "properties must be an object, got string", id="props-string"
    ),
    pytest.param(
        _props(bytes=10**30),
        "number in properties.bytes is out of range (magnitude >= 1e30)",
        id="int-1e30",
    ),
    pytest.param(
        _props(bytes=-(10**30)),
        "number in properties.bytes is out of range (magnitude >= 1e30)",
        id="int-minus-1e30",
    ),
    pytest.param(
        _props(bytes=Decimal("1E+30")),
        "number in properties.bytes is out of range (magnitude >= 1e30)",
        id="decimal-1e30",
    ),
    pytest.param(
        _props(bytes=Decimal("-1000000000000000000000000000000.5")),
        "number in properties.bytes is out of range",
        id="decimal-below-minus-1e30",
    ),
    pytest.param(
        _props(x=Decimal("0.0000000000000000001")),
        "number in properties.x has more than 18 decimal places",
        id="19-decimal-places",
    ),
    pytest.param(
        _props(x=Decimal("1.000000000000000000000000000")),
        "number in properties.x has more than 18 decimal places",
        id="trailing-zeros-count-as-places",
    ),
    pytest.param(
        _props(a={"b": [1, Decimal("1E-19")]}),
        "number in properties.a.b[1] has more than 18 decimal places",
        id="nested-path",
    ),
    pytest.param(
        _props(x=Decimal("NaN")), "number in properties.x is not a finite number (NaN)", id="nan"
    ),
    pytest.param(
        _props(x=Decimal("Infinity")),
        "number in properties.x is not a finite number (Infinity)",
        id="infinity",
    ),
    pytest.param(
        _props(x=Decimal("-Infinity")),
        "number in properties.x is not a finite number (-Infinity)",
        id="minus-infinity",
    ),
    pytest.param(_props(x=0.5), "number in properties.x is a binary float", id="stray-float"),
    pytest.param(
        _event(extra=10**31), "number in extra is out of range", id="number-in-unknown-field"
    ),
    pytest.param(
        _props(x=_nested(5000, 10**30)),
        # The event is level 1, properties 2, x 3: the 30th [0] is level 33 (spec 7).
        "value in properties.x" + "[0]" * 30 + " nests deeper than 32 levels",
        id="deep-nesting-no-recursion-error",
    ),
    pytest.param(
        _props(x={1, 2}), "value in properties.x is not JSON (got set)", id="non-json-value"
    ),
]


@pytest.mark.parametrize(("event", "reason"), REJECTIONS)
def test_rejected_events_say_what_and_where(event: object, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        validate_event(event, now=NOW)
    assert reason in str(caught.value)
    assert caught.value.code == "invalid_event"


# --- parse_timestamp ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-01-03T10:15:00Z", datetime(2026, 1, 3, 10, 15, tzinfo=UTC), id="z"),
        pytest.param("2026-01-03t10:15:00z", datetime(2026, 1, 3, 10, 15, tzinfo=UTC), id="lower"),
        pytest.param("2026-01-01T01:00:00+01:00", datetime(2026, 1, 1, tzinfo=UTC), id="+01:00"),
        pytest.param("2025-12-31T19:00:00-05:00", datetime(2026, 1, 1, tzinfo=UTC), id="-05:00"),
        pytest.param("2026-01-01T05:30:00+05:30", datetime(2026, 1, 1, tzinfo=UTC), id="+05:30"),
        pytest.param("2026-01-01T00:00:00-00:00", datetime(2026, 1, 1, tzinfo=UTC), id="-00:00"),
        pytest.param(
            "2026-03-01T00:30:00+01:00",
            datetime(2026, 2, 28, 23, 30, tzinfo=UTC),
            id="offset-crosses-month",
        ),
        pytest.param(
            "2026-01-01T00:00:00.5Z", datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC), id=".5"
        ),
        pytest.param(
            "2026-01-01T00:00:00.123456789Z",
            datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
            id="nanoseconds-truncated",
        ),
        pytest.param(
            "2026-01-31T23:59:59.999999999Z",
            datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
            id="truncated-not-rounded-into-next-month",
        ),
        pytest.param(
            "2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC), id="leap-day-exists"
        ),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2026-02-30T00:00:00Z", id="feb-30"),
        pytest.param("2025-02-29T00:00:00Z", id="feb-29-not-leap-year"),
        pytest.param("2026-01-01T24:00:00Z", id="hour-24"),
        pytest.param("2026-01-01T00:00:60Z", id="leap-second"),
        pytest.param("2026-01-01 00:00:00Z", id="space-separator"),
        pytest.param("2026-01-01T00:00:00", id="no-offset"),
        pytest.param("2026-01-01", id="date-only"),
        pytest.param("2026-01-01T00:00Z", id="no-seconds"),
        pytest.param("2026-01-01T00:00:00.Z", id="empty-fraction"),
        pytest.param("2026-01-01T00:00:00.1234567890Z", id="10-fraction-digits"),
        pytest.param("2026-01-01T00:00:00+0100", id="offset-without-colon"),
        pytest.param("2026-01-01T00:00:00+24:00", id="offset-hour-24"),
        pytest.param("2026-01-01T00:00:00+01:60", id="offset-minute-60"),
        pytest.param("20260101T000000Z", id="basic-format"),
        pytest.param("\uff12\uff10\uff12\uff16-01-01T00:00:00Z", id="fullwidth-digits"),
        pytest.param(" 2026-01-01T00:00:00Z", id="leading-space"),
        pytest.param("2026-01-01T00:00:00Z\n", id="trailing-newline"),
        pytest.param("", id="empty"),
        pytest.param("0000-01-01T00:00:00Z", id="year-zero"),
    ],
)
def test_parse_timestamp_refuses(text: str) -> None:
    with pytest.raises(InvalidEvent, match="is not RFC 3339"):
        parse_timestamp(text)


def test_parse_timestamp_out_of_range_offset() -> None:
    with pytest.raises(InvalidEvent, match="is out of range"):
        parse_timestamp("9999-12-31T23:59:59-01:00")


def test_parse_timestamp_refuses_non_string() -> None:
    with pytest.raises(InvalidEvent, match="field 'timestamp' must be a string, got number"):
        parse_timestamp(1767225600)


def test_long_bad_timestamp_is_cut_short_in_the_message() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_timestamp("x" * 10_000)
    assert len(str(caught.value)) < 200


# --- format_timestamp -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        pytest.param(datetime(2026, 1, 3, 10, 15, tzinfo=UTC), "2026-01-03T10:15:00Z", id="utc"),
        pytest.param(
            datetime(2026, 1, 3, 10, 15, 0, 5, tzinfo=UTC),
            "2026-01-03T10:15:00.000005Z",
            id="microseconds",
        ),
        pytest.param(
            datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))),
            "2026-01-01T00:00:00Z",
            id="converted-to-utc",
        ),
        pytest.param(datetime(2000, 1, 1, tzinfo=UTC), "2000-01-01T00:00:00Z", id="y2k"),
    ],
)
def test_format_timestamp(moment: datetime, text: str) -> None:
    assert format_timestamp(moment) == text


def test_format_timestamp_refuses_naive() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        format_timestamp(datetime(2026, 1, 1))


def test_format_then_parse_round_trips() -> None:
    moment = datetime(2026, 7, 4, 3, 2, 1, 654321, tzinfo=UTC)
    assert parse_timestamp(format_timestamp(moment)) == moment


# --- read_number ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(15, Decimal(15), id="int"),
        pytest.param(-3, Decimal(-3), id="negative-int"),
        pytest.param(12345678901234567890123, Decimal("12345678901234567890123"), id="big-int"),
        pytest.param(Decimal("1.50"), Decimal("1.50"), id="decimal-keeps-places"),
        pytest.param(Decimal("1E+2"), Decimal("1E+2"), id="decimal-exponent"),
        pytest.param("74263654441", Decimal("74263654441"), id="string-int"),
        pytest.param(" 2.5 ", Decimal("2.5"), id="string-with-spaces"),
        pytest.param("-0.000000000000000001", Decimal("-1E-18"), id="string-18-places"),
        pytest.param("1e3", Decimal("1E+3"), id="string-exponent"),
        pytest.param("+7", Decimal(7), id="string-plus-sign"),
        pytest.param(".5", Decimal("0.5"), id="string-leading-dot"),
        pytest.param("5.", Decimal(5), id="string-trailing-dot"),
        pytest.param("1.50", Decimal("1.50"), id="string-keeps-places"),
    ],
)
def test_read_number_reads(value: object, expected: Decimal) -> None:
    result = read_number(value)
    assert type(result) is Decimal
    assert result.as_tuple() == expected.as_tuple()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="null"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param({}, id="object"),
        pytest.param([1], id="array"),
        pytest.param(0.5, id="float"),
        pytest.param("n/a", id="n/a"),
        pytest.param("NaN", id="string-nan"),
        pytest.param("Infinity", id="string-infinity"),
        pytest.param("-inf", id="string-minus-inf"),
        pytest.param("", id="empty-string"),
        pytest.param("   ", id="blank-string"),
        pytest.param("1_000", id="underscores"),
        pytest.param("\u0661\u0662", id="arabic-indic-digits"),
        pytest.param("1,5", id="comma"),
        pytest.param("0x10", id="hex"),
        pytest.param("1e30", id="string-1e30"),
        pytest.param("0.0000000000000000001", id="string-19-places"),
        pytest.param("1e999999999999999999999", id="string-exponent-too-large-for-decimal"),
        pytest.param(10**30, id="int-1e30"),
        pytest.param(Decimal("NaN"), id="decimal-nan"),
        pytest.param(Decimal("-Infinity"), id="decimal-minus-infinity"),
        pytest.param(Decimal("1E-19"), id="decimal-19-places"),
    ],
)
def test_read_number_unreadable(value: object) -> None:
    assert read_number(value) is None


# --- group_value ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("kafka", "kafka", id="string"),
        pytest.param("", "", id="empty-string"),
        pytest.param(15, "15", id="int"),
        pytest.param(-3, "-3", id="negative-int"),
        pytest.param(Decimal("1.50"), "1.50", id="decimal-literal"),
        pytest.param(Decimal("1E+2"), "1E+2", id="decimal-exponent"),
        pytest.param(True, "true", id="true"),
        pytest.param(False, "false", id="false"),
        pytest.param(None, "", id="null"),
        pytest.param([], "[]", id="empty-array"),
        pytest.param({}, "{}", id="empty-object"),
        pytest.param(
            [1, "a", None, True, Decimal("2.5")], '[1,"a",null,true,2.5]', id="mixed-array"
        ),
        pytest.param(
            {"b": 1, "a": [{"c": 'x"y'}]}, '{"b":1,"a":[{"c":"x\\"y"}]}', id="order-kept-quoted"
        ),
        pytest.param(["a\nb", "\\", "\x01"], '["a\\nb","\\\\","\\u0001"]', id="escapes"),
        pytest.param(["é"], '["é"]', id="non-ascii-kept"),
        pytest.param(_nested(3000, 1), "[" * 3000 + "1" + "]" * 3000, id="deep-no-recursion"),
    ],
)
def test_group_value(value: object, expected: str) -> None:
    assert group_value(value) == expected
