"""Exact JSON in and out: no number ever passes through a binary float.

Money and quantities are ``Decimal`` everywhere in meterbill (spec 3 and 4.4), so decoding
keeps every JSON number exact:

* integers stay ``int`` (any size);
* numbers with a fraction or an exponent become ``Decimal`` built from the literal text,
  so ``1.50`` stays ``Decimal("1.50")`` and ``1e2`` is ``Decimal("1E+2")``;
* the non-standard literals ``NaN``, ``Infinity`` and ``-Infinity`` are refused.

Decoding tries orjson first because it is several times faster than the standard library
and most documents (usage events in particular) carry integers and strings only. orjson
turns fractions, exponents and integers wider than 64 bits into ``float``; when any float
shows up, or when orjson refuses the document, the standard library decodes it again with
``parse_float=Decimal`` and produces the exact values or the error we report.

Encoding writes ``Decimal`` as a JSON string of ``str(value)`` (a JSON number would be read
back as a float by most clients) and datetimes as RFC 3339 in UTC with a ``Z``.
"""

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import BinaryIO, NoReturn

import orjson

from meterbill.core.events import format_timestamp

__all__ = [
    "JSONError",
    "dumps",
    "dumps_numbers",
    "dumps_text",
    "iter_json_lines",
    "loads_exact",
]


class JSONError(ValueError):
    """A document that is not JSON meterbill accepts; the message is one short line."""


_BOM = b"\xef\xbb\xbf"

# orjson serialises datetimes natively, but it keeps a non-UTC offset as given and writes
# naive values without any offset; passing them through lets ``_default`` normalise to Z.
_DUMPS_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def _refuse_constant(name: str) -> NoReturn:
    # The standard library calls this for NaN, Infinity and -Infinity, which are not JSON
    # (RFC 8259 section 6) and have no meaning as a usage quantity.
    raise JSONError(f"non-standard number literal {name}")


def _contains_float(value: object) -> bool:
    """Whether a decoded document holds a float anywhere (orjson's lossy numbers)."""
    if type(value) is float:
        return True
    # An explicit stack rather than recursion: orjson accepts nesting up to 1024 levels,
    # deeper than Python's default recursion limit. Exact ``type() is`` tests because
    # orjson only ever produces the exact built-in types, and they are the cheapest check.
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            children: Iterable[object] = item.values()
        elif type(item) is list:
            children = item
        else:
            continue
        for child in children:
            cls = type(child)
            if cls is float:
                return True
            if cls is dict or cls is list:
                stack.append(child)
    return False


def _has_lone_surrogate(value: object) -> bool:
    """Whether any string (key or value) holds an unpaired UTF-16 surrogate."""
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _decode_exact(data: bytes | str, *, orjson_failed: bool, keep_nonstandard: bool) -> object:
    constant = Decimal if keep_nonstandard else _refuse_constant
    try:
        result: object = json.loads(data, parse_float=Decimal, parse_constant=constant)
    except JSONError:
        raise
    except json.JSONDecodeError as exc:
        where = (
            f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno} column {exc.colno}"
        )
        raise JSONError(f"invalid JSON: {exc.msg} at {where}") from None
    except UnicodeDecodeError as exc:
        raise JSONError(f"invalid JSON: not UTF-8 (byte at position {exc.start})") from None
    except RecursionError:
        raise JSONError("invalid JSON: nested too deeply") from None
    except ValueError as exc:
        # e.g. an integer literal longer than Python's int/str conversion limit.
        first_line = str(exc).partition("\n")[0]
        raise JSONError(f"invalid JSON: {first_line}") from None
    # The standard library accepts escapes such as "\ud800" that orjson refuses; such a
    # string cannot be stored or re-encoded as UTF-8, so it is refused here as well.
    if orjson_failed and _has_lone_surrogate(result):
        raise JSONError("invalid JSON: string contains an unpaired surrogate")
    return result


def loads_exact(data: bytes | str, *, keep_nonstandard: bool = False) -> object:
    """Decode one JSON document keeping every number exact.

    Integers are ``int``; numbers with a fraction or an exponent are ``Decimal`` carrying the
    literal digits. Raises ``JSONError`` for a syntax error (``invalid JSON: ...``), for
    ``NaN`` / ``Infinity`` / ``-Infinity`` (``non-standard number literal NaN``), for input
    that is not UTF-8 and for strings with unpaired surrogates. A UTF-8 byte order mark at
    the start of ``bytes`` input is tolerated.

    With ``keep_nonstandard``, ``NaN`` and ``Infinity`` decode to non-finite ``Decimal``
    values instead, so that a batch of events can reject just the event holding one
    (``validate_event`` refuses non-finite numbers with the path of the value).
    """
    try:
        result: object = orjson.loads(data)
    except orjson.JSONDecodeError:
        # Either a real error (the standard library then words it) or something orjson does
        # not support but JSON allows (a byte order mark, nesting beyond 1024 levels).
        return _decode_exact(data, orjson_failed=True, keep_nonstandard=keep_nonstandard)
    if _contains_float(result):
        return _decode_exact(data, orjson_failed=False, keep_nonstandard=keep_nonstandard)
    return result


def _default(value: object) -> object:
    # Called by orjson (and the json fallback) for types they do not serialise themselves.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"naive datetime {value.isoformat()} has no time zone")
        return format_timestamp(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(obj: object) -> bytes:
    """Encode as compact UTF-8 JSON; ``Decimal`` as a string, datetimes as ``...Z``.

    Datetimes must be timezone-aware: they are converted to UTC and written as
    ``2026-01-01T00:00:00Z`` (``.ffffff`` only when the microseconds are non-zero). A naive
    datetime is a bug in the caller and raises ``TypeError`` rather than being guessed at.
    Integers of any size are written exactly.
    """
    return _orjson_dumps(obj, _default)


_INT64 = range(-(2**63), 2**64)


def _wide_ints_as_fragments(value: object) -> object:
    """A copy of ``value`` where integers orjson cannot hold (over 64 bits) are raw JSON."""
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return orjson.Fragment(str(value))
    if isinstance(value, dict):
        return {key: _wide_ints_as_fragments(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_wide_ints_as_fragments(item) for item in value]
    return value


def _orjson_dumps(obj: object, default: Callable[[object], object]) -> bytes:
    try:
        return orjson.dumps(obj, default=default, option=_DUMPS_OPTIONS)
    except TypeError as exc:
        # orjson refuses integers wider than 64 bits, which valid property values can be
        # (anything below 10^30): write those as raw JSON numbers and try once more. If it
        # still fails, the document really cannot be encoded and the first error stands.
        try:
            return orjson.dumps(
                _wide_ints_as_fragments(obj), default=default, option=_DUMPS_OPTIONS
            )
        except TypeError:
            raise exc from None


def dumps_numbers(obj: object, *, trim: bool = False) -> bytes:
    """Like :func:`dumps`, but every ``Decimal`` is a JSON *number* with exactly its digits.

    For wire formats whose clients expect numbers (the vendor-compatible APIs):
    ``Decimal("103.30")`` is written ``103.30`` (with ``trim``: ``103.3``), never with an
    exponent, never through a float, never as a negative zero.
    """

    def default(value: object) -> object:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise TypeError(f"cannot write {value} as a JSON number")
            if value.is_zero():
                return orjson.Fragment("0" if trim else format(abs(value), "f"))
            return orjson.Fragment(format(value.normalize() if trim else value, "f"))
        return _default(value)

    return _orjson_dumps(obj, default)


def dumps_text(obj: object) -> str:
    """``dumps`` as a ``str``."""
    return dumps(obj).decode("utf-8")


def iter_json_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, line)`` for every non-blank line of a JSON Lines stream.

    Line numbers are 1-based and count blank lines too, so they match what an editor shows.
    Lines are stripped of surrounding ASCII whitespace (including ``\\r``); a UTF-8 byte
    order mark on the first line is dropped. The stream is read one line at a time, so memory
    stays bounded by the longest line, never by the file.
    """
    for number, raw in enumerate(stream, start=1):
        line = raw.strip()
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :].strip()
        if line:
            yield number, line
