"""The limits of spec section 7, so that no single value can stop invoicing.

Each limit is applied where a value enters (the setup document, or the one event), with a
reason; what is already stored is read back as it is. Where each one is checked:

* ids, keys and aliases of a setup document (customer and resource ids, meter, product,
  plan and credit keys, aliases) and the event types a meter counts: at most
  ``MAX_ID_LENGTH`` characters (``core.setup``, when a document is applied);
* an event's ``transaction_id``, ``customer_id`` and ``event_type``: at most
  ``MAX_ID_LENGTH`` characters (``core.events.validate_event``);
* a property value that a meter of the event's type groups by: at most
  ``MAX_GROUP_VALUE_LENGTH`` characters in its group-value form
  (``core.events.check_group_values``, called by ingest with the catalog);
* every decimal of a setup document: a magnitude below ``SETUP_DECIMAL_LIMIT`` and at most
  ``SETUP_DECIMAL_PLACES`` decimal places (``core.setup``);
* an event's JSON nests at most ``MAX_EVENT_DEPTH`` levels (``validate_event``);
* a setup document nests at most ``MAX_SETUP_DEPTH`` levels (``services.setupio``, while
  YAML is composed and after JSON is decoded). Spec 7 names no depth for setup documents;
  the deepest field of a valid one is at level 6, so 64 is generous and keeps the YAML
  composer (which recurses) far from Python's recursion limit.

Numbers in events keep the bounds of spec 3 (``core.events.NUMBER_LIMIT``): below 10^30,
at most 18 decimal places.

Standard library only, no I/O.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence

__all__ = [
    "MAX_EVENT_DEPTH",
    "MAX_GROUP_KEY_BYTES",
    "MAX_GROUP_VALUE_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_SETUP_DEPTH",
    "MAX_UNIQUE_VALUE_BYTES",
    "SETUP_DECIMAL_LIMIT",
    "SETUP_DECIMAL_PLACES",
    "group_fits",
    "group_size",
    "group_text",
    "nests_deeper_than",
    "unique_value",
]

MAX_ID_LENGTH = 200
"""Longest id, key, alias, transaction id or event type, in characters."""

MAX_GROUP_VALUE_LENGTH = 200
"""Longest property value used as a group value by a meter, in characters."""

MAX_GROUP_KEY_BYTES = 2000
"""Largest stored text of one meter's group (``group_text``), in UTF-8 bytes.

Not in spec 7, which bounds each group value to 200 characters: several such values (four
of 200 four-byte characters) still make a group too large for a PostgreSQL index entry
(2,704 bytes, with the customer id and the unique value beside it). A group needs at least
three long non-ASCII values to reach it."""

MAX_UNIQUE_VALUE_BYTES = 200
"""A ``unique_count`` value longer than this (UTF-8 bytes) is kept as its SHA-256 digest."""

MAX_EVENT_DEPTH = 32
"""Deepest nesting of an event's JSON; the event object itself is level 1."""

MAX_SETUP_DEPTH = 64
"""Deepest nesting of a setup document; the top-level mapping is level 1."""

SETUP_DECIMAL_LIMIT = 10**15
"""Decimals of a setup document have a magnitude strictly below this."""

SETUP_DECIMAL_PLACES = 12
"""Decimals of a setup document have at most this many digits after the point."""


def nests_deeper_than(value: object, limit: int) -> bool:
    """Whether ``value`` holds mappings or lists more than ``limit`` levels deep.

    A scalar is level 0, a mapping or list of scalars level 1. Walked with an explicit
    stack, so any depth is measured without recursion; a container reached twice (YAML
    aliases share objects) is walked once per depth at which it is reached, never deeper.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    seen: dict[int, int] = {}
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: list[object] = list(item.values())
        elif isinstance(item, list | tuple):
            children = list(item)
        else:
            continue
        if level > limit:
            return True
        if seen.get(id(item), 0) >= level:
            continue
        seen[id(item)] = level
        stack.extend((child, level + 1) for child in children)
    return False


def group_text(group: Sequence[str]) -> str:
    """The text a group is stored as: compact JSON of its values, non-ASCII kept as is."""
    return json.dumps(list(group), ensure_ascii=False, separators=(",", ":"))


def group_size(group: Sequence[str]) -> int:
    """The UTF-8 length of ``group_text(group)``, in bytes."""
    return len(group_text(group).encode("utf-8"))


def group_fits(group: Sequence[str]) -> bool:
    """Whether a group keeps the limits: each value at most ``MAX_GROUP_VALUE_LENGTH``
    characters, the stored text at most ``MAX_GROUP_KEY_BYTES`` bytes."""
    if not group:
        return True
    total = sum(map(len, group))
    if total <= MAX_GROUP_VALUE_LENGTH and 6 * total + 3 * len(group) + 2 <= MAX_GROUP_KEY_BYTES:
        return True  # the common case, decided without encoding
    if any(len(value) > MAX_GROUP_VALUE_LENGTH for value in group):
        return False
    return group_size(group) <= MAX_GROUP_KEY_BYTES


def unique_value(text: str) -> str:
    """How a ``unique_count`` meter keeps a distinct value: as it is, or when longer than
    ``MAX_UNIQUE_VALUE_BYTES`` in UTF-8, as ``sha256:`` and its hex digest (71 characters),
    so that any value can be stored and indexed and distinct values stay distinct."""
    if len(text) <= MAX_UNIQUE_VALUE_BYTES // 4:
        return text
    data = text.encode("utf-8")
    if len(data) <= MAX_UNIQUE_VALUE_BYTES:
        return text
    return "sha256:" + hashlib.sha256(data).hexdigest()
