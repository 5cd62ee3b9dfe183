"""Exact JSON decoding and encoding, and JSON Lines reading."""

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import islice
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterbill.core.events import read_number, validate_event
from meterbill.services.jsonio import (
    JSONError,
    dumps,
    dumps_text,
    iter_json_lines,
    loads_exact,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


def _assert_same(actual: object, expected: object) -> None:
    """Equal, of the same types all the way down, and Decimals with the same digits."""
    assert type(actual) is type(expected), (actual, expected)
    if isinstance(expected, Decimal):
        assert isinstance(actual, Decimal)
        assert actual.as_tuple() == expected.as_tuple()
    elif isinstance(expected, dict):
        assert isinstance(actual, dict)
        assert list(actual) == list(expected)
        for key, value in expected.items():
            _assert_same(actual[key], value)
    elif isinstance(expected, list):
        assert isinstance(actual, list)
        assert len(actual) == len(expected)
        for got, want in zip(actual, expected, strict=True):
            _assert_same(got, want)
    else:
        assert actual == expected


# --- loads_exact: exactness -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{"x": 0.1}', {"x": Decimal("0.1")}, id="0.1-not-float"),
        pytest.param(
            '{"x": 12345678901234567890123}',
            {"x": 12345678901234567890123},
            id="int-wider-than-64-bits",
        ),
        pytest.param("18446744073709551616", 18446744073709551616, id="2**64"),
        pytest.param("-9223372036854775809", -9223372036854775809, id="below-int64-min"),
        pytest.param("9223372036854775807", 9223372036854775807, id="int64-max-fast-path"),
        pytest.param("1e2", Decimal("1E+2"), id="exponent"),
        pytest.param("1E-7", Decimal("1E-7"), id="negative-exponent"),
        pytest.param('{"x": 1.50}', {"x": Decimal("1.50")}, id="trailing-zero-kept"),
        pytest.param("0.30000000000000004", Decimal("0.30000000000000004"), id="float-noise"),
        pytest.param("-0.0", Decimal("-0.0"), id="negative-zero"),
        pytest.param("1e400", Decimal("1E+400"), id="beyond-double-range"),
        pytest.param(
            '{"a": [{"b": 2.50}], "c": 3}',
            {"a": [{"b": Decimal("2.50")}], "c": 3},
            id="nested-fraction",
        ),
        pytest.param(
            '{"minutes": 15, "bytes": "74263654441", "on": true, "n": null}',
            {"minutes": 15, "bytes": "74263654441", "on": True, "n": None},
            id="no-fraction-fast-path",
        ),
        pytest.param('{"a": "é\\u00e9"}', {"a": "éé"}, id="unicode"),
        pytest.param("[" * 500 + "0.5" + "]" * 500, None, id="deep-fraction"),
    ],
)
def test_loads_exact_keeps_numbers_exact(text: str, expected: object) -> None:
    if expected is None:  # the deep case: build its expectation instead of spelling it out
        expected = Decimal("0.5")
        for _ in range(500):
            expected = [expected]
    _assert_same(loads_exact(text), expected)
    _assert_same(loads_exact(text.encode("utf-8")), expected)


def test_loads_exact_tolerates_a_byte_order_mark() -> None:
    assert loads_exact(b'\xef\xbb\xbf{"a": 1.5}') == {"a": Decimal("1.5")}


# --- loads_exact: errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param("NaN", "non-standard number literal NaN", id="nan"),
        pytest.param('{"x": NaN}', "non-standard number literal NaN", id="nan-in-object"),
        pytest.param('{"x": Infinity}', "non-standard number literal Infinity", id="infinity"),
        pytest.param("[-Infinity]", "non-standard number literal -Infinity", id="minus-infinity"),
        pytest.param(
            '{"y": 0.5, "x": NaN}', "non-standard number literal NaN", id="nan-with-fraction"
        ),
        pytest.param("", "invalid JSON: Expecting value at column 1", id="empty"),
        pytest.param('{"a": 1,}', "invalid JSON: ", id="trailing-comma"),
        pytest.param("{'a': 1}", "invalid JSON: ", id="single-quotes"),
        pytest.param('{"a": 1} {"b": 2}', "invalid JSON: Extra data at column 10", id="two-docs"),
        pytest.param('{\n"a": }', "at line 2 column 6", id="line-and-column"),
        pytest.param(b'{"a": "\xff"}', "invalid JSON: not UTF-8", id="bad-utf8"),
        pytest.param('"\\ud800"', "invalid JSON: string contains an unpaired surrogate", id="lone"),
        pytest.param("1" + "0" * 5000, "invalid JSON: ", id="int-too-long-to-convert"),
        pytest.param("[" * 100_000, "invalid JSON: ", id="absurd-nesting"),
    ],
)
def test_loads_exact_errors(data: bytes | str, message: str) -> None:
    with pytest.raises(JSONError) as caught:
        loads_exact(data)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert len(text) < 200
    assert isinstance(caught.value, ValueError)


# --- dumps ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param({"amount": Decimal("1.50")}, b'{"amount":"1.50"}', id="decimal-as-string"),
        pytest.param(Decimal("1E+2"), b'"1E+2"', id="decimal-str-form"),
        pytest.param(Decimal("-0.000001"), b'"-0.000001"', id="small-decimal"),
        pytest.param(datetime(2026, 1, 1, tzinfo=UTC), b'"2026-01-01T00:00:00Z"', id="utc"),
        pytest.param(
            datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=UTC),
            b'"2026-01-01T00:00:00.000005Z"',
            id="microseconds",
        ),
        pytest.param(
            datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
            b'"2026-01-01T00:00:00Z"',
            id="offset-to-z",
        ),
        pytest.param(
            {"q": [1, Decimal("2.5")], "at": datetime(2026, 2, 1, tzinfo=UTC), "ok": True},
            b'{"q":[1,"2.5"],"at":"2026-02-01T00:00:00Z","ok":true}',
            id="nested",
        ),
        pytest.param(
            {"bytes": 12345678901234567890123}, b'{"bytes":12345678901234567890123}', id="big-int"
        ),
        pytest.param({"name": "é"}, '{"name":"é"}'.encode(), id="utf8"),
    ],
)
def test_dumps(obj: object, expected: bytes) -> None:
    assert dumps(obj) == expected
    assert dumps_text(obj) == expected.decode("utf-8")


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({"at": datetime(2026, 1, 1)}, id="naive-datetime"),
        pytest.param({"s": {1, 2}}, id="set"),
        pytest.param({"big": 10**30, "s": object()}, id="big-int-and-unknown-type"),
    ],
)
def test_dumps_refuses(obj: object) -> None:
    with pytest.raises(TypeError):
        dumps(obj)


def test_decimal_round_trips_through_dumps_and_read_number() -> None:
    original = {"amount": Decimal("0.0023148"), "big": Decimal("1E+20")}
    decoded = loads_exact(dumps(original))
    assert isinstance(decoded, dict)
    for key, value in original.items():
        number = read_number(decoded[key])
        assert number is not None
        assert number.as_tuple() == value.as_tuple()


# --- iter_json_lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            b'{"a":1}\n\n  \n{"b":2}\r\n\n{"c":3}',
            [(1, b'{"a":1}'), (4, b'{"b":2}'), (6, b'{"c":3}')],
            id="blank-lines-counted",
        ),
        pytest.param(b"", [], id="empty"),
        pytest.param(b"\n\n \t\n", [], id="only-blank"),
        pytest.param(b"\n\n{}\n", [(3, b"{}")], id="leading-blank"),
        pytest.param(b'  {"a": 1}  \n', [(1, b'{"a": 1}')], id="stripped"),
        pytest.param(b'\xef\xbb\xbf{"a":1}\n{}', [(1, b'{"a":1}'), (2, b"{}")], id="bom"),
    ],
)
def test_iter_json_lines(data: bytes, expected: list[tuple[int, bytes]]) -> None:
    assert list(iter_json_lines(io.BytesIO(data))) == expected


class _EndlessEvents(io.RawIOBase):
    """An unbounded stream of event lines: only a streaming reader can get anything out."""

    def __init__(self) -> None:
        self._lines = self._generate()
        self._pending = b""
        self.bytes_served = 0

    @staticmethod
    def _generate() -> Iterator[bytes]:
        number = 0
        while True:
            number += 1
            yield b'{"transaction_id": "evt-%d"}\n\n' % number

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "WriteableBuffer") -> int:
        view = memoryview(buffer).cast("B")
        size = len(view)
        while len(self._pending) < size:
            self._pending += next(self._lines)
        view[:] = self._pending[:size]
        self._pending = self._pending[size:]
        self.bytes_served += size
        return size


def test_iter_json_lines_streams() -> None:
    source = _EndlessEvents()
    first = list(islice(iter_json_lines(io.BufferedReader(source)), 3))
    assert first == [
        (1, b'{"transaction_id": "evt-1"}'),
        (3, b'{"transaction_id": "evt-2"}'),
        (5, b'{"transaction_id": "evt-3"}'),
    ]
    assert source.bytes_served <= 64 * 1024


# --- decoding feeds validation --------------------------------------------------------------


def test_decoded_event_validates_with_exact_numbers() -> None:
    line = (
        b'{"transaction_id":"pr-1","customer_id":"acme","event_type":"produce",'
        b'"timestamp":"2026-01-07T09:44:00.123456789+01:00",'
        b'"properties":{"bytes":"74263654441","minutes":15,"ratio":0.25}}'
    )
    event = validate_event(loads_exact(line), now=datetime(2026, 1, 8, tzinfo=UTC))
    assert event.timestamp == datetime(2026, 1, 7, 8, 44, 0, 123456, tzinfo=UTC)
    assert read_number(event.properties["bytes"]) == Decimal(74263654441)
    assert read_number(event.properties["minutes"]) == Decimal(15)
    ratio = read_number(event.properties["ratio"])
    assert ratio is not None
    assert ratio.as_tuple() == Decimal("0.25").as_tuple()


# --- property: JSON numbers and decimal strings read back exactly ---------------------------


@st.composite
def _decimals(draw: st.DrawFn) -> Decimal:
    """Decimals with at most 18 places and magnitude below 1e29, exponent forms included."""
    places = draw(st.integers(min_value=-5, max_value=18))
    bound = 10 ** (29 + places)  # |digits| * 10**-places < 10**29
    digits = draw(st.integers(min_value=-bound + 1, max_value=bound - 1))
    # Built from text, never through arithmetic, so no context rounding can creep in.
    return Decimal(f"{digits}E{-places}")


@given(_decimals())
def test_json_number_and_decimal_string_read_back_exactly(original: Decimal) -> None:
    literal = str(original)  # always a valid JSON number literal for a finite Decimal
    document = loads_exact(f'{{"n": {literal}, "s": "{literal}"}}')
    assert isinstance(document, dict)

    from_number = read_number(document["n"])
    assert from_number == original
    if not original.is_zero():  # "-0" decodes as the int 0, which equals but loses the sign
        assert str(from_number) == literal

    from_string = read_number(document["s"])
    assert from_string is not None
    assert from_string.as_tuple() == original.as_tuple()
