"""Reading and writing the setup document (spec section 2) as typed catalog values.

The caller loads YAML or JSON; this module only sees plain Python values (mappings, lists,
strings, numbers, booleans, ``None``, and the ``datetime`` objects YAML makes of unquoted
timestamps). ``parse_setup`` checks everything one document can check on its own: field
names, types, decimal strings, tier order, resource trees, duplicates. References between
objects (a product's meter, a subscription's plan) are checked by ``check_references``
against the catalog *after* the caller has merged the document with what is stored, because
a document may refer to objects an earlier document created.

Every problem raises ``InvalidSetup(path, problem)`` with a path such as
``products[1].price.tiers[2].up_to``.

A document that enters (``limits=True``, the default) must also keep the limits of spec 7
(``core.limits``): ids, keys, aliases and event types of at most 200 characters, decimals
with a magnitude below 10^15 and at most 12 decimal places. Definitions read back from
storage are parsed with ``limits=False``: what was stored before a limit existed still
loads, so it cannot stop the catalog (and every customer's invoicing) from loading.
"""

import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise

from meterbill.core.catalog import (
    DEFAULT_NET_PAYMENT_TERMS,
    MAX_NET_PAYMENT_TERMS,
    Aggregation,
    Alert,
    AlertKind,
    Anchor,
    Catalog,
    CreditGrant,
    CreditKind,
    Customer,
    Discount,
    FlatPrice,
    GraduatedPrice,
    Interval,
    Meter,
    PackagePrice,
    PerUnitPrice,
    Plan,
    Price,
    PriceChange,
    Product,
    Resource,
    Seller,
    Settings,
    Subscription,
    Tax,
    Tier,
    VolumePrice,
)
from meterbill.core.errors import InvalidSetup
from meterbill.core.limits import MAX_ID_LENGTH, SETUP_DECIMAL_LIMIT, SETUP_DECIMAL_PLACES
from meterbill.core.money import is_currency, minor_exponent
from meterbill.core.periods import SUPPORTED

__all__ = [
    "SetupDocument",
    "alert_to_document",
    "check_references",
    "customer_to_document",
    "parse_alert",
    "parse_customer",
    "parse_setup",
    "setup_to_document",
]


@dataclass(frozen=True, slots=True)
class SetupDocument:
    """One parsed setup document, in document order; nothing merged or cross-checked yet."""

    settings: Settings | None
    meters: tuple[Meter, ...]
    products: tuple[Product, ...]
    plans: tuple[Plan, ...]
    customers: tuple[Customer, ...]


_KEY = re.compile(r"[a-z0-9_]+")
_ID = re.compile(r"[A-Za-z0-9_.-]+")
# Ingest aliases are ids other systems chose (Metronome's are often e-mail addresses):
# any printable ASCII without spaces.
_ALIAS = re.compile(r"[!-~]+")
# Decimal() also takes whitespace, underscores, NaN and Infinity; a money field takes none.
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# RFC 3339 date-time; more than microseconds would be silently cut by datetime, so refuse it.
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[Zz]|[+-]\d{2}:\d{2})"
)
# Types meterbill itself gives to invoice lines; a product label must not be mistaken for one.
_RESERVED_LINE_TYPES = frozenset(
    {"minimum", "maximum", "discount", "tax", "prepaid_credit_purchase"}
)

_TOP_FIELDS = ("settings", "meters", "products", "plans", "customers")
_SETTINGS_FIELDS = ("grace_period_hours", "taxes", "seller", "net_payment_terms")
_TAX_FIELDS = ("key", "name", "rate")
_SELLER_FIELDS = ("name", "address", "email", "tax_id")
_DISCOUNT_FIELDS = ("key", "percent", "amount", "products", "starts_at", "periods")
_METER_FIELDS = ("key", "name", "event_type", "aggregation", "property", "filters", "group_by")
_PRODUCT_FIELDS = (
    "key",
    "name",
    "meter",
    "quantity_divisor",
    "line_item_type",
    "description",
    "price",
    "price_changes",
    "free_quantity",
    "minimum",
    "maximum",
    "tax_exempt",
    "unit",
)
_PRICE_CHANGE_FIELDS = ("effective_from", "price")
_PRICE_FIELDS: dict[str, tuple[str, ...]] = {
    "per_unit": ("model", "unit_price", "by", "unit_prices", "default_unit_price"),
    "graduated": ("model", "tiers"),
    "volume": ("model", "tiers"),
    "package": ("model", "package_size", "package_price"),
    "flat": ("model", "amount", "prorate"),
}
_TIER_FIELDS = ("up_to", "unit_price", "flat_amount")
_PLAN_FIELDS = ("key", "name", "interval", "anchor", "products", "minimum")
_CUSTOMER_FIELDS = (
    "id",
    "name",
    "currency",
    "owner_type",
    "billing_email",
    "additional_billing_information",
    "aliases",
    "resources",
    "subscriptions",
    "credits",
    "discounts",
    "taxes",
    "alerts",
)
_ALERT_FIELDS = ("key", "kind", "threshold", "product")
_RESOURCE_FIELDS = ("id", "kind", "name", "parent", "attributes")
_SUBSCRIPTION_FIELDS = ("plan", "starts_at", "ends_at")
_CREDIT_FIELDS = (
    "key",
    "kind",
    "amount",
    "starts_at",
    "expires_at",
    "priority",
    "price",
    "recurrence",
    "until",
)


# --------------------------------------------------------------------------- value readers

# Whether the document being parsed is entering (spec 7 limits apply) or being read back
# from storage. A context variable rather than a parameter threaded through every reader,
# so that any reader added later applies the limits as well; set by ``parse_setup`` and
# ``parse_customer`` only.
_entering: ContextVar[bool] = ContextVar("entering", default=True)


@contextmanager
def _limits(enabled: bool) -> Iterator[None]:
    token = _entering.set(enabled)
    try:
        yield
    finally:
        _entering.reset(token)


def _short(text: str) -> str:
    """A string for a message, cut short so that a huge value cannot flood the error."""
    return repr(text) if len(text) <= 64 else repr(text[:64]) + "…"


def _id_length(text: str, path: str) -> str:
    if len(text) > MAX_ID_LENGTH and _entering.get():
        raise InvalidSetup(
            path, f"{_short(text)} is {len(text)} characters long; at most {MAX_ID_LENGTH}"
        )
    return text


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe(value: object) -> str:
    """A value as the problem text shows it: its YAML-ish type, and the value if short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"bool {str(value).lower()}"
    if isinstance(value, int | float | Decimal):
        return f"{type(value).__name__} {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _mapping(value: object, path: str) -> Mapping[object, object]:
    if not isinstance(value, Mapping):
        raise InvalidSetup(path, f"must be a mapping, got {_describe(value)}")
    return value


def _list(value: object, path: str) -> list[object]:
    # A string is iterable too; refusing it catches `group_by: cluster_id` without brackets.
    if not isinstance(value, list | tuple):
        raise InvalidSetup(path, f"must be a list, got {_describe(value)}")
    return list(value)


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidSetup(path, f"must be a string, got {_describe(value)}")
    if not value:
        raise InvalidSetup(path, "must not be empty")
    if "\x00" in value:
        raise InvalidSetup(path, "must not contain NUL characters")
    if any("\ud800" <= char <= "\udfff" for char in value):
        raise InvalidSetup(path, "contains an unpaired surrogate (a broken \\u escape)")
    return value


def _matching(value: object, path: str, pattern: re.Pattern[str]) -> str:
    """An id, key or alias: a string matching ``pattern``, of at most 200 characters."""
    text = _id_length(_string(value, path), path)
    if not pattern.fullmatch(text):
        raise InvalidSetup(path, f"{text!r} must match {pattern.pattern}")
    return text


def _label(value: object, path: str) -> str:
    """A filter value, price key or attribute: YAML may have typed it, meterbill compares text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        # 1.10 would silently become "1.1"; only the author knows which text was meant.
        raise InvalidSetup(path, f"must be a string, got float {value}; quote it")
    raise InvalidSetup(path, f"must be a string, number or boolean, got {_describe(value)}")


def _decimal(value: object, path: str, *, positive: bool = False) -> Decimal:
    """A decimal string or an int, finite and not negative (``positive``: above zero)."""
    if isinstance(value, float):
        raise InvalidSetup(
            path, f'must be a decimal string like "0.01", got float {value}; quote it'
        )
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidSetup(path, f'must be a decimal string like "0.01", got {_describe(value)}')
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise InvalidSetup(path, f'must be a decimal string like "0.01", got {value!r}')
    try:
        number = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern above lets no such text through
        raise InvalidSetup(path, f"is not a decimal: {value!r}") from None
    if not number.is_finite():
        raise InvalidSetup(path, f"must be a finite decimal, got {value}")
    if _entering.get():
        _decimal_limits(number, value, path)
    if positive and number <= 0:
        raise InvalidSetup(path, f"must be greater than 0, got {value}")
    if number < 0:
        raise InvalidSetup(path, f"must not be negative, got {value}")
    return number


def _decimal_limits(number: Decimal, value: object, path: str) -> None:
    """Spec 7: a magnitude below 10^15 and at most 12 decimal places, as written."""
    shown = _short(value) if isinstance(value, str) else str(value)
    if not -SETUP_DECIMAL_LIMIT < number < SETUP_DECIMAL_LIMIT:
        raise InvalidSetup(path, f"must have a magnitude below 10^15, got {shown}")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -SETUP_DECIMAL_PLACES:
        raise InvalidSetup(
            path, f"must have at most {SETUP_DECIMAL_PLACES} decimal places, got {shown}"
        )


def _time(value: object, path: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime."""
    if isinstance(value, datetime):
        # YAML turns unquoted timestamps into datetimes; without an offset YAML means UTC.
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return _supported(aware.astimezone(UTC), path)
    if not isinstance(value, str):
        raise InvalidSetup(
            path,
            f'must be an RFC 3339 time like "2026-01-01T00:00:00Z", got {_describe(value)}',
        )
    if not _TIMESTAMP.fullmatch(value):
        raise InvalidSetup(
            path, f'must be an RFC 3339 time like "2026-01-01T00:00:00Z", got {value!r}'
        )
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        raise InvalidSetup(path, f"is not a valid time: {value!r}") from None
    return _supported(parsed.astimezone(UTC), path)


def _supported(moment: datetime, path: str) -> datetime:
    if not SUPPORTED.contains(moment):
        raise InvalidSetup(path, "must be from 2000-01-01T00:00:00Z up to 2100-01-01T00:00:00Z")
    return moment


def _integer(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSetup(path, f"must be an integer, got {_describe(value)}")
    return value


def _boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidSetup(path, f"must be true or false, got {_describe(value)}")
    return value


def _choice(value: object, path: str, allowed: Iterable[str]) -> str:
    options = tuple(allowed)
    text = _string(value, path)
    if text not in options:
        raise InvalidSetup(path, f"must be one of {', '.join(options)}; got {text!r}")
    return text


class _Fields:
    """One mapping of the document, read field by field.

    Unknown fields are refused when it is built, so no reader below can forget to.
    A field that is absent and one that is ``null`` read the same: both mean "not given".
    """

    __slots__ = ("_data", "path")

    def __init__(self, value: object, path: str, allowed: tuple[str, ...]) -> None:
        self.path = path
        self._data: dict[str, object] = {}
        for name, item in _mapping(value, path).items():
            if not isinstance(name, str) or name not in allowed:
                raise InvalidSetup(
                    _join(path, str(name)),
                    f"unknown field {str(name)!r} (allowed: {', '.join(allowed)})",
                )
            self._data[name] = item

    def at(self, name: str) -> str:
        return _join(self.path, name)

    def get(self, name: str) -> object:
        """The field's value, or None when absent or null."""
        return self._data.get(name)

    def required(self, name: str) -> object:
        value = self._data.get(name)
        if value is None:
            raise InvalidSetup(self.at(name), "is required")
        return value

    def string(self, name: str) -> str:
        return _string(self.required(name), self.at(name))

    def optional_string(self, name: str) -> str | None:
        value = self.get(name)
        return None if value is None else _string(value, self.at(name))

    def decimal(self, name: str, *, positive: bool = False) -> Decimal:
        return _decimal(self.required(name), self.at(name), positive=positive)

    def optional_decimal(self, name: str, *, positive: bool = False) -> Decimal | None:
        value = self.get(name)
        return None if value is None else _decimal(value, self.at(name), positive=positive)

    def time(self, name: str) -> datetime:
        return _time(self.required(name), self.at(name))

    def optional_time(self, name: str) -> datetime | None:
        value = self.get(name)
        return None if value is None else _time(value, self.at(name))

    def items(self, name: str) -> list[tuple[str, object]]:
        """A list field as (item path, item) pairs; an absent list is empty."""
        value = self.get(name)
        if value is None:
            return []
        path = self.at(name)
        return [(f"{path}[{index}]", item) for index, item in enumerate(_list(value, path))]


def _strings(fields: _Fields, name: str, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
    """A list of distinct strings (each matching ``pattern`` if given)."""
    result: list[str] = []
    for path, item in fields.items(name):
        text = _string(item, path) if pattern is None else _matching(item, path, pattern)
        if text in result:
            raise InvalidSetup(path, f"duplicate value {text!r}")
        result.append(text)
    return tuple(result)


def _unique(keys: Iterable[tuple[str, str]], what: str) -> None:
    """Refuse the second of two (path, key) pairs with the same key."""
    seen: dict[str, str] = {}
    for path, key in keys:
        if key in seen:
            raise InvalidSetup(path, f"duplicate {what} {key!r} (first at {seen[key]})")
        seen[key] = path


# --------------------------------------------------------------------------- document


def parse_setup(document: object, *, limits: bool = True) -> SetupDocument:
    """Check one setup document and build its typed values; raises ``InvalidSetup``.

    ``limits``: apply the entry limits of spec 7 (see the module docstring); pass False
    only for definitions read back from storage.
    """
    with _limits(limits):
        return _parse_setup(document)


def _parse_setup(document: object) -> SetupDocument:
    top = _Fields(document, "", _TOP_FIELDS)
    settings_value = top.get("settings")
    settings = None if settings_value is None else _parse_settings(settings_value, "settings")
    meters = tuple(_parse_meter(item, path) for path, item in top.items("meters"))
    products = tuple(_parse_product(item, path) for path, item in top.items("products"))
    plans = tuple(_parse_plan(item, path) for path, item in top.items("plans"))
    customers = tuple(_parse_customer_at(item, path) for path, item in top.items("customers"))
    _unique(((f"meters[{i}].key", m.key) for i, m in enumerate(meters)), "meter key")
    _unique(((f"products[{i}].key", p.key) for i, p in enumerate(products)), "product key")
    _unique(((f"plans[{i}].key", p.key) for i, p in enumerate(plans)), "plan key")
    _unique(((f"customers[{i}].id", c.id) for i, c in enumerate(customers)), "customer id")
    _check_aliases(customers)
    return SetupDocument(settings, meters, products, plans, customers)


def _parse_settings(value: object, path: str) -> Settings:
    fields = _Fields(value, path, _SETTINGS_FIELDS)
    hours = fields.optional_decimal("grace_period_hours")
    taxes = tuple(_parse_tax(item, item_path) for item_path, item in fields.items("taxes"))
    _unique(((fields.at(f"taxes[{i}].key"), t.key) for i, t in enumerate(taxes)), "tax key")
    seller = fields.get("seller")
    terms = fields.get("net_payment_terms")
    if terms is not None and (
        isinstance(terms, bool)
        or not isinstance(terms, int)
        or not 0 <= terms <= MAX_NET_PAYMENT_TERMS
    ):
        raise InvalidSetup(
            fields.at("net_payment_terms"),
            f"must be a whole number of days from 0 to {MAX_NET_PAYMENT_TERMS}, "
            f"got {_describe(terms)}",
        )
    return Settings(
        grace_period_hours=Settings().grace_period_hours if hours is None else hours,
        taxes=taxes,
        seller=None if seller is None else _parse_seller(seller, fields.at("seller")),
        net_payment_terms=DEFAULT_NET_PAYMENT_TERMS if terms is None else terms,
    )


def _parse_tax(value: object, path: str) -> Tax:
    fields = _Fields(value, path, _TAX_FIELDS)
    return Tax(
        key=_matching(fields.required("key"), fields.at("key"), _KEY),
        name=fields.string("name"),
        rate=fields.decimal("rate"),
    )


def _parse_seller(value: object, path: str) -> Seller:
    fields = _Fields(value, path, _SELLER_FIELDS)
    return Seller(
        name=fields.optional_string("name"),
        address=fields.optional_string("address"),
        email=fields.optional_string("email"),
        tax_id=fields.optional_string("tax_id"),
    )


def _check_aliases(customers: tuple[Customer, ...]) -> None:
    """Ingest resolves an id or alias to one customer, so none may point at two."""
    owners = {customer.id: f"customers[{index}]" for index, customer in enumerate(customers)}
    for index, customer in enumerate(customers):
        for position, alias in enumerate(customer.aliases):
            path = f"customers[{index}].aliases[{position}]"
            owner = owners.get(alias)
            if owner is not None and owner != f"customers[{index}]":
                raise InvalidSetup(path, f"alias {alias!r} is already used by {owner}")
            owners[alias] = f"customers[{index}]"


# --------------------------------------------------------------------------- meters


def _parse_meter(value: object, path: str) -> Meter:
    fields = _Fields(value, path, _METER_FIELDS)
    # Read in document order, so the first problem reported is the first one written.
    key = _matching(fields.required("key"), fields.at("key"), _KEY)
    name = fields.string("name")
    event_types = _event_types(fields)
    aggregation = Aggregation(
        _choice(fields.required("aggregation"), fields.at("aggregation"), Aggregation)
    )
    prop = fields.optional_string("property")
    if prop is None and aggregation is not Aggregation.COUNT:
        raise InvalidSetup(fields.at("property"), f"is required for aggregation {aggregation}")
    return Meter(
        key=key,
        name=name,
        event_types=event_types,
        aggregation=aggregation,
        property=prop,
        filters=_filters(fields),
        group_by=_strings(fields, "group_by"),
    )


def _event_types(fields: _Fields) -> tuple[str, ...]:
    value = fields.required("event_type")
    if isinstance(value, str):
        return (_id_length(_string(value, fields.at("event_type")), fields.at("event_type")),)
    types = _strings(fields, "event_type")
    if not types:
        raise InvalidSetup(fields.at("event_type"), "must name at least one event type")
    for position, event_type in enumerate(types):
        _id_length(event_type, f"{fields.at('event_type')}[{position}]")
    return types


def _filters(fields: _Fields) -> tuple[tuple[str, frozenset[str]], ...]:
    value = fields.get("filters")
    if value is None:
        return ()
    path = fields.at("filters")
    result: list[tuple[str, frozenset[str]]] = []
    for name, allowed in _mapping(value, path).items():
        name_path = _join(path, str(name))
        prop = _string(name, name_path)
        items = _list(allowed, name_path)
        if not items:
            raise InvalidSetup(name_path, "must list at least one allowed value")
        labels = frozenset(_label(item, f"{name_path}[{i}]") for i, item in enumerate(items))
        result.append((prop, labels))
    return tuple(sorted(result, key=lambda pair: pair[0]))


# --------------------------------------------------------------------------- products


def _parse_product(value: object, path: str) -> Product:
    fields = _Fields(value, path, _PRODUCT_FIELDS)
    key = _matching(fields.required("key"), fields.at("key"), _KEY)
    name = fields.string("name")
    price = _parse_price(fields.required("price"), fields.at("price"))
    flat = isinstance(price, FlatPrice)
    meter = fields.optional_string("meter")
    if flat and meter is not None:
        raise InvalidSetup(fields.at("meter"), "a flat-priced product has no meter")
    if not flat and meter is None:
        raise InvalidSetup(fields.at("meter"), "is required unless the price model is flat")
    line_item_type = fields.optional_string("line_item_type") or ("flat" if flat else "usage")
    if not _KEY.fullmatch(line_item_type) or line_item_type in _RESERVED_LINE_TYPES:
        raise InvalidSetup(
            fields.at("line_item_type"),
            f"{line_item_type!r} must match {_KEY.pattern} and not be one of "
            f"{', '.join(sorted(_RESERVED_LINE_TYPES))}",
        )
    description = fields.optional_string("description")
    if description is not None:
        _placeholders(description, fields.at("description"))
    divisor = fields.optional_decimal("quantity_divisor", positive=True)
    free_quantity = fields.optional_decimal("free_quantity")
    if flat and free_quantity is not None:
        raise InvalidSetup(
            fields.at("free_quantity"), "only a usage product has a free quantity, not a flat one"
        )
    minimum = fields.optional_decimal("minimum")
    maximum = fields.optional_decimal("maximum")
    if minimum is not None and maximum is not None and maximum < minimum:
        raise InvalidSetup(fields.at("maximum"), f"must not be below minimum ({minimum})")
    exempt = fields.get("tax_exempt")
    unit = fields.optional_string("unit")
    if flat and unit is not None:
        raise InvalidSetup(fields.at("unit"), "only a usage product has a unit, not a flat one")
    return Product(
        key=key,
        name=name,
        price=price,
        meter=meter,
        quantity_divisor=Decimal(1) if divisor is None else divisor,
        line_item_type=line_item_type,
        description=description,
        price_changes=_parse_price_changes(fields, flat=flat),
        free_quantity=Decimal(0) if free_quantity is None else free_quantity,
        minimum=minimum,
        maximum=maximum,
        tax_exempt=False if exempt is None else _boolean(exempt, fields.at("tax_exempt")),
        unit=None if unit is None else unit.strip() or None,
    )


def _parse_price_changes(fields: _Fields, *, flat: bool) -> tuple[PriceChange, ...]:
    """``price_changes`` (spec 5.1): each effective at a whole UTC hour, in strictly
    increasing order, flat exactly when the product's ``price`` is."""
    changes: list[PriceChange] = []
    for path, item in fields.items("price_changes"):
        change = _Fields(item, path, _PRICE_CHANGE_FIELDS)
        moment = change.time("effective_from")
        if moment.minute or moment.second or moment.microsecond:
            raise InvalidSetup(
                change.at("effective_from"),
                f"must be a whole UTC hour (like 2026-03-01T00:00:00Z), got {_time_text(moment)}",
            )
        if changes and moment <= changes[-1].effective_from:
            raise InvalidSetup(
                change.at("effective_from"),
                f"must be after the previous change's effective_from "
                f"({_time_text(changes[-1].effective_from)})",
            )
        price = _parse_price(change.required("price"), change.at("price"))
        if isinstance(price, FlatPrice) != flat:
            raise InvalidSetup(
                _join(change.at("price"), "model"),
                "must be flat exactly when the product's price is flat",
            )
        changes.append(PriceChange(effective_from=moment, price=price))
    return tuple(changes)


def _placeholders(template: str, path: str) -> tuple[str, ...]:
    """The group_by names a description template fills in, e.g. ``{cluster_id}``."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise InvalidSetup(path, f"is not a valid template: {error}") from None
    names: list[str] = []
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        # Only plain names: positional, attribute and index lookups or format specs would
        # fail or surprise when the template is filled with the line's group values.
        if not name or not name.isidentifier() or spec or conversion:
            raise InvalidSetup(
                path, f"placeholder {{{name}}} must be a plain group_by name like {{cluster_id}}"
            )
        names.append(name)
    return tuple(names)


def _parse_price(value: object, path: str) -> Price:
    model_path = _join(path, "model")
    model_value = _mapping(value, path).get("model")
    if model_value is None:
        raise InvalidSetup(model_path, f"is required (one of {', '.join(_PRICE_FIELDS)})")
    model = _choice(model_value, model_path, _PRICE_FIELDS)
    fields = _Fields(value, path, _PRICE_FIELDS[model])
    if model == "per_unit":
        return _parse_per_unit(fields)
    if model == "graduated":
        return GraduatedPrice(tiers=_parse_tiers(fields))
    if model == "volume":
        return VolumePrice(tiers=_parse_tiers(fields))
    if model == "package":
        return PackagePrice(
            package_size=fields.decimal("package_size", positive=True),
            package_price=fields.decimal("package_price"),
        )
    prorate = fields.get("prorate")
    return FlatPrice(
        amount=fields.decimal("amount"),
        prorate=False if prorate is None else _boolean(prorate, fields.at("prorate")),
    )


def _parse_per_unit(fields: _Fields) -> PerUnitPrice:
    by = fields.optional_string("by")
    unit_price = fields.optional_decimal("unit_price")
    if by is None:
        for name in ("unit_prices", "default_unit_price"):
            if fields.get(name) is not None:
                raise InvalidSetup(fields.at(name), "needs 'by' (the group_by it is chosen by)")
        if unit_price is None:
            raise InvalidSetup(
                fields.at("unit_price"), "is required (or give 'by' and 'unit_prices')"
            )
        return PerUnitPrice(unit_price=unit_price)
    if unit_price is not None:
        raise InvalidSetup(fields.at("by"), "cannot be combined with 'unit_price'")
    prices_path = fields.at("unit_prices")
    prices: dict[str, Decimal] = {}
    for key, price in _mapping(fields.required("unit_prices"), prices_path).items():
        label = _label(key, _join(prices_path, str(key)))
        if label in prices:
            raise InvalidSetup(_join(prices_path, label), f"duplicate value {label!r}")
        prices[label] = _decimal(price, _join(prices_path, label))
    return PerUnitPrice(
        by=by,
        # Sorted, so a document and the same prices read back from storage compare equal.
        unit_prices=tuple(sorted(prices.items())),
        default_unit_price=fields.optional_decimal("default_unit_price"),
    )


def _parse_tiers(fields: _Fields) -> tuple[Tier, ...]:
    entries = fields.items("tiers")
    if not entries:
        raise InvalidSetup(fields.at("tiers"), "must list at least one tier")
    tiers: list[Tier] = []
    for position, (path, item) in enumerate(entries):
        tier = _Fields(item, path, _TIER_FIELDS)
        up_to = tier.optional_decimal("up_to", positive=True)
        last = position == len(entries) - 1
        if last and up_to is not None:
            raise InvalidSetup(tier.at("up_to"), "the last tier must not have up_to")
        if not last and up_to is None:
            raise InvalidSetup(tier.at("up_to"), "is required on every tier but the last")
        previous = tiers[-1].up_to if tiers else None
        if up_to is not None and previous is not None and up_to <= previous:
            raise InvalidSetup(
                tier.at("up_to"), f"tiers must have increasing up_to ({up_to} after {previous})"
            )
        flat_amount = tier.optional_decimal("flat_amount")
        tiers.append(
            Tier(
                up_to=up_to,
                unit_price=tier.decimal("unit_price"),
                flat_amount=Decimal(0) if flat_amount is None else flat_amount,
            )
        )
    return tuple(tiers)


# --------------------------------------------------------------------------- plans


def _parse_plan(value: object, path: str) -> Plan:
    fields = _Fields(value, path, _PLAN_FIELDS)
    products = _strings(fields, "products")
    if not products:
        raise InvalidSetup(fields.at("products"), "must list at least one product")
    anchor = fields.get("anchor")
    return Plan(
        key=_matching(fields.required("key"), fields.at("key"), _KEY),
        name=fields.string("name"),
        interval=Interval(_choice(fields.required("interval"), fields.at("interval"), Interval)),
        products=products,
        minimum=fields.optional_decimal("minimum"),
        anchor=Anchor(_choice(anchor, fields.at("anchor"), Anchor)) if anchor else Anchor.CALENDAR,
    )


# --------------------------------------------------------------------------- customers


def parse_customer(obj: object, path: str, *, limits: bool = True) -> Customer:
    """One customer mapping (as in ``customers[i]``); ``path`` prefixes every error path.

    Checks only what the customer holds; aliases against other customers and subscription
    plans are the caller's (``parse_setup`` and ``check_references``). ``limits`` as for
    ``parse_setup``.
    """
    with _limits(limits):
        return _parse_customer_at(obj, path)


def _parse_customer_at(value: object, path: str) -> Customer:
    fields = _Fields(value, path, _CUSTOMER_FIELDS)
    customer_id = _matching(fields.required("id"), fields.at("id"), _ID)
    name = fields.string("name")
    currency = fields.optional_string("currency") or "USD"
    if not is_currency(currency):
        raise InvalidSetup(
            fields.at("currency"), f"must be a 3-letter upper-case code like USD, got {currency!r}"
        )
    credits = tuple(_parse_credit(item, item_path) for item_path, item in fields.items("credits"))
    _unique(((fields.at(f"credits[{i}].key"), c.key) for i, c in enumerate(credits)), "credit key")
    discounts = tuple(
        _parse_discount(item, item_path) for item_path, item in fields.items("discounts")
    )
    _unique(
        ((fields.at(f"discounts[{i}].key"), d.key) for i, d in enumerate(discounts)),
        "discount key",
    )
    taxes = _strings(fields, "taxes", _KEY)
    alerts = tuple(
        _parse_alert(item, item_path, currency) for item_path, item in fields.items("alerts")
    )
    _unique(((fields.at(f"alerts[{i}].key"), a.key) for i, a in enumerate(alerts)), "alert key")
    return Customer(
        id=customer_id,
        name=name,
        currency=currency,
        owner_type=fields.optional_string("owner_type"),
        billing_email=fields.optional_string("billing_email"),
        additional_billing_information=fields.optional_string("additional_billing_information"),
        aliases=_strings(fields, "aliases", _ALIAS),
        resources=_parse_resources(fields),
        subscriptions=tuple(
            _parse_subscription(item, item_path)
            for item_path, item in fields.items("subscriptions")
        ),
        credits=credits,
        discounts=discounts,
        taxes=taxes,
        alerts=alerts,
    )


def parse_alert(value: object, path: str, *, currency: str, limits: bool = True) -> Alert:
    """One alert mapping (as in ``customers[i].alerts[j]``) of a customer in ``currency``;
    ``path`` prefixes every error path. Its product is the caller's to check against the
    catalog (``check_references`` does it for a setup document)."""
    with _limits(limits):
        return _parse_alert(value, path, currency)


def _parse_alert(value: object, path: str, currency: str) -> Alert:
    fields = _Fields(value, path, _ALERT_FIELDS)
    key = _matching(fields.required("key"), fields.at("key"), _ID)
    kind = AlertKind(_choice(fields.required("kind"), fields.at("kind"), AlertKind))
    threshold = fields.decimal("threshold", positive=kind is AlertKind.CREDIT_BALANCE_BELOW)
    exponent = threshold.as_tuple().exponent
    places = minor_exponent(currency)
    if _entering.get() and isinstance(exponent, int) and -exponent > places:
        raise InvalidSetup(
            fields.at("threshold"),
            f"must have at most {places} decimal places (the minor unit of {currency}), "
            f"got {threshold}",
        )
    product_value = fields.get("product")
    if kind is AlertKind.PRODUCT_AMOUNT_ABOVE and product_value is None:
        raise InvalidSetup(fields.at("product"), f"is required for kind {kind}")
    if kind is not AlertKind.PRODUCT_AMOUNT_ABOVE and product_value is not None:
        raise InvalidSetup(
            fields.at("product"), f"only an alert of kind {AlertKind.PRODUCT_AMOUNT_ABOVE} has one"
        )
    product = (
        None if product_value is None else _matching(product_value, fields.at("product"), _KEY)
    )
    return Alert(key=key, kind=kind, threshold=threshold, product=product)


def _parse_discount(value: object, path: str) -> Discount:
    fields = _Fields(value, path, _DISCOUNT_FIELDS)
    key = _matching(fields.required("key"), fields.at("key"), _ID)
    percent = fields.optional_decimal("percent")
    amount = fields.optional_decimal("amount")
    if percent is not None and amount is not None:
        raise InvalidSetup(fields.at("amount"), "give either percent or amount, not both")
    if percent is None and amount is None:
        raise InvalidSetup(fields.at("percent"), "is required (or give amount)")
    if percent is not None and percent > 100:
        raise InvalidSetup(fields.at("percent"), f"must be at most 100, got {percent}")
    products = _strings(fields, "products", _KEY)
    if fields.get("products") is not None and not products:
        raise InvalidSetup(fields.at("products"), "must list at least one product (or omit it)")
    starts_at = fields.time("starts_at")
    periods_value = fields.get("periods")
    periods = None if periods_value is None else _integer(periods_value, fields.at("periods"))
    if periods is not None and periods < 1:
        raise InvalidSetup(fields.at("periods"), f"must be at least 1, got {periods}")
    return Discount(
        key=key,
        starts_at=starts_at,
        percent=percent,
        amount=amount,
        products=products,
        periods=periods,
    )


def _parse_resources(fields: _Fields) -> tuple[Resource, ...]:
    entries = fields.items("resources")
    resources = tuple(_parse_resource(item, path) for path, item in entries)
    paths = [path for path, _item in entries]
    _unique(((f"{p}.id", r.id) for p, r in zip(paths, resources, strict=True)), "resource id")
    index = {resource.id: position for position, resource in enumerate(resources)}
    for path, resource in zip(paths, resources, strict=True):
        if resource.parent is not None and resource.parent not in index:
            raise InvalidSetup(f"{path}.parent", f"unknown resource {resource.parent!r}")
    rooted: set[str] = set()
    for resource in resources:
        cycle = _parent_cycle(resource, resources, index, rooted)
        if cycle:
            raise InvalidSetup(f"{paths[index[cycle[0]]]}.parent", f"cycle {' -> '.join(cycle)}")
    return resources


def _parent_cycle(
    start: Resource, resources: tuple[Resource, ...], index: dict[str, int], rooted: set[str]
) -> tuple[str, ...]:
    """The cycle the parent chain from ``start`` runs into, as ids from its first member back
    to it (``a, b, a``); empty when the chain ends at a root.

    ``rooted`` remembers ids already known to reach a root, so a whole tree is walked once.
    """
    chain: dict[str, int] = {}
    current: Resource | None = start
    while current is not None and current.id not in rooted:
        if current.id in chain:
            loop = list(chain)[chain[current.id] :]
            return (*loop, current.id)
        chain[current.id] = len(chain)
        current = None if current.parent is None else resources[index[current.parent]]
    rooted.update(chain)
    return ()


def _parse_resource(value: object, path: str) -> Resource:
    fields = _Fields(value, path, _RESOURCE_FIELDS)
    parent = fields.get("parent")
    return Resource(
        id=_matching(fields.required("id"), fields.at("id"), _ID),
        kind=fields.string("kind"),
        name=fields.optional_string("name"),
        parent=None if parent is None else _matching(parent, fields.at("parent"), _ID),
        attributes=_attributes(fields),
    )


def _attributes(fields: _Fields) -> tuple[tuple[str, str], ...]:
    value = fields.get("attributes")
    if value is None:
        return ()
    path = fields.at("attributes")
    result: list[tuple[str, str]] = []
    for name, item in _mapping(value, path).items():
        item_path = _join(path, str(name))
        result.append((_string(name, item_path), _label(item, item_path)))
    return tuple(sorted(result))


def _parse_subscription(value: object, path: str) -> Subscription:
    fields = _Fields(value, path, _SUBSCRIPTION_FIELDS)
    starts_at = fields.time("starts_at")
    ends_at = fields.optional_time("ends_at")
    if ends_at is not None and ends_at <= starts_at:
        raise InvalidSetup(fields.at("ends_at"), "must be after starts_at")
    return Subscription(plan=fields.string("plan"), starts_at=starts_at, ends_at=ends_at)


def _parse_credit(value: object, path: str) -> CreditGrant:
    fields = _Fields(value, path, _CREDIT_FIELDS)
    kind = CreditKind(
        _choice(
            fields.required("kind"),
            fields.at("kind"),
            (kind for kind in CreditKind if kind is not CreditKind.CREDIT_NOTE),
        )
    )
    starts_at = fields.time("starts_at")
    expires_at = fields.optional_time("expires_at")
    if expires_at is not None and expires_at <= starts_at:
        raise InvalidSetup(fields.at("expires_at"), "must be after starts_at")
    price = fields.optional_decimal("price")
    if price is not None and kind is not CreditKind.PREPAID:
        raise InvalidSetup(fields.at("price"), "only a prepaid credit has a price")
    priority = fields.get("priority")
    recurrence_value = fields.get("recurrence")
    recurrence = (
        None
        if recurrence_value is None
        else Interval(_choice(recurrence_value, fields.at("recurrence"), Interval))
    )
    if recurrence is not None and kind is CreditKind.PREPAID:
        raise InvalidSetup(
            fields.at("recurrence"), "a prepaid credit cannot recur (it is bought once)"
        )
    until = fields.optional_time("until")
    if until is not None and recurrence is None:
        raise InvalidSetup(
            fields.at("until"), "only a recurring credit (with recurrence) has until"
        )
    if until is not None and until <= starts_at:
        raise InvalidSetup(fields.at("until"), "must be after starts_at")
    return CreditGrant(
        key=_matching(fields.required("key"), fields.at("key"), _ID),
        kind=kind,
        amount=fields.decimal("amount"),
        starts_at=starts_at,
        expires_at=expires_at,
        priority=10 if priority is None else _integer(priority, fields.at("priority")),
        price=price,
        recurrence=recurrence,
        until=until,
    )


# --------------------------------------------------------------------------- references


def check_references(
    catalog: Catalog,
    customers: Iterable[Customer],
    *,
    path_of: Callable[[str, str], str] | None = None,
) -> None:
    """Check references between objects of the merged catalog and the customers.

    ``path_of(section, key)`` names an object in errors (``("products", "node")`` →
    ``products[0]``); by default ``products.node``, since a merged catalog has no positions.
    """
    where = path_of or (lambda section, key: f"{section}.{key}")
    for product in catalog.products.values():
        _check_product(catalog, product, where("products", product.key))
    for plan in catalog.plans.values():
        base = where("plans", plan.key)
        for position, key in enumerate(plan.products):
            if key not in catalog.products:
                raise InvalidSetup(f"{base}.products[{position}]", f"unknown product {key!r}")
    for customer in customers:
        base = where("customers", customer.id)
        _check_subscriptions(catalog, customer, base)
        _check_adjustments(catalog, customer, base)
        for index, alert in enumerate(customer.alerts):
            if alert.product is not None and alert.product not in catalog.products:
                raise InvalidSetup(
                    f"{base}.alerts[{index}].product", f"unknown product {alert.product!r}"
                )


def _check_adjustments(catalog: Catalog, customer: Customer, base: str) -> None:
    """A discount's products and the customer's taxes must exist (spec 6.4, 6.5)."""
    for index, discount in enumerate(customer.discounts):
        for position, key in enumerate(discount.products):
            if key not in catalog.products:
                raise InvalidSetup(
                    f"{base}.discounts[{index}].products[{position}]", f"unknown product {key!r}"
                )
    known = ", ".join(tax.key for tax in catalog.settings.taxes) or "none"
    for position, key in enumerate(customer.taxes):
        if catalog.settings.tax(key) is None:
            raise InvalidSetup(
                f"{base}.taxes[{position}]", f"unknown tax {key!r} (settings.taxes: {known})"
            )


def _check_product(catalog: Catalog, product: Product, base: str) -> None:
    if product.meter is None:
        if not product.is_flat:
            raise InvalidSetup(f"{base}.meter", "is required unless the price model is flat")
        group_by: tuple[str, ...] = ()
    else:
        meter = catalog.meters.get(product.meter)
        if meter is None:
            raise InvalidSetup(f"{base}.meter", f"unknown meter {product.meter!r}")
        group_by = meter.group_by
    dimensions = ", ".join(group_by) or "none"
    prices = [(f"{base}.price", product.price)] + [
        (f"{base}.price_changes[{index}].price", change.price)
        for index, change in enumerate(product.price_changes)
    ]
    for path, price in prices:
        if isinstance(price, PerUnitPrice) and price.by is not None and price.by not in group_by:
            raise InvalidSetup(
                f"{path}.by",
                f"{price.by!r} is not in the group_by of meter {product.meter!r} ({dimensions})",
            )
    if product.description is not None:
        for name in _placeholders(product.description, f"{base}.description"):
            if name not in group_by:
                raise InvalidSetup(
                    f"{base}.description",
                    f"placeholder {{{name}}} is not in the group_by of meter "
                    f"{product.meter!r} ({dimensions})",
                )


def _check_subscriptions(catalog: Catalog, customer: Customer, base: str) -> None:
    for position, subscription in enumerate(customer.subscriptions):
        if subscription.plan not in catalog.plans:
            raise InvalidSetup(
                f"{base}.subscriptions[{position}].plan", f"unknown plan {subscription.plan!r}"
            )
    # Two live subscriptions to one plan would bill the same usage twice in a period.
    ordered = sorted(
        enumerate(customer.subscriptions), key=lambda pair: (pair[1].plan, pair[1].starts_at)
    )
    for (first, earlier), (second, later) in pairwise(ordered):
        if earlier.plan != later.plan:
            continue
        if earlier.ends_at is None or later.starts_at < earlier.ends_at:
            raise InvalidSetup(
                f"{base}.subscriptions[{second}]",
                f"overlaps subscriptions[{first}] to the same plan {later.plan!r}",
            )


# --------------------------------------------------------------------------- writing


def setup_to_document(catalog: Catalog, customers: Iterable[Customer]) -> dict[str, object]:
    """The catalog and customers as a plain, JSON-ready setup document ``parse_setup`` reads.

    Optional fields at their default are left out, so ``settings`` only appears when the
    grace period is not the default.
    """
    document: dict[str, object] = {}
    if catalog.settings != Settings():
        document["settings"] = _settings_to_document(catalog.settings)
    document["meters"] = [_meter_to_document(meter) for meter in catalog.meters.values()]
    document["products"] = [_product_to_document(p) for p in catalog.products.values()]
    document["plans"] = [_plan_to_document(plan) for plan in catalog.plans.values()]
    document["customers"] = [customer_to_document(customer) for customer in customers]
    return document


def _settings_to_document(settings: Settings) -> dict[str, object]:
    document: dict[str, object] = {"grace_period_hours": str(settings.grace_period_hours)}
    _put(
        document,
        "taxes",
        [{"key": t.key, "name": t.name, "rate": str(t.rate)} for t in settings.taxes],
    )
    if settings.seller is not None:
        seller: dict[str, object] = {}
        for name in _SELLER_FIELDS:
            _put(seller, name, getattr(settings.seller, name))
        document["seller"] = seller
    if settings.net_payment_terms != DEFAULT_NET_PAYMENT_TERMS:
        document["net_payment_terms"] = settings.net_payment_terms
    return document


def _time_text(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
    return f"{utc:%Y-%m-%dT%H:%M:%S}{fraction}Z"


def _put(document: dict[str, object], name: str, value: object) -> None:
    """Set a field unless it is None or an empty list, i.e. at its default."""
    if value is not None and value != [] and value != {}:
        document[name] = value


def _meter_to_document(meter: Meter) -> dict[str, object]:
    document: dict[str, object] = {"key": meter.key, "name": meter.name}
    types = meter.event_types
    document["event_type"] = types[0] if len(types) == 1 else list(types)
    document["aggregation"] = meter.aggregation.value
    _put(document, "property", meter.property)
    _put(document, "filters", {name: sorted(values) for name, values in meter.filters})
    _put(document, "group_by", list(meter.group_by))
    return document


def _product_to_document(product: Product) -> dict[str, object]:
    document: dict[str, object] = {"key": product.key, "name": product.name}
    _put(document, "meter", product.meter)
    if product.quantity_divisor != 1:
        document["quantity_divisor"] = str(product.quantity_divisor)
    if product.line_item_type != ("flat" if product.is_flat else "usage"):
        document["line_item_type"] = product.line_item_type
    _put(document, "description", product.description)
    _put(document, "unit", product.unit)
    document["price"] = _price_to_document(product.price)
    if product.price_changes:
        document["price_changes"] = [
            {
                "effective_from": _time_text(change.effective_from),
                "price": _price_to_document(change.price),
            }
            for change in product.price_changes
        ]
    if product.free_quantity != 0:
        document["free_quantity"] = str(product.free_quantity)
    _put(document, "minimum", _money(product.minimum))
    _put(document, "maximum", _money(product.maximum))
    if product.tax_exempt:
        document["tax_exempt"] = True
    return document


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _price_to_document(price: Price) -> dict[str, object]:
    document: dict[str, object]
    if isinstance(price, PerUnitPrice):
        document = {"model": "per_unit"}
        _put(document, "unit_price", _money(price.unit_price))
        _put(document, "by", price.by)
        if price.by is not None:
            document["unit_prices"] = {key: str(value) for key, value in price.unit_prices}
        _put(document, "default_unit_price", _money(price.default_unit_price))
    elif isinstance(price, GraduatedPrice | VolumePrice):
        model = "graduated" if isinstance(price, GraduatedPrice) else "volume"
        document = {"model": model, "tiers": [_tier_to_document(t) for t in price.tiers]}
    elif isinstance(price, PackagePrice):
        document = {
            "model": "package",
            "package_size": str(price.package_size),
            "package_price": str(price.package_price),
        }
    else:
        document = {"model": "flat", "amount": str(price.amount)}
        if price.prorate:
            document["prorate"] = True
    return document


def _tier_to_document(tier: Tier) -> dict[str, object]:
    document: dict[str, object] = {}
    _put(document, "up_to", _money(tier.up_to))
    document["unit_price"] = str(tier.unit_price)
    if tier.flat_amount != 0:
        document["flat_amount"] = str(tier.flat_amount)
    return document


def _plan_to_document(plan: Plan) -> dict[str, object]:
    document: dict[str, object] = {
        "key": plan.key,
        "name": plan.name,
        "interval": plan.interval.value,
    }
    if plan.anchor is not Anchor.CALENDAR:
        document["anchor"] = plan.anchor.value
    document["products"] = list(plan.products)
    _put(document, "minimum", _money(plan.minimum))
    return document


def customer_to_document(customer: Customer) -> dict[str, object]:
    """One customer as the plain mapping ``parse_customer`` reads back to an equal value."""
    document: dict[str, object] = {"id": customer.id, "name": customer.name}
    if customer.currency != "USD":
        document["currency"] = customer.currency
    _put(document, "owner_type", customer.owner_type)
    _put(document, "billing_email", customer.billing_email)
    _put(document, "additional_billing_information", customer.additional_billing_information)
    _put(document, "aliases", list(customer.aliases))
    _put(document, "resources", [_resource_to_document(r) for r in customer.resources])
    _put(
        document,
        "subscriptions",
        [_subscription_to_document(s) for s in customer.subscriptions],
    )
    _put(document, "credits", [_credit_to_document(c) for c in customer.credits])
    _put(document, "discounts", [_discount_to_document(d) for d in customer.discounts])
    _put(document, "taxes", list(customer.taxes))
    _put(document, "alerts", [alert_to_document(alert) for alert in customer.alerts])
    return document


def alert_to_document(alert: Alert) -> dict[str, object]:
    """One alert as the plain mapping ``parse_alert`` reads back to an equal value."""
    document: dict[str, object] = {
        "key": alert.key,
        "kind": alert.kind.value,
        "threshold": str(alert.threshold),
    }
    _put(document, "product", alert.product)
    return document


def _discount_to_document(discount: Discount) -> dict[str, object]:
    document: dict[str, object] = {"key": discount.key}
    _put(document, "percent", _money(discount.percent))
    _put(document, "amount", _money(discount.amount))
    _put(document, "products", list(discount.products))
    document["starts_at"] = _time_text(discount.starts_at)
    _put(document, "periods", discount.periods)
    return document


def _resource_to_document(resource: Resource) -> dict[str, object]:
    document: dict[str, object] = {"id": resource.id, "kind": resource.kind}
    _put(document, "name", resource.name)
    _put(document, "parent", resource.parent)
    _put(document, "attributes", dict(resource.attributes))
    return document


def _subscription_to_document(subscription: Subscription) -> dict[str, object]:
    document: dict[str, object] = {
        "plan": subscription.plan,
        "starts_at": _time_text(subscription.starts_at),
    }
    if subscription.ends_at is not None:
        document["ends_at"] = _time_text(subscription.ends_at)
    return document


def _credit_to_document(credit: CreditGrant) -> dict[str, object]:
    document: dict[str, object] = {
        "key": credit.key,
        "kind": credit.kind.value,
        "amount": str(credit.amount),
        "starts_at": _time_text(credit.starts_at),
    }
    if credit.expires_at is not None:
        document["expires_at"] = _time_text(credit.expires_at)
    if credit.priority != 10:
        document["priority"] = credit.priority
    _put(document, "price", _money(credit.price))
    if credit.recurrence is not None:
        document["recurrence"] = credit.recurrence.value
    if credit.until is not None:
        document["until"] = _time_text(credit.until)
    return document
