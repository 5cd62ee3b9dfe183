"""A JSON Schema (draft 2020-12) of the setup document, made from ``core.setup``'s own rules.

``core.setup`` reads the document by hand (its errors name the exact path and problem); this
module describes the same document for editors and other tools, from the same sources: the
field lists of every object (``_TOP_FIELDS``, ``_METER_FIELDS``, …), the id, key, alias,
decimal and time patterns, the limits of spec 7 and the enumerations of ``core.catalog``.
Building an object whose properties differ from its field list fails at import, so a field
added to the parser cannot be forgotten here.

What the schema checks is the shape of one document: fields, types, patterns, enumerations,
required fields, lengths and the rules between fields of one object that JSON Schema can say
(a flat product has no meter, a discount has a percent or an amount, …). What it cannot
check, ``meterbill apply`` still does: tier order and the last tier without ``up_to``, a
decimal's magnitude (below 10^15) and places (at most 12) when written as a string,
positive values written as strings, duplicate keys between list items, resource trees, and
references between objects (a product's meter, a subscription's plan), which may be in an
earlier document. So a document the schema refuses is refused by ``apply`` too, and one it
accepts can still be refused by ``apply`` for one of those reasons.

As in ``core.setup``, an optional field may be given as ``null`` (it then means "not given").
"""

import re
from typing import Any

from meterbill.core.catalog import (
    DEFAULT_NET_PAYMENT_TERMS,
    MAX_NET_PAYMENT_TERMS,
    Aggregation,
    AlertKind,
    Anchor,
    CreditKind,
    Interval,
)
from meterbill.core.limits import MAX_ID_LENGTH, SETUP_DECIMAL_LIMIT
from meterbill.core.setup import (
    _ALERT_FIELDS,
    _ALIAS,
    _CREDIT_FIELDS,
    _CUSTOMER_FIELDS,
    _DISCOUNT_FIELDS,
    _ID,
    _KEY,
    _METER_FIELDS,
    _PLAN_FIELDS,
    _PRICE_CHANGE_FIELDS,
    _PRICE_FIELDS,
    _PRODUCT_FIELDS,
    _RESERVED_LINE_TYPES,
    _RESOURCE_FIELDS,
    _SELLER_FIELDS,
    _SETTINGS_FIELDS,
    _SUBSCRIPTION_FIELDS,
    _TAX_FIELDS,
    _TIER_FIELDS,
    _TIMESTAMP,
    _TOP_FIELDS,
)

__all__ = ["SCHEMA_ID", "setup_schema"]

SCHEMA_ID = "https://meterbill.invalid/schemas/setup.json"
"""The schema's ``$id``: a name, not a place (``GET /v1/setup/schema`` serves it)."""

Schema = dict[str, Any]

# A decimal string that is not negative (``-0`` is zero, so it is allowed, as in core.setup).
_DECIMAL_TEXT = r"^(?:\+?(?:\d+(?:\.\d*)?|\.\d+)|-(?:0+(?:\.0*)?|\.0+))(?:[eE][+-]?\d+)?$"
_CURRENCY = r"^[A-Z]{3}$"


def _anchored(pattern: re.Pattern[str]) -> str:
    return f"^(?:{pattern.pattern})$"


def _nullable(schema: Schema) -> Schema:
    """An optional field: ``null`` means "not given"."""
    return {"anyOf": [schema, {"type": "null"}]}


def _object(
    fields: tuple[str, ...],
    properties: Schema,
    *,
    required: tuple[str, ...] = (),
    description: str | None = None,
    rules: Schema | None = None,
) -> Schema:
    """A mapping with exactly ``fields``; the ones not ``required`` may be null."""
    if tuple(properties) != fields:
        raise AssertionError(f"schema fields {tuple(properties)} differ from {fields}")
    schema: Schema = {
        "type": "object",
        "properties": {
            name: value if name in required else _nullable(value)
            for name, value in properties.items()
        },
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    schema.update(rules or {})
    return schema


def _list(items: Schema, *, unique: bool = False, min_items: int = 0) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if unique:
        schema["uniqueItems"] = True
    if min_items:
        schema["minItems"] = min_items
    return schema


_STRING: Schema = {"type": "string", "minLength": 1}
_TIME: Schema = {
    "type": "string",
    "pattern": _anchored(_TIMESTAMP),
    "description": "RFC 3339 UTC or offset time, 2000-01-01 up to 2100-01-01",
}
_LABEL: Schema = {"type": ["string", "integer", "boolean"]}
_BOOLEAN: Schema = {"type": "boolean"}
_INTEGER: Schema = {"type": "integer"}


def _pattern(pattern: re.Pattern[str], description: str) -> Schema:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_LENGTH,
        "pattern": _anchored(pattern),
        "description": description,
    }


_KEY_STRING = _pattern(_KEY, "a key: lower-case letters, digits and _")
_ID_STRING = _pattern(_ID, "an id: letters, digits, _ . -")
_ALIAS_STRING = _pattern(_ALIAS, "an ingest alias: printable ASCII without spaces")


def _decimal(*, positive: bool = False) -> Schema:
    """A decimal string like "0.01" (or an integer); not negative, below 10^15."""
    integer: Schema = {"type": "integer", "exclusiveMaximum": SETUP_DECIMAL_LIMIT}
    integer["exclusiveMinimum" if positive else "minimum"] = 0
    return {
        "anyOf": [{"type": "string", "pattern": _DECIMAL_TEXT}, integer],
        "description": 'a decimal string like "0.01" (at most 12 decimal places, below 10^15)'
        + ("; greater than 0" if positive else ""),
    }


def _price_models() -> Schema:
    tiers = _list(
        _object(
            _TIER_FIELDS,
            {
                "up_to": _decimal(positive=True),
                "unit_price": _decimal(),
                "flat_amount": _decimal(),
            },
            required=("unit_price",),
        ),
        min_items=1,
    )
    model = {name: {"const": name} for name in _PRICE_FIELDS}
    per_unit = _object(
        _PRICE_FIELDS["per_unit"],
        {
            "model": model["per_unit"],
            "unit_price": _decimal(),
            "by": _STRING,
            "unit_prices": {"type": "object", "additionalProperties": _decimal()},
            "default_unit_price": _decimal(),
        },
        required=("model",),
        description="unit_price, or by (a group_by of the meter) with unit_prices",
        rules={
            "oneOf": [
                {
                    "required": ["unit_price"],
                    "properties": {
                        "unit_price": {"not": {"type": "null"}},
                        "by": {"type": "null"},
                        "unit_prices": {"type": "null"},
                        "default_unit_price": {"type": "null"},
                    },
                },
                {
                    "required": ["by", "unit_prices"],
                    "properties": {
                        "by": {"not": {"type": "null"}},
                        "unit_prices": {"not": {"type": "null"}},
                        "unit_price": {"type": "null"},
                    },
                },
            ]
        },
    )
    return {
        "per_unit": per_unit,
        "graduated": _object(
            _PRICE_FIELDS["graduated"],
            {"model": model["graduated"], "tiers": tiers},
            required=("model", "tiers"),
        ),
        "volume": _object(
            _PRICE_FIELDS["volume"],
            {"model": model["volume"], "tiers": tiers},
            required=("model", "tiers"),
        ),
        "package": _object(
            _PRICE_FIELDS["package"],
            {
                "model": model["package"],
                "package_size": _decimal(positive=True),
                "package_price": _decimal(),
            },
            required=("model", "package_size", "package_price"),
        ),
        "flat": _object(
            _PRICE_FIELDS["flat"],
            {"model": model["flat"], "amount": _decimal(), "prorate": _BOOLEAN},
            required=("model", "amount"),
        ),
    }


def _flat(price: str) -> Schema:
    """ "The price (a $ref) is flat" as a condition."""
    return {
        "properties": {price: {"properties": {"model": {"const": "flat"}}, "required": ["model"]}},
        "required": [price],
    }


def setup_schema() -> Schema:
    """The JSON Schema of a setup document, a fresh JSON-ready dict on every call."""
    models = _price_models()
    price: Schema = {
        "type": "object",
        "required": ["model"],
        "properties": {"model": {"enum": list(_PRICE_FIELDS)}},
        "allOf": [
            {"if": {"properties": {"model": {"const": name}}}, "then": {"$ref": f"#/$defs/{name}"}}
            for name in _PRICE_FIELDS
        ],
    }
    meter = _object(
        _METER_FIELDS,
        {
            "key": _KEY_STRING,
            "name": _STRING,
            "event_type": {
                "anyOf": [
                    {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
                    _list(
                        {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
                        unique=True,
                        min_items=1,
                    ),
                ]
            },
            "aggregation": {"enum": [a.value for a in Aggregation]},
            "property": _STRING,
            "filters": {
                "type": "object",
                "additionalProperties": _list(_LABEL, min_items=1),
            },
            "group_by": _list(_STRING, unique=True),
        },
        required=("key", "name", "event_type", "aggregation"),
        # Every aggregation but count reads a property.
        rules={
            "if": {"properties": {"aggregation": {"const": Aggregation.COUNT.value}}},
            "else": {"required": ["property"], "properties": {"property": _STRING}},
        },
    )
    product = _object(
        _PRODUCT_FIELDS,
        {
            "key": _KEY_STRING,
            "name": _STRING,
            "meter": _STRING,
            "quantity_divisor": _decimal(positive=True),
            "line_item_type": {
                **_KEY_STRING,
                "not": {"enum": sorted(_RESERVED_LINE_TYPES)},
            },
            "description": _STRING,
            "price": {"$ref": "#/$defs/price"},
            "price_changes": _list(
                _object(
                    _PRICE_CHANGE_FIELDS,
                    {"effective_from": _TIME, "price": {"$ref": "#/$defs/price"}},
                    required=("effective_from", "price"),
                )
            ),
            "free_quantity": _decimal(),
            "minimum": _decimal(),
            "maximum": _decimal(),
            "tax_exempt": _BOOLEAN,
            "unit": {**_STRING, "description": "what one unit is called on invoices (display)"},
        },
        required=("key", "name", "price"),
        description="A usage product has a meter; a flat-priced one has none (nor free_quantity).",
        rules={
            "if": _flat("price"),
            "then": {
                "properties": {
                    "meter": {"type": "null"},
                    "free_quantity": {"type": "null"},
                    "unit": {"type": "null"},
                }
            },
            "else": {"required": ["meter"], "properties": {"meter": _STRING}},
        },
    )
    plan = _object(
        _PLAN_FIELDS,
        {
            "key": _KEY_STRING,
            "name": _STRING,
            "interval": {"enum": [i.value for i in Interval]},
            "anchor": {"enum": [a.value for a in Anchor]},
            "products": _list(_STRING, unique=True, min_items=1),
            "minimum": _decimal(),
        },
        required=("key", "name", "interval", "products"),
    )
    settings = _object(
        _SETTINGS_FIELDS,
        {
            "grace_period_hours": _decimal(),
            "taxes": _list(
                _object(
                    _TAX_FIELDS,
                    {"key": _KEY_STRING, "name": _STRING, "rate": _decimal()},
                    required=("key", "name", "rate"),
                )
            ),
            "seller": _object(_SELLER_FIELDS, {name: _STRING for name in _SELLER_FIELDS}),
            "net_payment_terms": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_NET_PAYMENT_TERMS,
                "description": "days from an invoice's issue to its due date (default "
                f"{DEFAULT_NET_PAYMENT_TERMS})",
            },
        },
    )
    credit_kinds = [kind.value for kind in CreditKind if kind is not CreditKind.CREDIT_NOTE]
    credit = _object(
        _CREDIT_FIELDS,
        {
            "key": _ID_STRING,
            "kind": {"enum": credit_kinds},
            "amount": _decimal(),
            "starts_at": _TIME,
            "expires_at": _TIME,
            "priority": _INTEGER,
            "price": _decimal(),
            "recurrence": {"enum": [i.value for i in Interval]},
            "until": _TIME,
        },
        required=("key", "kind", "amount", "starts_at"),
        description="Only a prepaid credit has a price and it cannot recur; until needs "
        "recurrence.",
        rules={
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": CreditKind.PREPAID.value}}},
                    "then": {"properties": {"recurrence": {"type": "null"}}},
                    "else": {"properties": {"price": {"type": "null"}}},
                },
                {
                    "if": {
                        "anyOf": [
                            {"not": {"required": ["recurrence"]}},
                            {"properties": {"recurrence": {"type": "null"}}},
                        ]
                    },
                    "then": {"properties": {"until": {"type": "null"}}},
                },
            ]
        },
    )
    discount = _object(
        _DISCOUNT_FIELDS,
        {
            "key": _ID_STRING,
            "percent": _decimal(),
            "amount": _decimal(),
            "products": _list(_KEY_STRING, unique=True, min_items=1),
            "starts_at": _TIME,
            "periods": {"type": "integer", "minimum": 1},
        },
        required=("key", "starts_at"),
        description="Either percent (at most 100) or amount.",
        rules={
            "oneOf": [
                {
                    "required": ["percent"],
                    "properties": {
                        "percent": {"not": {"type": "null"}},
                        "amount": {"type": "null"},
                    },
                },
                {
                    "required": ["amount"],
                    "properties": {
                        "amount": {"not": {"type": "null"}},
                        "percent": {"type": "null"},
                    },
                },
            ]
        },
    )
    customer = _object(
        _CUSTOMER_FIELDS,
        {
            "id": _ID_STRING,
            "name": _STRING,
            "currency": {"type": "string", "pattern": _CURRENCY},
            "owner_type": _STRING,
            "billing_email": _STRING,
            "additional_billing_information": _STRING,
            "aliases": _list(_ALIAS_STRING, unique=True),
            "resources": _list(
                _object(
                    _RESOURCE_FIELDS,
                    {
                        "id": _ID_STRING,
                        "kind": _STRING,
                        "name": _STRING,
                        "parent": _ID_STRING,
                        "attributes": {"type": "object", "additionalProperties": _LABEL},
                    },
                    required=("id", "kind"),
                )
            ),
            "subscriptions": _list(
                _object(
                    _SUBSCRIPTION_FIELDS,
                    {"plan": _STRING, "starts_at": _TIME, "ends_at": _TIME},
                    required=("plan", "starts_at"),
                )
            ),
            "credits": _list({"$ref": "#/$defs/credit"}),
            "discounts": _list({"$ref": "#/$defs/discount"}),
            "taxes": _list(_KEY_STRING, unique=True),
            "alerts": _list(
                _object(
                    _ALERT_FIELDS,
                    {
                        "key": _ID_STRING,
                        "kind": {"enum": [kind.value for kind in AlertKind]},
                        "threshold": _decimal(),
                        "product": _KEY_STRING,
                    },
                    required=("key", "kind", "threshold"),
                    rules={
                        "if": {
                            "properties": {"kind": {"const": AlertKind.PRODUCT_AMOUNT_ABOVE.value}}
                        },
                        "then": {"required": ["product"], "properties": {"product": _KEY_STRING}},
                        "else": {"properties": {"product": {"type": "null"}}},
                    },
                )
            ),
        },
        required=("id", "name"),
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "meterbill setup document",
        "description": "Meters, products, plans and customers, applied with `meterbill apply` "
        "or PUT /v1/setup (YAML or JSON). The schema checks the shape of one document; apply "
        "also checks references between objects, tier order and decimal limits.",
        **_object(
            _TOP_FIELDS,
            {
                "settings": {"$ref": "#/$defs/settings"},
                "meters": _list({"$ref": "#/$defs/meter"}),
                "products": _list({"$ref": "#/$defs/product"}),
                "plans": _list({"$ref": "#/$defs/plan"}),
                "customers": _list({"$ref": "#/$defs/customer"}),
            },
        ),
        "$defs": {
            "settings": settings,
            "meter": meter,
            "price": price,
            **models,
            "product": product,
            "plan": plan,
            "customer": customer,
            "credit": credit,
            "discount": discount,
        },
    }
