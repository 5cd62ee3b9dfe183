"""The JSON Schema of the setup document (core.setup_schema) agrees with core.setup.

Every example under ``examples/`` and every setup file of the shared scenarios is valid
under the schema and parsed by ``parse_setup``; each bad document below is refused by both,
so the schema never promises a document that apply refuses for its shape.
"""

from collections.abc import Iterator
from copy import deepcopy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from meterbill.core.errors import InvalidSetup
from meterbill.core.setup import (
    _CUSTOMER_FIELDS,
    _METER_FIELDS,
    _PRODUCT_FIELDS,
    _TOP_FIELDS,
    parse_setup,
)
from meterbill.core.setup_schema import setup_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
SCENARIOS = sorted((ROOT.parent / "shared" / "scenarios").glob("*/setup*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(setup_schema())


def as_json(value: object) -> Any:
    """A YAML value as JSON would carry it: unquoted YAML times become RFC 3339 strings."""
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def load(path: Path) -> Any:
    return as_json(yaml.safe_load(path.read_text()))


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(setup_schema())
    schema = setup_schema()
    assert set(schema["properties"]) == set(_TOP_FIELDS)
    defs = schema["$defs"]
    assert tuple(defs["meter"]["properties"]) == _METER_FIELDS
    assert tuple(defs["product"]["properties"]) == _PRODUCT_FIELDS
    assert tuple(defs["customer"]["properties"]) == _CUSTOMER_FIELDS


def test_there_are_three_examples_and_the_scenarios_are_found() -> None:
    assert [path.name for path in EXAMPLES] == [
        "metronome-like.yaml",
        "typesense-like.yaml",
        "warpstream-like.yaml",
    ]
    if not SCENARIOS:
        pytest.skip("../shared/scenarios is not beside the checkout")
    assert len(SCENARIOS) >= 3


@pytest.mark.parametrize(
    "path", EXAMPLES + SCENARIOS, ids=lambda path: path.parent.name + "/" + path.name
)
def test_every_example_and_scenario_setup_is_valid_under_the_schema_and_parses(
    path: Path,
) -> None:
    document = load(path)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(document)]
    assert errors == []
    parse_setup(document)
    # YAML's own values (times as datetimes) parse the same.
    assert parse_setup(yaml.safe_load(path.read_text())) == parse_setup(document)


def base() -> dict[str, Any]:
    return load(ROOT / "examples" / "metronome-like.yaml")  # type: ignore[no-any-return]


def changed(path: str, value: object) -> dict[str, Any]:
    """The metronome-like example with the field at ``path`` (dots, list indexes) set to
    ``value``; ``...`` deletes it."""
    document = deepcopy(base())
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    target: Any = document
    for part in parts[:-1]:
        target = target[part]
    if value is ...:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return document


BAD: dict[str, dict[str, Any]] = {
    "unknown top field": {**base(), "webhooks": []},
    "unknown meter field": changed("meters.0.unit", "tokens"),
    "meter key upper case": changed("meters.0.key", "InputTokens"),
    "meter key too long": changed("meters.0.key", "k" * 201),
    "unknown aggregation": changed("meters.0.aggregation", "average"),
    "sum without property": changed("meters.0.property", ...),
    "empty event type list": changed("meters.0.event_type", []),
    "group_by not a list": changed("meters.0.group_by", "model"),
    "float price": changed("products.3.price.unit_price", 20.5),
    "negative price": changed("products.3.price.unit_price", "-1"),
    "price not a decimal": changed("products.3.price.unit_price", "twenty"),
    "integer price too large": changed("products.3.price.unit_price", 10**15),
    "unknown price model": changed("products.3.price.model", "tiered"),
    "per-unit without a price": changed("products.3.price", {"model": "per_unit"}),
    "per-unit price and by": changed("products.0.price.unit_price", "1.00"),
    "package size zero": changed("products.2.price.package_size", 0),
    "flat product with a meter": changed("products.4.meter", "seats"),
    "usage product without a meter": changed("products.3.meter", ...),
    "reserved line item type": changed("products.4.line_item_type", "tax"),
    "graduated without tiers": changed("products.3.price", {"model": "graduated", "tiers": []}),
    "bad interval": changed("plans.0.interval", "fortnight"),
    "plan without products": changed("plans.0.products", []),
    "customer id with a space": changed("customers.0.id", "north wind"),
    "lower-case currency": changed("customers.0.currency", "usd"),
    "alias with a space": changed("customers.0.aliases", ["ops at northwind"]),
    "time without zone": changed("customers.0.subscriptions.0.starts_at", "2026-01-01T00:00:00"),
    "time as a date": changed("customers.0.subscriptions.0.starts_at", "2026-01-01"),
    "subscription without plan": changed("customers.0.subscriptions.0.plan", ...),
    "credit note kind": changed("customers.0.credits.0.kind", "credit_note"),
    "commit with a price": changed("customers.0.credits.0.price", "10.00"),
    "until without recurrence": changed("customers.0.credits.0.until", "2026-06-01T00:00:00Z"),
    "priority as text": changed("customers.0.credits.0.priority", "high"),
    "discount with percent and amount": changed("customers.0.discounts.0.amount", "5.00"),
    "discount with neither": changed("customers.0.discounts.0.percent", ...),
    "discount periods zero": changed("customers.0.discounts.0.periods", 0),
    "required name null": changed("customers.0.name", None),
    "empty name": changed("customers.0.name", ""),
    "not a mapping": {"meters": "none"},
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_documents_are_refused_by_the_schema_and_by_parse_setup(name: str) -> None:
    document = BAD[name]
    assert not VALIDATOR.is_valid(document), name
    with pytest.raises(InvalidSetup):
        parse_setup(document)


def nulls() -> Iterator[tuple[str, dict[str, Any]]]:
    yield "settings", {**base(), "settings": None}
    yield "ends_at", changed("customers.0.subscriptions.0.ends_at", None)
    yield "description", changed("products.0.description", None)


@pytest.mark.parametrize(("name", "document"), list(nulls()), ids=lambda v: str(v)[:20])
def test_an_optional_null_means_not_given_for_both(name: str, document: dict[str, Any]) -> None:
    assert VALIDATOR.is_valid(document), name
    parse_setup(document)
