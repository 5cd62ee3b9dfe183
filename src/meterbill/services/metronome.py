"""What the Metronome-compatible API needs beyond the native services.

meterbill has no Metronome objects of its own: a Metronome *customer* is a meterbill
customer, a *billable metric* is a meter. This module keeps the few things Metronome shows
that meterbill does not model (custom fields, ``external_id``, the metric definition as it
was sent, ``updated_at``) in the installation's key/value table, names the ids Metronome
clients see, and answers usage queries per window. Prices, invoices and breakdowns are the
engine's own and are only read here; there is no billing logic in this module.

Ids:

* a customer's Metronome id is ``customers.uuid``; customers created through this API get
  that same UUID as their meterbill id, so both APIs use one id;
* a billable metric's id is ``uuid5(METRIC_NAMESPACE, meter key)``;
* a product's id is ``uuid5(PRODUCT_NAMESPACE, product key)``, a plan's
  ``uuid5(PLAN_NAMESPACE, plan key)``, a credit grant's
  ``uuid5(CREDIT_NAMESPACE, "<customer id>/<grant key>")``.
"""

import re
import uuid
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from meterbill.core.aggregation import Partial, aggregate, quantity
from meterbill.core.catalog import Aggregation, Meter
from meterbill.core.errors import Conflict, InvalidRequest, NotFound
from meterbill.core.events import Event, parse_timestamp
from meterbill.core.limits import MAX_ID_LENGTH
from meterbill.core.periods import Span, WindowSize, windows
from meterbill.core.setup import customer_to_document, parse_customer
from meterbill.db import Session
from meterbill.db import catalog as store
from meterbill.db import usage as usage_store
from meterbill.db.models import CustomerRow
from meterbill.services.catalog import apply_setup, load_catalog, load_customer, save_customer
from meterbill.services.ingest import rebuild_meter
from meterbill.services.invoicing import InvoiceView, customer_invoices
from meterbill.services.jsonio import dumps_text, loads_exact
from meterbill.services.usage import MeterRef, meter_series

__all__ = [
    "CREDIT_NAMESPACE",
    "INVOICE_TYPES",
    "METER_KEY_FIELD",
    "METRIC_NAMESPACE",
    "PLAN_NAMESPACE",
    "PRODUCT_NAMESPACE",
    "CustomerRecord",
    "GroupUsage",
    "MetricRecord",
    "UsageWindow",
    "archive_customer",
    "archive_metric",
    "create_customer",
    "create_metric",
    "credit_uuid",
    "customer_metrics",
    "find_customer",
    "find_metric",
    "group_keys_of",
    "invoice_type_of",
    "list_customers",
    "list_invoices",
    "list_metrics",
    "metric_group_usage",
    "metric_usage",
    "metric_uuid",
    "plan_uuid",
    "product_uuid",
    "set_customer_name",
    "set_ingest_aliases",
]

METRIC_NAMESPACE = uuid.UUID("3d0f5b8e-2c1a-4f57-9a53-6f0c1e7b2a41")
PRODUCT_NAMESPACE = uuid.UUID("8a4e2f71-5b3c-4d09-8e16-2b7f9c0d3e52")
PLAN_NAMESPACE = uuid.UUID("c7b19e03-6d2f-4a8b-9f45-1e3a5c7d9b63")
CREDIT_NAMESPACE = uuid.UUID("5f2d8c64-9a1b-4e3f-8c27-4d6b0a2e1f74")

INVOICE_TYPES = ("USAGE", "USAGE_CONSOLIDATED", "SCHEDULED")
"""Metronome's invoice types; every meterbill invoice is a ``USAGE`` invoice."""

METER_KEY_FIELD = "meterbill_meter_key"
"""The custom field that names (on create) and shows (on read) a metric's meter key."""

_CUSTOMER_META = "metronome.customer."
_METRIC_META = "metronome.metric."
_MAX_NAME = 160
_MAX_SLUG = 180
_MAX_GROUPS = 200
_KEY = re.compile(r"[a-z0-9_]+")


def metric_uuid(meter_key: str) -> str:
    return str(uuid.uuid5(METRIC_NAMESPACE, meter_key))


def product_uuid(product_key: str) -> str:
    return str(uuid.uuid5(PRODUCT_NAMESPACE, product_key))


def plan_uuid(plan_key: str) -> str:
    return str(uuid.uuid5(PLAN_NAMESPACE, plan_key))


def credit_uuid(customer_id: str, grant_key: str) -> str:
    return str(uuid.uuid5(CREDIT_NAMESPACE, f"{customer_id}/{grant_key}"))


def _read_meta(session: Session, key: str) -> dict[str, object]:
    text = store.get_meta(session, key)
    if text is None:
        return {}
    value = loads_exact(text)
    return value if isinstance(value, dict) else {}


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


# --------------------------------------------------------------------------- customers


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer as Metronome shows it."""

    id: str
    """meterbill's customer id (used in events, the native API and customer keys)."""
    metronome_id: str
    name: str
    currency: str
    aliases: tuple[str, ...]
    external_id: str
    custom_fields: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


def _record(session: Session, row: CustomerRow) -> CustomerRecord:
    customer = load_customer(session, row.id)
    extra = _read_meta(session, _CUSTOMER_META + row.id)
    stored_external = extra.get("external_id")
    if isinstance(stored_external, str) and stored_external in customer.aliases:
        external = stored_external
    elif customer.aliases:
        external = customer.aliases[0]
    else:
        external = row.id
    updated = extra.get("updated_at")
    return CustomerRecord(
        id=row.id,
        metronome_id=row.uuid,
        name=customer.name,
        currency=customer.currency,
        aliases=customer.aliases,
        external_id=external,
        custom_fields=_strings(extra.get("custom_fields")),
        created_at=row.created_at,
        updated_at=parse_timestamp(updated) if isinstance(updated, str) else row.created_at,
        archived_at=row.archived_at,
    )


def find_customer(session: Session, reference: str) -> CustomerRecord:
    """A customer by its Metronome id or its meterbill id (not by an alias)."""
    owner = store.resolve_customers(session, [reference]).get(reference)
    row = store.get_customer(session, owner) if owner is not None else None
    if row is None or reference not in (row.id, row.uuid):
        raise NotFound(f"customer '{reference}' not found")
    return _record(session, row)


def list_customers(session: Session) -> list[CustomerRecord]:
    """Every customer, archived ones included, by meterbill id."""
    return [_record(session, row) for row in store.customer_rows(session)]


def _check_aliases(session: Session, customer_id: str | None, aliases: Sequence[str]) -> None:
    owners = store.resolve_customers(session, aliases)
    for alias in aliases:
        owner = owners.get(alias)
        if owner is not None and owner != customer_id:
            raise Conflict(f"ingest alias '{alias}' is already used by another customer")


def _touch(session: Session, customer_id: str, now: datetime, **changes: object) -> None:
    key = _CUSTOMER_META + customer_id
    extra = _read_meta(session, key)
    extra.update(changes)
    extra["updated_at"] = now.isoformat()
    store.set_meta(session, key, dumps_text(extra))


def create_customer(
    session: Session,
    *,
    name: str,
    aliases: Sequence[str],
    external_id: str | None,
    custom_fields: Mapping[str, str],
    now: datetime,
) -> CustomerRecord:
    """A new customer whose meterbill id and Metronome id are one new UUID.

    ``external_id`` is an ingest alias too (the first one). An alias that another customer
    uses is a ``Conflict``.
    """
    wanted = list(dict.fromkeys(([external_id] if external_id else []) + list(aliases)))
    new_id = str(uuid.uuid4())
    document: dict[str, object] = {"id": new_id, "name": name[:_MAX_NAME], "aliases": wanted}
    # Validate first: an alias holding a NUL must be refused, not looked up (PostgreSQL
    # cannot compare such text).
    customer = parse_customer(document, "customer")
    _check_aliases(session, None, wanted)
    save_customer(session, customer, now=now)
    row = store.get_customer(session, new_id)
    assert row is not None
    row.uuid = new_id
    session.flush()
    _touch(session, new_id, now, external_id=external_id, custom_fields=dict(custom_fields))
    return _record(session, row)


def set_ingest_aliases(
    session: Session, reference: str, aliases: Sequence[str], *, now: datetime
) -> CustomerRecord:
    """Replace the customer's ingest aliases (idempotent)."""
    record = find_customer(session, reference)
    wanted = list(dict.fromkeys(aliases))
    for alias in wanted:
        if len(alias) > MAX_ID_LENGTH:
            raise InvalidRequest(f"ingest alias '{alias[:40]}…' is longer than {MAX_ID_LENGTH}")
    customer = load_customer(session, record.id)
    # The stored customer is re-read without the entry limits (it may predate them); the
    # only new values, the aliases, were bounded just above. Parsing checks the aliases'
    # characters before they reach a query (a NUL is a 400, not a database error).
    updated = parse_customer(
        {**customer_to_document(customer), "aliases": wanted}, "customer", limits=False
    )
    _check_aliases(session, record.id, wanted)
    if save_customer(session, updated, now=now):
        _touch(session, record.id, now)
    return find_customer(session, record.id)


def set_customer_name(
    session: Session, reference: str, name: str, *, now: datetime
) -> CustomerRecord:
    record = find_customer(session, reference)
    customer = load_customer(session, record.id)
    # Only the name is new, and names have no spec 7 limit: re-read the rest as stored.
    updated = parse_customer(
        {**customer_to_document(customer), "name": name[:_MAX_NAME]}, "customer", limits=False
    )
    if save_customer(session, updated, now=now):
        _touch(session, record.id, now)
    return find_customer(session, record.id)


def archive_customer(session: Session, reference: str, *, now: datetime) -> CustomerRecord:
    """Mark the customer archived (idempotent). Billing is not affected."""
    record = find_customer(session, reference)
    row = store.get_customer(session, record.id)
    assert row is not None
    if row.archived_at is None:
        row.archived_at = now
        session.flush()
        _touch(session, record.id, now)
    return find_customer(session, record.id)


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True, slots=True)
class MetricRecord:
    """A meter seen as a Metronome billable metric."""

    id: str
    key: str
    meter: Meter
    archived_at: datetime | None
    custom_fields: dict[str, str] = field(default_factory=dict)
    definition: dict[str, object] = field(default_factory=dict)
    """The Metronome fields the metric was created with (empty for setup-file meters)."""


def list_metrics(session: Session) -> list[MetricRecord]:
    """Every meter, archived ones included, in catalog order."""
    state = load_catalog(session)
    result: list[MetricRecord] = []
    for row in store.meter_rows(session):
        meter = state.catalog.meters.get(row.key)
        if meter is None:
            continue
        extra = _read_meta(session, _METRIC_META + row.key)
        definition = extra.get("definition")
        result.append(
            MetricRecord(
                id=metric_uuid(row.key),
                key=row.key,
                meter=meter,
                archived_at=row.archived_at,
                custom_fields=_strings(extra.get("custom_fields")),
                definition=definition if isinstance(definition, dict) else {},
            )
        )
    return result


def find_metric(session: Session, metric_id: str) -> MetricRecord:
    for record in list_metrics(session):
        if record.id == metric_id:
            return record
    raise NotFound(f"billable metric '{metric_id}' not found")


def customer_metrics(
    session: Session, customer_id: str, *, at: datetime | None = None
) -> list[MetricRecord]:
    """The metrics priced on the customer's plans (with ``at``: only the plans of the
    subscriptions active at that time), in catalog order."""
    catalog = load_catalog(session).catalog
    customer = load_customer(session, customer_id)
    plans = {
        s.plan
        for s in customer.subscriptions
        if at is None or (s.starts_at <= at and (s.ends_at is None or at < s.ends_at))
    }
    keys = {
        catalog.products[p].meter
        for plan in plans
        for p in catalog.plans[plan].products
        if p in catalog.products
    }
    return [record for record in list_metrics(session) if record.key in keys]


def _slug(name: str) -> str:
    """A meter key from a metric name: at most 180 characters, so that a ``_2``-style suffix
    still keeps it within the 200 characters of a key (spec 7)."""
    text = re.sub(r"[^a-z0-9]+", "_", name.lower())[:_MAX_SLUG].strip("_")
    return text or "metric"


def create_metric(
    session: Session,
    *,
    meter: Mapping[str, object],
    requested_key: str | None,
    custom_fields: Mapping[str, str],
    definition: Mapping[str, object],
    now: datetime,
) -> MetricRecord:
    """Add ``meter`` (a setup-document meter without ``key``) to the catalog.

    The key is ``requested_key`` (a ``Conflict`` if a meter has it already) or the slug of
    the meter's name, with ``_2``, ``_3``… appended while taken. Existing events of the
    meter's event types are counted at once (the meter is built from the raw events).
    """
    taken = {row.key for row in store.meter_rows(session)}
    if requested_key is not None:
        if not _KEY.fullmatch(requested_key):
            raise InvalidRequest(
                f"custom_fields.{METER_KEY_FIELD}: {requested_key!r} must match [a-z0-9_]+"
            )
        if requested_key in taken:
            raise Conflict(f"a billable metric with meter key '{requested_key}' already exists")
        key = requested_key
    else:
        base = _slug(str(meter.get("name", "")))
        key, suffix = base, 1
        while key in taken:
            suffix += 1
            key = f"{base}_{suffix}"
    apply_setup(session, {"meters": [{"key": key, **meter}]}, now=now, rebuild=rebuild_meter)
    store.set_meta(
        session,
        _METRIC_META + key,
        dumps_text({"custom_fields": dict(custom_fields), "definition": dict(definition)}),
    )
    return find_metric(session, metric_uuid(key))


def archive_metric(session: Session, metric_id: str, *, now: datetime) -> MetricRecord:
    """Archive a metric that no product prices (idempotent)."""
    record = find_metric(session, metric_id)
    users = [
        p.key for p in load_catalog(session).catalog.products.values() if p.meter == record.key
    ]
    if users:
        raise InvalidRequest(
            f"billable metric '{metric_id}' (meter '{record.key}') is priced by product "
            f"'{users[0]}'; remove it from the setup before archiving"
        )
    for row in store.meter_rows(session):
        if row.key == record.key and row.archived_at is None:
            row.archived_at = now
            session.flush()
    return find_metric(session, metric_id)


# --------------------------------------------------------------------------- usage


@dataclass(frozen=True, slots=True)
class UsageWindow:
    """A metric's value in one window: ``None`` when no event counted there."""

    span: Span
    value: Decimal | None
    groups: dict[str, Decimal | None] | None = None


def metric_usage(
    session: Session,
    ref: MeterRef,
    *,
    customer_id: str,
    span: Span,
    size: WindowSize | None,
    group_by: str | None = None,
    values: Sequence[str] | None = None,
) -> list[UsageWindow]:
    """The meter over each window of ``span`` (one window when ``size`` is None), over all
    its groups together, and per value of the dimension ``group_by`` if given.

    Values are the meter's aggregation (not divided by any product's divisor). Without
    ``values``, the groups are the values seen in ``span`` (at most 200).
    """
    meter = ref.meter
    if group_by is not None and group_by not in meter.group_by:
        keys = ", ".join(meter.group_by) or "none"
        raise InvalidRequest(f"group_by.key '{group_by}' is not a group key of the metric ({keys})")
    spans = windows(span, size) if size is not None else [span]
    if meter.aggregation is Aggregation.TIME_WEIGHTED:
        return _weighted_usage(session, ref, customer_id, span, spans, size, group_by, values)
    events = usage_store.fetch_events(
        session, customer_id=customer_id, event_types=meter.event_types, span=span
    )
    starts = [window.start for window in spans]
    per_window: list[list[Event]] = [[] for _ in spans]
    for event in events:
        per_window[bisect_right(starts, event.timestamp) - 1].append(event)
    whole = replace(meter, group_by=())
    split = replace(meter, group_by=(group_by,)) if group_by is not None else None
    seen: set[str] = set()
    found: list[tuple[Decimal | None, dict[str, Partial]]] = []
    for window, inside in zip(spans, per_window, strict=True):
        total = aggregate(whole, inside).get(())
        value = _value(whole, total, window)
        parts: dict[str, Partial] = {}
        if split is not None:
            parts = {g[0]: p for g, p in aggregate(split, inside).items() if p.count > 0}
            seen.update(parts)
        found.append((value, parts))
    names = list(values) if values is not None else sorted(seen)[:_MAX_GROUPS]
    result: list[UsageWindow] = []
    for window, (value, parts) in zip(spans, found, strict=True):
        groups = None
        if split is not None:
            groups = {name: _value(split, parts.get(name), window) for name in names}
        result.append(UsageWindow(window, value, groups))
    return result


def _value(meter: Meter, partial: Partial | None, window: Span) -> Decimal | None:
    if partial is None or partial.count == 0:
        return None
    return quantity(meter, partial, span=window, carry=None)


def _weighted_usage(
    session: Session,
    ref: MeterRef,
    customer_id: str,
    span: Span,
    spans: list[Span],
    size: WindowSize | None,
    group_by: str | None,
    values: Sequence[str] | None,
) -> list[UsageWindow]:
    # A gauge per group: the metric's value is the sum of its groups' time-weighted values.
    series = meter_series(
        session,
        ref,
        customer_id=customer_id,
        span=span,
        windows=spans,
        size=size or WindowSize.DAY,
    )
    groups = set(series)
    index = ref.meter.group_by.index(group_by) if group_by is not None else None
    seen = sorted({group[index] for group in groups})[:_MAX_GROUPS] if index is not None else []
    names = list(values) if values is not None else seen
    result: list[UsageWindow] = []
    for position, window in enumerate(spans):
        value = sum((s[position] for s in series.values()), Decimal(0)) if series else None
        by_name: dict[str, Decimal | None] | None = None
        if index is not None:
            by_name = {}
            for name in names:
                parts = [s[position] for g, s in series.items() if g[index] == name]
                by_name[name] = sum(parts, Decimal(0)) if parts else None
        result.append(UsageWindow(window, value, by_name))
    return result


@dataclass(frozen=True, slots=True)
class GroupUsage:
    """One combination of group values (in the order of the keys asked for) and the
    meter's value for it in each window (``None`` where nothing counted)."""

    values: tuple[str, ...]
    windows: list[UsageWindow]


def group_keys_of(
    meter: Meter, keys: Sequence[str], filters: Mapping[str, Sequence[str]] | None
) -> tuple[tuple[str, ...], dict[str, frozenset[str]]]:
    """Checked ``group_key`` and ``group_filters`` of ``POST /v1/usage/groups``: the keys
    (one or several of the meter's group keys, each once) and the non-empty filters."""
    if not keys:
        raise InvalidRequest("group_key must name at least one group key")
    known = ", ".join(meter.group_by) or "none"
    for key in keys:
        if key not in meter.group_by:
            raise InvalidRequest(f"group_key '{key}' is not a group key of the metric ({known})")
    if len(set(keys)) != len(keys):
        raise InvalidRequest("group_key names a key twice")
    chosen: dict[str, frozenset[str]] = {}
    count = 0
    for key, values in (filters or {}).items():
        if key not in keys:
            raise InvalidRequest(f"group_filters key '{key}' must be one of group_key")
        count += len(values)
        if values:
            chosen[key] = frozenset(values)
    if count > _MAX_GROUPS:
        raise InvalidRequest(f"group_filters may list at most {_MAX_GROUPS} values, got {count}")
    return tuple(keys), chosen


def metric_group_usage(
    session: Session,
    ref: MeterRef,
    *,
    customer_id: str,
    span: Span,
    size: WindowSize | None,
    keys: tuple[str, ...],
    filters: Mapping[str, frozenset[str]],
) -> list[GroupUsage]:
    """The meter per combination of the group ``keys`` (from ``group_keys_of``) over each
    window of ``span`` (one window when ``size`` is None): the combinations with usage in
    ``span`` whose values pass ``filters`` (a key without a filter takes every value),
    sorted by their values, at most 200."""
    meter = ref.meter
    spans = windows(span, size) if size is not None else [span]
    per_window: list[dict[tuple[str, ...], Decimal]]
    if meter.aggregation is Aggregation.TIME_WEIGHTED:
        series = meter_series(
            session,
            ref,
            customer_id=customer_id,
            span=span,
            windows=spans,
            size=size or WindowSize.DAY,
        )
        positions = [meter.group_by.index(key) for key in keys]
        per_window = [{} for _ in spans]
        for group, weighted in series.items():
            combination = tuple(group[i] for i in positions)
            for index, amount in enumerate(weighted):
                found = per_window[index]
                found[combination] = found.get(combination, Decimal(0)) + amount
    else:
        events = usage_store.fetch_events(
            session, customer_id=customer_id, event_types=meter.event_types, span=span
        )
        starts = [window.start for window in spans]
        inside: list[list[Event]] = [[] for _ in spans]
        for event in events:
            inside[bisect_right(starts, event.timestamp) - 1].append(event)
        split = replace(meter, group_by=keys)
        per_window = []
        for window, chunk in zip(spans, inside, strict=True):
            measured: dict[tuple[str, ...], Decimal] = {}
            for group, partial in aggregate(split, chunk).items():
                shown = _value(split, partial, window)
                if shown is not None:
                    measured[group] = shown
            per_window.append(measured)
    seen = {combination for found in per_window for combination in found}
    wanted = sorted(
        combination
        for combination in seen
        if all(combination[i] in filters[key] for i, key in enumerate(keys) if key in filters)
    )[:_MAX_GROUPS]
    return [
        GroupUsage(
            combination,
            [
                UsageWindow(window, found.get(combination))
                for window, found in zip(spans, per_window, strict=True)
            ],
        )
        for combination in wanted
    ]


# --------------------------------------------------------------------------- invoices


def invoice_type_of(value: str | None) -> str | None:
    """A Metronome invoice ``type`` filter, upper case; 400 for a type Metronome lacks."""
    if value is None:
        return None
    found = value.upper()
    if found not in INVOICE_TYPES:
        raise InvalidRequest(
            f"type must be USAGE, USAGE_CONSOLIDATED or SCHEDULED, got '{value[:60]}'"
        )
    return found


def list_invoices(
    session: Session,
    customer_id: str,
    *,
    as_of: datetime,
    statuses: set[str] | None = None,
    starting_on: datetime | None = None,
    ending_before: datetime | None = None,
    invoice_type: str | None = None,
    contract_id: str | None = None,
) -> list[InvoiceView]:
    """The customer's invoices at ``as_of`` (issued and live drafts, period order) that pass
    Metronome's list filters: meterbill ``statuses``, periods starting at or after
    ``starting_on`` and ending at or before ``ending_before``, ``invoice_type`` (from
    ``invoice_type_of``: every meterbill invoice is ``USAGE``, so ``SCHEDULED`` and
    ``USAGE_CONSOLIDATED`` find none) and ``contract_id`` (meterbill has no contracts: any
    contract id finds none, never every invoice)."""
    if contract_id is not None or invoice_type not in (None, "USAGE"):
        return []
    return [
        view
        for view in customer_invoices(session, customer_id, as_of=as_of)
        if (statuses is None or view.status in statuses)
        and (starting_on is None or view.ref.period.start >= starting_on)
        and (ending_before is None or view.ref.period.end <= ending_before)
    ]
