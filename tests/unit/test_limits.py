"""The limits of spec 7 where values enter: setup documents and single events.

Ids, keys, aliases and event types: at most 200 characters. Setup decimals: magnitude below
10^15, at most 12 decimal places. An event nests at most 32 levels (the event object is
level 1); a setup document at most 64 (meterbill's choice, docs/billing-semantics.md).
What is stored is read back without the limits.
"""

import copy
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from meterbill.core.aggregation import aggregate, bucketize, check_group
from meterbill.core.catalog import Aggregation, Meter
from meterbill.core.errors import InvalidEvent, InvalidRequest, InvalidSetup
from meterbill.core.events import Event, validate_event
from meterbill.core.limits import (
    group_fits,
    group_size,
    group_text,
    nests_deeper_than,
    unique_value,
)
from meterbill.core.periods import WindowSize
from meterbill.core.setup import parse_customer, parse_setup
from meterbill.db.usage import encode_group
from meterbill.services.setupio import load_setup_document

NOW = datetime(2026, 3, 5, tzinfo=UTC)

BASE: dict[str, Any] = {
    "settings": {"grace_period_hours": "24"},
    "meters": [
        {
            "key": "bytes",
            "name": "Bytes",
            "event_type": "produce",
            "aggregation": "sum",
            "property": "n",
            "group_by": ["cluster"],
        }
    ],
    "products": [
        {
            "key": "written",
            "name": "Written",
            "meter": "bytes",
            "quantity_divisor": "1024",
            "price": {
                "model": "graduated",
                "tiers": [{"up_to": "100", "unit_price": "0.10"}, {"unit_price": "0.05"}],
            },
        },
        {
            "key": "nodes",
            "name": "Nodes",
            "meter": "bytes",
            "price": {
                "model": "per_unit",
                "by": "cluster",
                "unit_prices": {"c1": "0.5"},
                "default_unit_price": "0.7",
            },
        },
        {
            "key": "calls",
            "name": "Calls",
            "meter": "bytes",
            "price": {"model": "package", "package_size": "1000", "package_price": "0.50"},
        },
        {"key": "support", "name": "Support", "price": {"model": "flat", "amount": "500.00"}},
    ],
    "plans": [
        {"key": "pro", "name": "Pro", "interval": "month", "products": ["written", "support"]},
        {"key": "min", "name": "Min", "interval": "month", "products": ["calls"]},
    ],
    "customers": [
        {
            "id": "acme",
            "name": "Acme",
            "aliases": ["acme_ingest"],
            "resources": [{"id": "r1", "kind": "cluster"}],
            "credits": [
                {
                    "key": "topup",
                    "kind": "prepaid",
                    "amount": "250.00",
                    "price": "200.00",
                    "starts_at": "2026-01-01T00:00:00Z",
                }
            ],
        }
    ],
}


def changed(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    """BASE with the field at ``path`` set to ``value``."""
    document = copy.deepcopy(BASE)
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return document


def refused(document: object) -> InvalidSetup:
    with pytest.raises(InvalidSetup) as caught:
        parse_setup(document)
    return caught.value


def test_the_base_document_is_within_the_limits() -> None:
    parse_setup(BASE)


# --- setup decimals -------------------------------------------------------------------------

DECIMAL_FIELDS = [
    ("settings", "grace_period_hours"),
    ("products", 0, "quantity_divisor"),
    ("products", 0, "price", "tiers", 0, "up_to"),
    ("products", 0, "price", "tiers", 1, "unit_price"),
    ("products", 1, "price", "unit_prices", "c1"),
    ("products", 1, "price", "default_unit_price"),
    ("products", 2, "price", "package_size"),
    ("products", 2, "price", "package_price"),
    ("products", 3, "price", "amount"),
    ("plans", 1, "minimum"),
    ("customers", 0, "credits", 0, "amount"),
    ("customers", 0, "credits", 0, "price"),
]


def dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


@pytest.mark.parametrize("path", DECIMAL_FIELDS, ids=dotted)
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1e25", "must have a magnitude below 10^15, got '1e25'"),
        ("1000000000000000", "must have a magnitude below 10^15, got '1000000000000000'"),
        (10**15, "must have a magnitude below 10^15, got 1000000000000000"),
        ("0.0000000000001", "must have at most 12 decimal places, got '0.0000000000001'"),
        ("1E-13", "must have at most 12 decimal places, got '1E-13'"),
        (Decimal("2.5000000000000"), "must have at most 12 decimal places, got 2.5000000000000"),
    ],
    ids=["1e25", "10^15", "int-10^15", "13-places", "exponent-13-places", "json-number"],
)
def test_every_setup_decimal_is_bounded_with_its_path(
    path: tuple[str | int, ...], value: object, problem: str
) -> None:
    error = refused(changed(path, value))
    assert error.path == dotted(path)
    assert error.problem == problem


@pytest.mark.parametrize("path", DECIMAL_FIELDS, ids=dotted)
@pytest.mark.parametrize(
    "value", ["999999999999999", "999999999999999.999999999999", "0.000000000001", "9.99E+14"]
)
def test_setup_decimals_just_inside_the_limits_are_accepted(
    path: tuple[str | int, ...], value: str
) -> None:
    parse_setup(changed(path, value))


def test_the_path_names_the_tier() -> None:
    """The example of the issue: the second tier's unit price."""
    error = refused(changed(("products", 0, "price", "tiers", 1, "unit_price"), "1e25"))
    assert str(error) == (
        "products[0].price.tiers[1].unit_price: must have a magnitude below 10^15, got '1e25'"
    )


# --- setup ids, keys, aliases, event types --------------------------------------------------

ID_FIELDS = [
    ("meters", 0, "key"),
    ("meters", 0, "event_type"),
    ("products", 0, "key"),
    ("plans", 0, "key"),
    ("customers", 0, "id"),
    ("customers", 0, "aliases", 0),
    ("customers", 0, "resources", 0, "id"),
    ("customers", 0, "credits", 0, "key"),
]


@pytest.mark.parametrize("path", ID_FIELDS, ids=dotted)
def test_ids_keys_aliases_and_event_types_are_at_most_200_characters(
    path: tuple[str | int, ...],
) -> None:
    error = refused(changed(path, "k" * 201))
    assert error.path == dotted(path)
    assert error.problem == f"{'k' * 64!r}… is 201 characters long; at most 200"
    parse_setup(changed(path, "k" * 200))  # references are checked later, not here


def test_an_event_type_in_a_list_is_bounded_too() -> None:
    error = refused(changed(("meters", 0, "event_type"), ["produce", "e" * 201]))
    assert error.path == "meters[0].event_type[1]"


def test_a_10_kb_id_is_refused_without_echoing_it() -> None:
    error = refused(changed(("customers", 0, "id"), "c" * 10_000))
    assert error.path == "customers[0].id"
    assert len(str(error)) < 200


def test_stored_definitions_are_read_back_without_the_limits() -> None:
    """A value stored before the limits existed must not stop the catalog from loading."""
    document = changed(("products", 3, "price", "amount"), "1e25")
    document["customers"][0]["id"] = "c" * 300
    parsed = parse_setup(document, limits=False)
    assert parsed.customers[0].id == "c" * 300
    customer = parse_customer(document["customers"][0], "customers.x", limits=False)
    assert customer.id == "c" * 300
    with pytest.raises(InvalidSetup):
        parse_customer(document["customers"][0], "customers.x")


def test_the_limits_are_back_on_after_a_read_back_that_failed() -> None:
    with pytest.raises(InvalidSetup):
        parse_setup({"meters": "not a list"}, limits=False)
    refused(changed(("customers", 0, "id"), "c" * 201))


# --- events ---------------------------------------------------------------------------------


def nested(levels: int) -> dict[str, Any]:
    """An event whose JSON nests exactly ``levels`` levels (the event object is level 1)."""
    inner: dict[str, Any] = {"n": 1}
    for _ in range(levels - 2):  # the event and its properties are two levels
        inner = {"a": inner}
    return {
        "transaction_id": "t1",
        "customer_id": "acme",
        "event_type": "produce",
        "timestamp": "2026-03-01T00:00:00Z",
        "properties": inner,
    }


def test_an_event_nesting_32_levels_is_accepted() -> None:
    assert nests_deeper_than(nested(32), 31)
    assert not nests_deeper_than(nested(32), 32)
    validate_event(nested(32), now=NOW)


@pytest.mark.parametrize("levels", [33, 40, 300, 5000])
def test_an_event_nesting_deeper_than_32_levels_is_rejected(levels: int) -> None:
    with pytest.raises(InvalidEvent) as caught:
        validate_event(nested(levels), now=NOW)
    assert "nests deeper than 32 levels" in str(caught.value)
    assert str(caught.value).startswith("value in properties.a.a.a")


def test_a_deep_array_counts_its_levels_too() -> None:
    event = nested(2)
    event["properties"] = {"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
    assert nests_deeper_than(event, 32)
    assert not nests_deeper_than(event, 33)
    with pytest.raises(InvalidEvent, match="nests deeper than 32 levels"):
        validate_event(event, now=NOW)
    event["properties"] = {"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
    validate_event(event, now=NOW)


@pytest.mark.parametrize("field", ["transaction_id", "customer_id", "event_type"])
def test_event_ids_are_at_most_200_characters(field: str) -> None:
    event = nested(2)
    event[field] = "x" * 200
    validate_event(event, now=NOW)
    event[field] = "x" * 201
    with pytest.raises(InvalidEvent, match=f"field '{field}' is longer than 200 characters"):
        validate_event(event, now=NOW)


def test_numbers_in_events_keep_the_bounds_of_spec_3() -> None:
    """Spec 7 adds no number limit for events: a 30-digit string or number below 10^30 is
    accepted, exactly as spec 3 says (closing copes with what it makes, per customer)."""
    event = nested(2)
    event["properties"] = {"n": "999999999999999999999999999999", "m": 10**30 - 1}
    validate_event(event, now=NOW)
    event["properties"] = {"m": 10**30}
    with pytest.raises(InvalidEvent, match="out of range"):
        validate_event(event, now=NOW)


def group_event(**properties: object) -> Event:
    return Event("t", "acme", "produce", NOW, properties)


BY_CLUSTER = Meter("bytes", "Bytes", ("produce",), Aggregation.SUM, "n", group_by=("cluster",))


@pytest.mark.parametrize(
    ("value", "length"),
    [
        ("v" * 201, 201),
        ("é" * 201, 201),
        ({"k": "v" * 193}, 201),  # compact JSON: {"k":"…"} adds 8 characters
        (["v" * 199], 203),
    ],
    ids=["string", "non-ascii", "object", "array"],
)
def test_a_group_value_longer_than_200_characters_is_rejected(value: object, length: int) -> None:
    with pytest.raises(InvalidEvent) as caught:
        check_group(BY_CLUSTER, group_event(cluster=value))
    assert str(caught.value) == (
        f"property 'cluster' is {length} characters long; meter 'bytes' groups by it and a"
        " group value has at most 200 characters"
    )


@pytest.mark.parametrize(
    "value", ["v" * 200, "😀" * 200, "\x01" * 200, {"k": "v" * 192}, None, 10**29, Decimal("1.5")]
)
def test_group_values_up_to_200_characters_are_accepted(value: object) -> None:
    check_group(BY_CLUSTER, group_event(cluster=value))


def test_only_grouped_properties_are_bounded() -> None:
    check_group(BY_CLUSTER, group_event(cluster="c1", note="n" * 10_000))


FOUR = Meter("multi", "Multi", ("produce",), Aggregation.SUM, "n", group_by=("a", "b", "c", "d"))


def test_a_group_too_large_to_index_is_rejected() -> None:
    """Four values of 200 four-byte characters are each within spec 7, but together take
    4 x 800 + 4 x 2 quotes + 3 commas + 2 brackets = 3,213 bytes: more than a PostgreSQL
    index entry holds. Three such values and an empty fourth take 2,413 bytes, two 1,613."""
    wide = "\U00020000" * 200
    with pytest.raises(InvalidEvent) as caught:
        check_group(FOUR, group_event(a=wide, b=wide, c=wide, d=wide))
    assert str(caught.value) == (
        "the values of 'a', 'b', 'c', 'd' take 3213 bytes as a group of meter 'multi';"
        " a group takes at most 2000"
    )
    with pytest.raises(InvalidEvent, match="2413 bytes"):
        check_group(FOUR, group_event(a=wide, b=wide, c=wide))
    check_group(FOUR, group_event(a=wide, b=wide))
    check_group(FOUR, group_event(a="v" * 200, b="v" * 200, c="v" * 200, d="v" * 200))


def test_the_group_size_is_the_stored_text() -> None:
    group = ("\x01" * 200, "é", '"')
    assert group_text(group) == encode_group(group)
    assert group_size(group) == len(encode_group(group).encode()) == 2 + 1200 + 2 + 2 + 2 + 4 + 2
    assert not group_fits(("\x01" * 200,) * 2)  # 2 x 1,202 bytes + 3
    assert group_fits(("\x01" * 166,) * 2)


def test_a_meter_leaves_out_stored_events_whose_group_does_not_fit() -> None:
    """An event accepted before a meter grouped by its long property: both the raw and the
    bucket path leave it out, so the bucket rebuild never meets a group it cannot store."""
    events = [
        Event("t1", "acme", "produce", NOW, {"cluster": "c1", "n": 2}),
        Event("t2", "acme", "produce", NOW, {"cluster": "x" * 201, "n": 5}),
    ]
    assert set(aggregate(BY_CLUSTER, events)) == {("c1",)}
    assert {group for group, _, _ in bucketize(BY_CLUSTER, events, [WindowSize.DAY])} == {("c1",)}


def test_long_unique_values_are_kept_as_digests() -> None:
    meter = Meter("u", "U", ("produce",), Aggregation.UNIQUE_COUNT, "u")
    long_one, other = "é" * 101, "é" * 100 + "e"  # 202 and 201 bytes
    events = [
        Event(f"t{i}", "acme", "produce", NOW, {"u": value})
        for i, value in enumerate([long_one, long_one, other, "short", "é" * 100])
    ]
    [partial] = aggregate(meter, events).values()
    assert partial.count == 5
    assert partial.values == {
        unique_value(long_one),
        unique_value(other),
        "short",
        "é" * 100,
    }
    assert unique_value(long_one) == "sha256:" + hashlib.sha256(long_one.encode()).hexdigest()
    assert unique_value("é" * 100) == "é" * 100  # exactly 200 bytes


# --- setup documents: nesting -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: " + "[" * 10_000 + "]" * 10_000, id="yaml-flow-10000"),
        pytest.param(
            "a:\n" + "".join("  " * (i + 1) + "b:\n" for i in range(2_000)), id="yaml-block-2000"
        ),
        pytest.param("a: " + "[" * 65 + "]" * 65, id="yaml-flow-66-levels"),
        pytest.param('{"a": ' + "[" * 64 + "]" * 64 + "}", id="json-65-levels"),
        pytest.param('{"a": ' + "[" * 900 + "]" * 900 + "}", id="json-901-levels"),
    ],
)
def test_a_setup_document_nests_at_most_64_levels(text: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        load_setup_document(text, source="setup.yaml")
    assert str(caught.value).startswith("setup.yaml")
    assert "nests deeper than 64 levels" in str(caught.value)


def test_a_json_setup_beyond_the_json_parser_is_refused_clearly() -> None:
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        load_setup_document('{"a": ' + "[" * 10_000 + "]" * 10_000 + "}", source="body")


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 63 + "]" * 63,
        '{"a": ' + "[" * 63 + "]" * 63 + "}",
    ],
    ids=["yaml", "json"],
)
def test_a_setup_document_of_64_levels_loads(text: str) -> None:
    document = load_setup_document(text, source="body")
    assert not nests_deeper_than(document, 64)
    assert nests_deeper_than(document, 63)


def test_yaml_aliases_chained_deeper_than_64_levels_are_refused() -> None:
    lines = ["l0: &l0 {x: 1}"] + [f"l{i}: &l{i} {{x: *l{i - 1}}}" for i in range(1, 70)]
    with pytest.raises(InvalidRequest, match="nests deeper than 64 levels"):
        load_setup_document("\n".join(lines), source="body")


def test_a_self_referencing_yaml_document_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="nests deeper than 64 levels"):
        load_setup_document("a: &a [*a]", source="body")


def test_nests_deeper_than_walks_shared_objects_once() -> None:
    shared: list[object] = [1]
    for _ in range(40):
        shared = [shared, shared]  # 2^40 paths, 41 levels
    assert not nests_deeper_than(shared, 41)
    assert nests_deeper_than(shared, 40)
