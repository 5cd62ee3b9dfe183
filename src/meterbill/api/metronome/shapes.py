"""meterbill's objects in Metronome's response shapes, and Metronome metric definitions in
meterbill's setup form.

Rendering only: every figure comes from the engine (invoices, breakdowns, usage) and is
converted to the credit type's unit (minor units of the customer's currency, e.g. cents of
USD) without any rounding of its own — the engine's amounts are already whole minor units.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from meterbill.core.adjustments import LINE_DISCOUNT, is_adjustment
from meterbill.core.catalog import Aggregation, Catalog, CreditKind, GraduatedPrice, VolumePrice
from meterbill.core.errors import InvalidRequest
from meterbill.core.money import minor_exponent
from meterbill.core.periods import Span
from meterbill.core.rating import LINE_MINIMUM, LINE_PURCHASE, Line, package_unit_price
from meterbill.services.breakdowns import WindowLines, visible
from meterbill.services.invoicing import InvoiceView
from meterbill.services.metronome import (
    METER_KEY_FIELD,
    CustomerRecord,
    MetricRecord,
    UsageWindow,
    credit_uuid,
    plan_uuid,
    product_uuid,
)

__all__ = [
    "USD_CREDIT_TYPE_ID",
    "breakdown_item",
    "credit_type",
    "customer",
    "customer_detail",
    "group_item",
    "invoice",
    "meter_from_metric",
    "metric",
    "status_of",
    "usage_item",
]

USD_CREDIT_TYPE_ID = "2714e483-4ff1-48e4-9e25-ac732e8f24f2"
"""Metronome's id of its default fiat credit type, ``USD (cents)``."""
_CREDIT_TYPE_NAMESPACE = uuid.UUID("0b6e3c1f-7a2d-4f8e-b5c9-3d1a7e6f2c85")

_STATUS = {"draft": "DRAFT", "issued": "FINALIZED", "paid": "FINALIZED", "void": "VOID"}
_AGGREGATIONS = {
    "COUNT": Aggregation.COUNT,
    "SUM": Aggregation.SUM,
    "MAX": Aggregation.MAX,
    "UNIQUE": Aggregation.UNIQUE_COUNT,
    "LATEST": Aggregation.LATEST,
}
_AGGREGATION_NAMES = {value: key for key, value in _AGGREGATIONS.items()}
_CREDIT_TYPES = {
    CreditKind.FREE: ("CREDIT", None),
    CreditKind.COMMIT: ("PREPAID", "PrepaidCommit"),
    CreditKind.PREPAID: ("PREPAID", "PrepaidCommit"),
    CreditKind.CREDIT_NOTE: ("CREDIT", None),
}


def status_of(status: str) -> str:
    """meterbill's invoice status as Metronome's: issued and paid are both FINALIZED."""
    return _STATUS[status]


def credit_type(currency: str) -> dict[str, object]:
    """The fiat credit type of a currency: its minor unit (``USD (cents)``)."""
    if currency == "USD":
        return {"id": USD_CREDIT_TYPE_ID, "name": "USD (cents)"}
    unit = "cents" if minor_exponent(currency) == 2 else "minor units"
    return {"id": str(uuid.uuid5(_CREDIT_TYPE_NAMESPACE, currency)), "name": f"{currency} ({unit})"}


def _minor(amount: Decimal, currency: str) -> Decimal:
    return amount.scaleb(minor_exponent(currency))


# --------------------------------------------------------------------------- customers


def customer(record: CustomerRecord) -> dict[str, object]:
    """Metronome's ``Customer``."""
    return {
        "id": record.metronome_id,
        "external_id": record.external_id,
        "ingest_aliases": list(record.aliases),
        "name": record.name,
        "custom_fields": dict(record.custom_fields),
    }


def customer_detail(record: CustomerRecord) -> dict[str, object]:
    """Metronome's ``CustomerDetail``."""
    return {
        **customer(record),
        "customer_config": {"salesforce_account_id": None},
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "archived_at": record.archived_at,
    }


# --------------------------------------------------------------------------- metrics


def metric(record: MetricRecord) -> dict[str, object]:
    """Metronome's ``BillableMetric`` for a meter.

    A metric created through this API shows the definition it was created with; a meter of
    the setup file is described from its own fields (a ``time_weighted`` meter has no
    Metronome aggregation type and shows none).
    """
    meter = record.meter
    fields = {**record.custom_fields, METER_KEY_FIELD: record.key}
    document: dict[str, object] = {
        "id": record.id,
        "name": meter.name,
        "aggregation_type": _AGGREGATION_NAMES.get(meter.aggregation),
        "aggregation_key": meter.property,
        "event_type_filter": {"in_values": list(meter.event_types)},
        "archived_at": record.archived_at,
        "custom_fields": fields,
    }
    given = record.definition
    if given:
        document["property_filters"] = given.get("property_filters") or []
        document["group_keys"] = given.get("group_keys") or []
        return document
    filters: list[dict[str, object]] = [
        {"name": name, "exists": True, "in_values": sorted(values)}
        for name, values in meter.filters
    ]
    named = {name for name, _ in meter.filters}
    for name in ([meter.property] if meter.property else []) + list(meter.group_by):
        if name not in named:
            filters.append({"name": name, "exists": True})
            named.add(name)
    document["property_filters"] = filters
    document["group_keys"] = [list(meter.group_by)] if meter.group_by else []
    return document


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidRequest(f"{where} must be a list of strings")
    if not value:
        raise InvalidRequest(f"{where} must not be empty")
    return list(value)


def meter_from_metric(
    *,
    name: str,
    aggregation_type: str | None,
    aggregation_key: str | None,
    event_type_filter: Mapping[str, object] | None,
    property_filters: Sequence[Mapping[str, object]] | None,
    group_keys: Sequence[Sequence[str]] | None,
    sql: str | None,
) -> tuple[dict[str, object], dict[str, object]]:
    """A Metronome metric definition as a setup-document meter (without its key), and the
    definition to show back. Raises ``InvalidRequest`` for what a meter cannot express."""
    if sql is not None:
        raise InvalidRequest("sql billable metrics are not supported by meterbill")
    if aggregation_type is None:
        raise InvalidRequest("aggregation_type is required (COUNT, LATEST, MAX, SUM or UNIQUE)")
    aggregation = _AGGREGATIONS.get(aggregation_type.upper())
    if aggregation is None:
        raise InvalidRequest(
            f"aggregation_type must be one of COUNT, LATEST, MAX, SUM, UNIQUE; "
            f"got '{aggregation_type}'"
        )
    if event_type_filter is None or event_type_filter.get("in_values") is None:
        raise InvalidRequest(
            "event_type_filter.in_values is required: meterbill meters match listed event types"
        )
    if event_type_filter.get("not_in_values") is not None:
        raise InvalidRequest("event_type_filter.not_in_values is not supported by meterbill")
    event_types = _strings(event_type_filter.get("in_values"), "event_type_filter.in_values")
    filters: dict[str, list[str]] = {}
    required: set[str] = set()
    names: list[str] = []
    for index, item in enumerate(property_filters or ()):
        where = f"property_filters[{index}]"
        prop = item.get("name")
        if not isinstance(prop, str) or not prop:
            raise InvalidRequest(f"{where}.name is required")
        if prop in names:
            raise InvalidRequest(f"{where}: property '{prop}' is filtered twice")
        names.append(prop)
        if item.get("not_in_values") is not None:
            raise InvalidRequest(f"{where}.not_in_values is not supported by meterbill")
        if item.get("exists") is False:
            raise InvalidRequest(f"{where}.exists false is not supported by meterbill")
        if item.get("in_values") is not None:
            filters[prop] = _strings(item.get("in_values"), f"{where}.in_values")
        elif item.get("exists") is True:
            required.add(prop)
    group_by: list[str] = []
    for index, keys in enumerate(group_keys or ()):
        for key in _strings(list(keys), f"group_keys[{index}]"):
            if key not in names:
                raise InvalidRequest(
                    f"group_keys[{index}]: '{key}' must be one of the property filter names"
                )
            if key not in group_by:
                group_by.append(key)
    if aggregation is Aggregation.COUNT:
        if aggregation_key is not None:
            raise InvalidRequest("aggregation_key does not apply to COUNT")
    else:
        if aggregation_key is None:
            raise InvalidRequest(f"aggregation_key is required for {aggregation_type.upper()}")
        if aggregation_key not in names:
            raise InvalidRequest(
                f"aggregation_key '{aggregation_key}' must be one of the property filter names"
            )
    # meterbill skips an event without the aggregated property and puts an event without a
    # group key in the group ""; an exists filter on any other property cannot be kept.
    unkept = sorted(required - set(group_by) - {aggregation_key})
    if unkept:
        raise InvalidRequest(
            f"property filter '{unkept[0]}': exists without in_values is supported only on "
            "the aggregation_key and group keys"
        )
    meter: dict[str, object] = {
        "name": name,
        "event_type": event_types,
        "aggregation": aggregation.value,
    }
    if aggregation_key is not None:
        meter["property"] = aggregation_key
    if filters:
        meter["filters"] = filters
    if group_by:
        meter["group_by"] = group_by
    shown: dict[str, object] = {
        "property_filters": [
            {k: v for k, v in dict(item).items() if v is not None}
            for item in property_filters or ()
        ],
        "group_keys": [list(keys) for keys in group_keys or ()],
    }
    return meter, shown


# --------------------------------------------------------------------------- invoices


def _line_type(line: Line, catalog: Catalog) -> str:
    if line.type == LINE_PURCHASE:
        return "commit_purchase"
    if line.type == LINE_MINIMUM:
        return LINE_MINIMUM
    if is_adjustment(line):
        # maximum, discount, tax (spec 6): meterbill's own types, no Metronome equivalent.
        return line.type
    product = catalog.products.get(line.product or "")
    if product is not None and product.meter is None:
        return "subscription"
    return "usage"


def _tier(line: Line, catalog: Catalog) -> dict[str, object] | None:
    product = catalog.products.get(line.product or "")
    if line.tier is None or product is None:
        return None
    price = product.price
    if not isinstance(price, GraduatedPrice | VolumePrice) or len(price.tiers) < 2:
        return None
    index = line.tier - 1
    lower = price.tiers[index - 1].up_to if index > 0 else Decimal(0)
    upper = price.tiers[index].up_to
    tier: dict[str, object] = {"level": line.tier, "starting_at": str(lower)}
    if upper is not None and lower is not None:
        tier["size"] = str(upper - lower)
    return tier


def _line(
    line: Line,
    *,
    catalog: Catalog,
    currency: str,
    span: Span,
    period_start: datetime,
    quantity: Decimal,
    amount: Decimal,
) -> dict[str, object]:
    fields: dict[str, str] = {"meterbill_line_type": line.type}
    document: dict[str, object] = {
        "name": line.name,
        "type": _line_type(line, catalog),
        "credit_type": credit_type(currency),
        "total": _minor(amount, currency),
        "quantity": quantity,
        "starting_at": span.start,
        "ending_before": span.end,
    }
    unit_price = line.unit_price
    if unit_price is None:
        # A package price shows its price per unit (docs/compat.md), as WarpStream and
        # Typesense do; flat, minimum, purchase and adjustment lines have none.
        unit_price = package_unit_price(line, catalog, period_start)
    if unit_price is not None:
        document["unit_price"] = _minor(unit_price, currency)
    if line.product is not None:
        document["product_id"] = product_uuid(line.product)
        fields["meterbill_product"] = line.product
    if line.type == LINE_DISCOUNT:
        # Metronome's discount_id field: a stable id of the customer's discount key.
        document["discount_id"] = product_uuid(line.key)
        fields["meterbill_discount"] = line.key.removeprefix("discount:")
    if line.group:
        document["presentation_group_values"] = dict(line.group)
        if len(line.group) == 1:
            document["group_key"], document["group_value"] = line.group[0]
    tier = _tier(line, catalog)
    if tier is not None:
        document["tier"] = tier
    if line.description is not None:
        fields["meterbill_description"] = line.description
    if line.corrects is not None:
        fields["meterbill_corrects_period_start"] = line.corrects.isoformat()
    document["custom_fields"] = fields
    return document


def _credit_lines(view: InvoiceView) -> list[dict[str, object]]:
    currency = view.currency
    lines: list[dict[str, object]] = []
    for use in view.totals.credits:
        kind, commit_type = _CREDIT_TYPES[use.kind]
        grant_id = credit_uuid(view.customer.id, use.grant)
        line: dict[str, object] = {
            "name": f"{use.grant} ({use.kind.value} credit)",
            "type": "applied_commit_or_credit",
            "credit_type": credit_type(currency),
            "total": -_minor(use.amount, currency),
            "applied_commit_or_credit": {"id": grant_id, "type": kind},
            "starting_at": view.ref.period.start,
            "ending_before": view.ref.period.end,
            "custom_fields": {
                "meterbill_credit": use.grant,
                "meterbill_credit_kind": use.kind.value,
            },
        }
        if commit_type is not None:
            line["commit_id"], line["commit_type"] = grant_id, commit_type
        lines.append(line)
    return lines


def _header(view: InvoiceView, record: CustomerRecord, catalog: Catalog) -> dict[str, object]:
    plan = catalog.plans.get(view.ref.plan)
    return {
        "id": view.id,
        "customer_id": record.metronome_id,
        "type": "USAGE",
        "status": status_of(view.status),
        "credit_type": credit_type(view.currency),
        "start_timestamp": view.ref.period.start,
        "end_timestamp": view.ref.period.end,
        "issued_at": view.issued_at,
        "plan_id": plan_uuid(view.ref.plan),
        "plan_name": plan.name if plan is not None else view.ref.plan,
        "external_invoice": None,
        "custom_fields": {
            "meterbill_status": view.status,
            "meterbill_number": view.number,
            "meterbill_plan": view.ref.plan,
            "meterbill_credits_applied": _minor(view.totals.credits_applied, view.currency),
            "meterbill_subtotal": _minor(view.totals.subtotal, view.currency),
            "meterbill_tax": _minor(view.totals.tax, view.currency),
            "meterbill_credit_balance_after": _minor(
                view.totals.credit_balance_after, view.currency
            ),
        },
    }


def invoice(
    view: InvoiceView, record: CustomerRecord, catalog: Catalog, *, skip_zero: bool
) -> dict[str, object]:
    """Metronome's ``Invoice``: the engine's lines, then one ``applied_commit_or_credit``
    line (negative) per credit grant that paid it and one for its credit notes; ``total`` is
    what is left to pay."""
    currency = view.currency
    lines = [
        _line(
            line,
            catalog=catalog,
            currency=currency,
            span=view.ref.period,
            period_start=view.ref.period.start,
            quantity=line.quantity,
            amount=line.amount,
        )
        for line in view.lines
        if not (skip_zero and line.quantity == 0)
    ]
    return {
        **_header(view, record, catalog),
        "line_items": lines + _credit_lines(view) + _credit_note_lines(view),
        # The charges before credits, taxes included: the sum of the non-credit line items.
        "subtotal": _minor(view.totals.subtotal + view.totals.tax, currency),
        "total": _minor(view.totals.total - view.credit_notes, currency),
    }


def _credit_note_lines(view: InvoiceView) -> list[dict[str, object]]:
    """The invoice's credit notes (spec 5.6) as one negative credit line, so that the lines
    still add up to ``total``."""
    if view.credit_notes == 0:
        return []
    currency = view.currency
    return [
        {
            "name": "Credit notes",
            "type": "applied_commit_or_credit",
            "credit_type": credit_type(currency),
            "total": -_minor(view.credit_notes, currency),
            "applied_commit_or_credit": {
                "id": credit_uuid(view.customer.id, f"credit-notes/{view.id}"),
                "type": "CREDIT",
            },
            "starting_at": view.ref.period.start,
            "ending_before": view.ref.period.end,
            "custom_fields": {"meterbill_credit_notes": _minor(view.credit_notes, currency)},
        }
    ]


def breakdown_item(
    view: InvoiceView,
    record: CustomerRecord,
    catalog: Catalog,
    entry: WindowLines,
    *,
    skip_zero: bool,
) -> dict[str, object]:
    """One window of an invoice: its lines' share of the window (credits are not broken
    down; ``subtotal`` and ``total`` are the window's charges)."""
    currency = view.currency
    shown = visible(entry, skip_zero=skip_zero)
    amount = sum((figure.amount for _, figure in shown), Decimal(0))
    return {
        **_header(view, record, catalog),
        "breakdown_start_timestamp": entry.window.start,
        "breakdown_end_timestamp": entry.window.end,
        "line_items": [
            _line(
                line,
                catalog=catalog,
                currency=currency,
                span=entry.window,
                period_start=view.ref.period.start,
                quantity=figure.quantity,
                amount=figure.amount,
            )
            for line, figure in shown
        ],
        "subtotal": _minor(amount, currency),
        "total": _minor(amount, currency),
    }


# --------------------------------------------------------------------------- usage


def usage_item(
    record: CustomerRecord, metric_record: MetricRecord, window: UsageWindow
) -> dict[str, object]:
    """Metronome's ``UsageBatchAggregate``."""
    item: dict[str, object] = {
        "customer_id": record.metronome_id,
        "billable_metric_id": metric_record.id,
        "billable_metric_name": metric_record.meter.name,
        "start_timestamp": window.span.start,
        "end_timestamp": window.span.end,
        "value": window.value,
    }
    if window.groups is not None:
        item["groups"] = dict(window.groups)
    return item


def group_item(
    window: UsageWindow, group: Mapping[str, str] | None, amount: Decimal | None
) -> dict[str, object]:
    """Metronome's ``PagedUsageAggregate`` (``POST /v1/usage/groups``): ``group`` maps each
    group key to the item's value (null without grouping); the older ``group_key`` and
    ``group_value`` are filled when there is exactly one key."""
    single = next(iter(group.items())) if group is not None and len(group) == 1 else None
    return {
        "starting_on": window.span.start,
        "ending_before": window.span.end,
        "group_key": None if single is None else single[0],
        "group_value": None if single is None else single[1],
        "group": None if group is None else dict(group),
        "value": amount,
    }
