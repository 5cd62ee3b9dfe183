"""Usage events: validation, timestamps and reading property values (spec section 3).

An event arrives as a decoded JSON object (see ``meterbill.services.jsonio.loads_exact``,
which keeps every number exact: ``int`` or ``Decimal``, never ``float``)::

    {"transaction_id": "evt-0001", "customer_id": "ti_acme", "event_type": "produce",
     "timestamp": "2026-01-03T10:15:00Z",
     "properties": {"cluster_id": "vci_events", "uncompressed_bytes": "52428800"}}

``validate_event`` turns it into an ``Event`` or raises ``InvalidEvent`` with a reason that
says what is wrong and where. Whether the customer exists is not checked here: the customer
id may be an alias and is resolved by the caller against the catalogue.

This module is pure: standard library only, no I/O.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from meterbill.core.errors import InvalidEvent
from meterbill.core.limits import MAX_EVENT_DEPTH, MAX_ID_LENGTH

__all__ = [
    "MAX_DECIMAL_PLACES",
    "MAX_EVENT_DEPTH",
    "MAX_ID_LENGTH",
    "NUMBER_LIMIT",
    "Event",
    "format_timestamp",
    "group_value",
    "parse_timestamp",
    "read_number",
    "time_text",
    "validate_event",
]

NUMBER_LIMIT = 10**30
"""Numbers must have a magnitude strictly below this (spec 3)."""

MAX_DECIMAL_PLACES = 18
"""Numbers may have at most this many digits after the decimal point (spec 3)."""

_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(hours=24)
_NO_PROPERTIES: Mapping[str, object] = {}
_MISSING = object()

# RFC 3339 section 5.6 date-time. The date/time separator may be "T" or "t" (the RFC's note
# also allows a space, which we refuse: it is ambiguous in logs and CSV). re.ASCII keeps
# \d from matching non-ASCII digits such as "٢".
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)

# A plain decimal literal as found in a property string: optional sign, digits with an
# optional fraction, optional exponent. Decimal() alone would also take "1_000", "Inf",
# "sNaN" and non-ASCII digits, none of which are numbers a meter should count.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[Ee][+-]?\d+)?", re.ASCII)


@dataclass(frozen=True, slots=True)
class Event:
    """A validated usage event.

    ``customer_id`` is as given: a customer id or one of its aliases, resolved later.
    ``timestamp`` is aware, in UTC, with microsecond precision. ``properties`` is the decoded
    JSON object itself (not copied, for speed); treat it as read-only.
    """

    transaction_id: str
    customer_id: str
    event_type: str
    timestamp: datetime
    properties: Mapping[str, object]


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _show(text: str) -> str:
    """A string quoted for a message, cut short so a huge value cannot flood a report."""
    if len(text) > 64:
        return repr(text[:64]) + "…"
    return repr(text)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC: ``2026-01-03T10:15:00Z``, with ``.ffffff`` only if non-zero.

    ``moment`` must be timezone-aware; a naive datetime raises ``ValueError`` because
    meterbill never guesses which zone a time is in.
    """
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        return f"{text}.{moment.microsecond:06d}Z"
    return f"{text}Z"


def time_text(moment: datetime | None) -> str | None:
    """:func:`format_timestamp`, or ``None`` (JSON ``null``) for no moment."""
    return None if moment is None else format_timestamp(moment)


def parse_timestamp(value: object) -> datetime:
    """Parse an RFC 3339 date-time into an aware UTC ``datetime``.

    Accepted: ``YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)``; ``T`` and ``Z`` may be lower
    case; the fraction has 1 to 9 digits and is truncated (not rounded) to microseconds.
    The date must exist (no 30 February) and leap seconds (``:60``) are refused because
    ``datetime`` cannot hold them. The range checks of ``validate_event`` are not applied.
    Raises ``InvalidEvent``.
    """
    if not isinstance(value, str):
        raise InvalidEvent(f"field 'timestamp' must be a string, got {_json_type(value)}")
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise InvalidEvent(
            f"timestamp {_show(value)} is not RFC 3339 (YYYY-MM-DDTHH:MM:SS[.fraction]"
            " followed by Z or ±HH:MM)"
        )
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    # Pad to at least six digits, then keep six: truncation toward the past, so a
    # nanosecond timestamp never moves into the next microsecond (or the next period).
    micro = int((fraction + "00000")[:6]) if fraction else 0
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, UTC
        )
    except ValueError as exc:
        raise InvalidEvent(f"timestamp {_show(value)} is not RFC 3339: {exc}") from None
    if sign is not None:
        hours, minutes = int(off_h), int(off_m)
        if hours > 23 or minutes > 59:
            raise InvalidEvent(f"timestamp {_show(value)} is not RFC 3339: bad UTC offset")
        offset = timedelta(hours=hours, minutes=minutes)
        try:
            # Local time = UTC + offset, so UTC = local time - offset.
            moment = moment - offset if sign == "+" else moment + offset
        except OverflowError:
            raise InvalidEvent(f"timestamp {_show(value)} is out of range") from None
    return moment


def _number_problem(value: object) -> str | None:
    """Why a decoded JSON number is refused, or None when it is acceptable."""
    if type(value) is int:
        if -NUMBER_LIMIT < value < NUMBER_LIMIT:
            return None
        return "is out of range (magnitude >= 1e30)"
    if isinstance(value, Decimal):
        # Finite first: comparing a NaN Decimal raises InvalidOperation.
        if not value.is_finite():
            return f"is not a finite number ({value})"
        if not -NUMBER_LIMIT < value < NUMBER_LIMIT:
            return "is out of range (magnitude >= 1e30)"
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
            return f"has more than {MAX_DECIMAL_PLACES} decimal places"
        return None
    if isinstance(value, float):
        return "is a binary float (decode events with loads_exact so numbers stay exact)"
    if isinstance(value, int):  # an int subclass other than bool, e.g. an IntEnum
        return _number_problem(int(value))
    return None


def _path(parent: str, key: object) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def _where(parent: str, key: object) -> str:
    """The path of a refused value for a message, shortened if absurdly long or deep."""
    path = _path(parent, key)
    if len(path) > 120:
        return f"{path[:60]}…{path[-60:]}"
    return path


def _nested(path: str, key: object, level: int) -> str:
    """The path of a child container at ``level``, or ``InvalidEvent`` when too deep."""
    if level > MAX_EVENT_DEPTH:
        raise InvalidEvent(
            f"value in {_where(path, key)} nests deeper than {MAX_EVENT_DEPTH} levels"
            " (an event's JSON nests at most that deep)"
        )
    return _path(path, key)


def _check_numbers(event: Mapping[str, object]) -> None:
    """Refuse the event when any number anywhere in it is out of range (spec 3), or when it
    nests more than ``MAX_EVENT_DEPTH`` levels deep (spec 7; the event object is level 1)."""
    # Iterative walk (nesting may be deeper than the recursion limit). Paths are built only
    # for containers and for the failing value, not for every scalar.
    stack: list[tuple[str, Mapping[str, object] | list[object], int]] = [("", event, 1)]
    while stack:
        path, container, level = stack.pop()
        items = container.items() if isinstance(container, Mapping) else enumerate(container)
        for key, item in items:
            cls = type(item)
            if isinstance(item, str):
                # No database stores a NUL inside text (PostgreSQL refuses it outright).
                if "\x00" in item:
                    raise InvalidEvent(f"string in {_where(path, key)} contains a NUL character")
                continue
            if cls is bool or item is None:
                continue
            if type(item) is int:
                # The most common number in usage events; checked inline for speed.
                if -NUMBER_LIMIT < item < NUMBER_LIMIT:
                    continue
                raise InvalidEvent(
                    f"number in {_where(path, key)} is out of range (magnitude >= 1e30)"
                )
            if type(item) is dict or type(item) is list:
                stack.append((_nested(path, key, level + 1), item, level + 1))
                continue
            if isinstance(item, bool):
                continue
            if isinstance(item, int | float | Decimal):
                problem = _number_problem(item)
                if problem is not None:
                    raise InvalidEvent(f"number in {_where(path, key)} {problem}")
                continue
            if isinstance(item, Mapping | list):
                stack.append((_nested(path, key, level + 1), item, level + 1))
                continue
            if not isinstance(item, str):
                raise InvalidEvent(
                    f"value in {_where(path, key)} is not JSON (got {type(item).__name__})"
                )


def _required_string(event: Mapping[str, object], field: str) -> str:
    value = event.get(field, _MISSING)
    if not isinstance(value, str):
        if value is _MISSING:
            raise InvalidEvent(f"missing field '{field}'")
        raise InvalidEvent(f"field '{field}' must be a string, got {_json_type(value)}")
    if not value:
        raise InvalidEvent(f"field '{field}' must not be empty")
    if "\x00" in value:
        raise InvalidEvent(f"field '{field}' must not contain NUL characters")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(f"field '{field}' is longer than {MAX_ID_LENGTH} characters")
    # A str subclass (never produced by a JSON decoder) is reduced to its plain value.
    return value if type(value) is str else str.__str__(value)


def validate_event(obj: object, *, now: datetime) -> Event:
    """Check one decoded event against spec section 3 and build an ``Event``.

    Rules, each refused with ``InvalidEvent`` and a reason naming the field:

    * ``obj`` must be a JSON object;
    * ``transaction_id``, ``customer_id`` and ``event_type`` are required non-empty
      strings of at most ``MAX_ID_LENGTH`` (200) characters (spec 7);
    * ``timestamp`` is a required RFC 3339 string (see ``parse_timestamp``), not before
      2000-01-01T00:00:00Z and not more than 24 hours after ``now`` (exactly 24 hours is
      accepted);
    * ``properties`` is optional (absent means ``{}``) but must be an object if present;
      ``null`` is refused like any other non-object;
    * every number anywhere in the event, nested properties included, must have a
      magnitude below 10^30, at most 18 decimal places, and be finite. Booleans are not
      numbers. A ``float`` is refused too: it means the caller decoded without
      ``loads_exact`` and the value may already be inexact;
    * the event nests at most ``MAX_EVENT_DEPTH`` (32) levels deep, the event object being
      level 1 and ``properties`` level 2 (spec 7).

    Unknown top-level fields are ignored (Metronome clients send extra ones such as
    ``event_id``), though numbers in them are still checked. ``now`` must be aware.
    """
    if not isinstance(obj, Mapping):
        raise InvalidEvent(f"event must be a JSON object, got {_json_type(obj)}")
    transaction_id = _required_string(obj, "transaction_id")
    customer_id = _required_string(obj, "customer_id")
    event_type = _required_string(obj, "event_type")

    raw_timestamp = obj.get("timestamp", _MISSING)
    if raw_timestamp is _MISSING:
        raise InvalidEvent("missing field 'timestamp'")
    timestamp = parse_timestamp(raw_timestamp)
    if timestamp < _EARLIEST:
        raise InvalidEvent(
            f"timestamp {format_timestamp(timestamp)} is before 2000-01-01T00:00:00Z"
        )
    if timestamp > now + _FUTURE_SLACK:
        raise InvalidEvent(
            f"timestamp {format_timestamp(timestamp)} is more than 24 hours in the future"
            f" (now is {format_timestamp(now)})"
        )

    properties = obj.get("properties", _MISSING)
    if properties is _MISSING:
        properties = _NO_PROPERTIES
    elif not isinstance(properties, Mapping):
        raise InvalidEvent(f"properties must be an object, got {_json_type(properties)}")

    _check_numbers(obj)
    return Event(transaction_id, customer_id, event_type, timestamp, properties)


def _within_limits(number: Decimal) -> bool:
    if not number.is_finite() or not -NUMBER_LIMIT < number < NUMBER_LIMIT:
        return False
    exponent = number.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -MAX_DECIMAL_PLACES


def read_number(value: object) -> Decimal | None:
    """A property value as an exact ``Decimal``, or None when a meter cannot read it.

    Readable: an ``int`` (not a ``bool``), a finite ``Decimal``, or a string holding a plain
    decimal literal (``"52428800"``, ``" -1.50 "``, ``"1e3"``; surrounding whitespace is
    ignored). The same limits as for event numbers apply to every form (magnitude below
    10^30, at most 18 decimal places), so a string cannot smuggle in what a JSON number
    could not. Anything else is None: ``None``, booleans, objects, arrays, floats, ``"n/a"``,
    ``"NaN"``, ``"Infinity"``, ``"1_000"``.
    """
    # Exact type tests first: they are the common, cheap cases (and exclude bool).
    if type(value) is int:
        if -NUMBER_LIMIT < value < NUMBER_LIMIT:
            return Decimal(value)
        return None
    if type(value) is str:
        text = value.strip()
        if _DECIMAL_TEXT.fullmatch(text) is None:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:  # an exponent beyond what Decimal can represent
            return None
        return number if _within_limits(number) else None
    if isinstance(value, Decimal):
        return value if _within_limits(value) else None
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    # Subclasses of int or str (an IntEnum, a StrEnum): read their plain value.
    return read_number(int(value) if isinstance(value, int) else str.__str__(value))


# JSON string escapes for group_value's text form of arrays and objects.
_ESCAPES = {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}
_ESCAPES.update({code: f"\\u{code:04x}" for code in range(0x20) if code not in _ESCAPES})


def _quote(text: str) -> str:
    return '"' + text.translate(_ESCAPES) + '"'


class _Raw(str):
    """Literal output text on group_value's work stack (as opposed to a value to render)."""

    __slots__ = ()


def _compact(value: object) -> str:
    """Compact JSON text of an array or object, keys in their original order."""
    # Iterative so that deep nesting cannot hit the recursion limit.
    out: list[str] = []
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Raw:
            out.append(item)
        elif isinstance(item, Mapping):
            pending: list[object] = [_Raw("{")]
            for index, (key, child) in enumerate(item.items()):
                if index:
                    pending.append(_Raw(","))
                pending.append(_Raw(_quote(str(key)) + ":"))
                pending.append(child)
            pending.append(_Raw("}"))
            stack.extend(reversed(pending))
        elif isinstance(item, list | tuple):
            pending = [_Raw("[")]
            for index, child in enumerate(item):
                if index:
                    pending.append(_Raw(","))
                pending.append(child)
            pending.append(_Raw("]"))
            stack.extend(reversed(pending))
        elif isinstance(item, str):
            out.append(_quote(item))
        else:
            out.append(group_value(item) if item is not None else "null")
    return "".join(out)


def group_value(value: object) -> str:
    """A property value as the string used for ``group_by`` dimensions and filters.

    Strings as they are; integers and decimals in their literal form (``15``, ``1.50``,
    ``1E+2``); booleans ``true`` / ``false``; ``None`` (or a missing property) ``""``;
    arrays and objects as compact JSON text with keys in their original order.
    """
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, Decimal | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return _compact(value)
    return str(value)
