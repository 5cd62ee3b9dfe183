"""The Metronome-compatible API's response shapes, for its OpenAPI document only.

The bodies are written by ``shapes`` as dicts and rendered by
:class:`~meterbill.api.metronome.wire.MetronomeJSON` (amounts as exact JSON numbers); these
models describe them and never touch a response (see ``api.models``). Amounts and
quantities are JSON numbers (:data:`Number`), times RFC 3339 UTC strings; a key that a
shape leaves out when it has no value is optional and never ``null``.
"""

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from meterbill.api.models import Time, documented

__all__ = ["Number", "documented_metronome"]

Number = Annotated[
    Decimal,
    WithJsonSchema({"type": "number", "description": "Exact decimal digits as a JSON number."}),
]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorMessage(_Shape):
    """Every error of the Metronome-compatible API, as Metronome writes it."""

    message: str


def documented_metronome(
    model: type[BaseModel] | None, *statuses: int, status: int = 200
) -> dict[str, Any]:
    """:func:`~meterbill.api.models.documented` with Metronome's error body; every route
    takes the key (401)."""
    return documented(model, 401, *statuses, status=status, error=ErrorMessage)


class Id(_Shape):
    id: str


class IdData(_Shape):
    data: Id


# --------------------------------------------------------------------------- customers


class Customer(_Shape):
    id: str
    external_id: str | None
    ingest_aliases: list[str]
    name: str
    custom_fields: dict[str, str]


class CustomerConfig(_Shape):
    salesforce_account_id: None


class CustomerDetail(Customer):
    customer_config: CustomerConfig
    created_at: Time
    updated_at: Time
    archived_at: Time | None


class CustomerData(_Shape):
    data: Customer


class CustomerDetailData(_Shape):
    data: CustomerDetail


class CustomerPage(_Shape):
    data: list[CustomerDetail]
    next_page: str | None


# --------------------------------------------------------------------------- metrics


class EventTypeFilter(_Shape):
    in_values: list[str]


class PropertyFilter(_Shape):
    name: str
    exists: bool | SkipJsonSchema[None] = None
    in_values: list[str] | SkipJsonSchema[None] = None
    not_in_values: list[str] | SkipJsonSchema[None] = None


class BillableMetric(_Shape):
    id: str
    name: str
    aggregation_type: Literal["COUNT", "SUM", "MAX", "UNIQUE", "LATEST"] | None
    aggregation_key: str | None
    event_type_filter: EventTypeFilter
    archived_at: Time | None
    custom_fields: dict[str, str] = Field(
        description="meterbill_meter_key names the meter; the others are the caller's."
    )
    property_filters: list[PropertyFilter]
    group_keys: list[list[str]]


class MetricData(_Shape):
    data: BillableMetric


class MetricPage(_Shape):
    data: list[BillableMetric]
    next_page: str | None


# --------------------------------------------------------------------------- invoices


class CreditType(_Shape):
    id: str
    name: str = Field(examples=["USD (cents)"])


class Tier(_Shape):
    level: int
    starting_at: str
    size: str | SkipJsonSchema[None] = None


class AppliedCredit(_Shape):
    id: str
    type: Literal["CREDIT", "PREPAID"]


class LineItem(_Shape):
    """A charge (usage, subscription, minimum, commit purchase, adjustment) or, with
    ``applied_commit_or_credit``, a negative credit line."""

    name: str
    type: str
    credit_type: CreditType
    total: Number = Field(description="In the credit type's unit (e.g. cents).")
    quantity: Number | SkipJsonSchema[None] = None
    starting_at: Time
    ending_before: Time
    unit_price: Number | SkipJsonSchema[None] = None
    product_id: str | SkipJsonSchema[None] = None
    discount_id: str | SkipJsonSchema[None] = None
    presentation_group_values: dict[str, str] | SkipJsonSchema[None] = None
    group_key: str | SkipJsonSchema[None] = None
    group_value: str | SkipJsonSchema[None] = None
    tier: Tier | SkipJsonSchema[None] = None
    applied_commit_or_credit: AppliedCredit | SkipJsonSchema[None] = None
    commit_id: str | SkipJsonSchema[None] = None
    commit_type: Literal["PrepaidCommit"] | SkipJsonSchema[None] = None
    custom_fields: dict[str, str | Number]


class _InvoiceHeader(_Shape):
    id: str
    customer_id: str
    type: Literal["USAGE"]
    status: Literal["DRAFT", "FINALIZED", "VOID"]
    credit_type: CreditType
    start_timestamp: Time
    end_timestamp: Time
    issued_at: Time | None
    plan_id: str
    plan_name: str
    external_invoice: None
    custom_fields: dict[str, str | Number | None] = Field(
        description="meterbill's status, number, plan and totals (in the credit type's unit)."
    )
    line_items: list[LineItem]
    subtotal: Number
    total: Number


class Invoice(_InvoiceHeader):
    pass


class InvoiceData(_Shape):
    data: Invoice


class InvoicePage(_Shape):
    data: list[Invoice]
    next_page: str | None


class Breakdown(_InvoiceHeader):
    breakdown_start_timestamp: Time
    breakdown_end_timestamp: Time


class BreakdownPage(_Shape):
    data: list[Breakdown]
    next_page: str | None


class CreditTypeItem(CreditType):
    is_currency: bool


class CreditTypePage(_Shape):
    data: list[CreditTypeItem]
    next_page: str | None


# --------------------------------------------------------------------------- usage


class UsageAggregate(_Shape):
    customer_id: str
    billable_metric_id: str
    billable_metric_name: str
    start_timestamp: Time
    end_timestamp: Time
    value: Number | None = Field(description="Null in a window without events.")
    groups: dict[str, Number | None] | SkipJsonSchema[None] = None


class UsagePage(_Shape):
    data: list[UsageAggregate]
    next_page: str | None


class GroupAggregate(_Shape):
    starting_on: Time
    ending_before: Time
    group_key: str | None
    group_value: str | None
    value: Number | None


class GroupPage(_Shape):
    data: list[GroupAggregate]
    next_page: str | None
