"""Metronome usage: ingest (``POST /v1/ingest``) and usage per window (``POST /v1/usage``
for many customers and metrics, ``POST /v1/usage/groups`` for one of each, by group).

Ingest takes a bare JSON array of at most 100 events and is all-or-nothing: if any event is
invalid (or names a customer the key may not send for), nothing is stored and the answer is
a 400 that lists why. Events already accepted (same customer and ``transaction_id``) are
accepted again silently, never counted twice.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from meterbill.api.bodies import gunzip, read_body
from meterbill.api.deps import ClockDep, bearer_secret, resolve_principal
from meterbill.api.metronome import models as m
from meterbill.api.metronome import shapes
from meterbill.api.metronome.models import documented_metronome
from meterbill.api.metronome.wire import (
    MetronomeJSON,
    PrincipalDep,
    SessionDep,
    encode_cursor,
    limit_of,
    offset_of,
    page,
    size_of,
    slice_page,
    span_of,
    visible_customer,
    window_of,
)
from meterbill.api.telemetry import telemetry_of
from meterbill.core.errors import InvalidRequest
from meterbill.core.periods import windows
from meterbill.db.database import Database
from meterbill.services import invoicing
from meterbill.services import metronome as service
from meterbill.services.catalog import load_catalog
from meterbill.services.ingest import Outcome, Status, ingest_batch
from meterbill.services.jsonio import JSONError, loads_exact
from meterbill.services.keys import Principal
from meterbill.services.reports import MAX_WINDOWS

__all__ = ["MAX_EVENTS", "USAGE_PAGE", "router"]

router = APIRouter(prefix="/v1", tags=["usage"])

MAX_EVENTS = 100
"""Events per ingest request, as Metronome."""
USAGE_PAGE = 100
"""Aggregates per page of ``POST /v1/usage``."""
_MAX_BODY = 8 * 1024 * 1024
_SHOWN_REASONS = 5


def _decode(body: bytes, encoding: str) -> list[object]:
    if encoding.strip().lower() == "gzip":
        body = gunzip(body, _MAX_BODY)
    if not body.strip():
        return []
    try:
        decoded = loads_exact(body)
    except JSONError as error:
        raise InvalidRequest(f"body: {error}") from None
    if not isinstance(decoded, list):
        raise InvalidRequest("body must be a JSON array of usage events")
    if len(decoded) > MAX_EVENTS:
        raise InvalidRequest(f"at most {MAX_EVENTS} events per request, got {len(decoded)}")
    return decoded


@router.post(
    "/ingest",
    summary="Ingest up to 100 usage events (all or nothing)",
    response_class=Response,
    **documented_metronome(None, 413),
)
async def ingest(request: Request) -> Response:
    database: Database = request.app.state.database
    now = request.app.state.clock()
    secret = bearer_secret(request)
    encoding = request.headers.get("content-encoding", "")
    telemetry = telemetry_of(request)

    def check() -> Principal:
        with database.transaction(read_only=True) as session:
            return resolve_principal(session, secret)

    # The key first: a caller without one learns nothing, and its body is not read. Then
    # at most 8 MiB is read, and at most 8 MiB inflated.
    principal = await run_in_threadpool(check)
    body = await read_body(request, _MAX_BODY)
    items = await run_in_threadpool(_decode, body, encoding)

    def work() -> list[Outcome]:
        with database.transaction() as session:
            if not items:
                return []
            outcomes = ingest_batch(
                session,
                load_catalog(session),
                items,
                now=now,
                only_customer=principal.customer_id,
            )
            rejected = [(i, o) for i, o in enumerate(outcomes) if o.status is Status.REJECTED]
            if rejected:
                # Raising rolls the whole batch back.
                reasons = "; ".join(
                    f"usage[{i}]"
                    + (f" ({o.transaction_id})" if o.transaction_id else "")
                    + f": {o.reason}"
                    for i, o in rejected[:_SHOWN_REASONS]
                )
                more = len(rejected) - _SHOWN_REASONS
                extra = f"; and {more} more" if more > 0 else ""
                telemetry.count_refused_batch("metronome", len(items))
                raise InvalidRequest(
                    f"{len(rejected)} of {len(items)} events are invalid, none was ingested: "
                    f"{reasons}{extra}"
                )
            return outcomes

    telemetry.count_events("metronome", await run_in_threadpool(work))  # committed
    return Response(status_code=200)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GroupByIn(_Body):
    key: str
    values: list[str] | None = None


class MetricIn(_Body):
    id: str
    group_by: GroupByIn | None = None


class UsageIn(_Body):
    starting_on: str
    ending_before: str
    window_size: str
    customer_ids: list[str] | None = None
    billable_metrics: list[MetricIn] | None = None


@router.post(
    "/usage",
    summary="Usage per customer, metric and window",
    **documented_metronome(m.UsagePage, 404),
)
def list_usage(
    body: UsageIn,
    session: SessionDep,
    principal: PrincipalDep,
    next_page: Annotated[str | None, Query(description="Cursor of the previous page.")] = None,
) -> MetronomeJSON:
    """Every (customer, metric) pair gives one aggregate per window (``NONE``: one for the
    whole range), pairs in customer then metric order. ``value`` is null in a window without
    events; with ``group_by``, ``groups`` maps each value (those requested, else those seen,
    at most 200) to its value or null."""
    window = window_of(body.window_size, default=None, allowed=("HOUR", "DAY", "NONE"))
    size = size_of(window)
    span = span_of(body.starting_on, body.ending_before)
    count = len(windows(span, size)) if size is not None else 1
    if count > MAX_WINDOWS:
        raise InvalidRequest(f"at most {MAX_WINDOWS} windows per request; narrow the range")
    if body.customer_ids is None:
        customers = [r for r in service.list_customers(session) if principal.can_see(r.id)]
    else:
        customers = [visible_customer(session, principal, ref) for ref in body.customer_ids]
    wanted: list[tuple[service.MetricRecord, GroupByIn | None]]
    if body.billable_metrics is None:
        wanted = [
            (record, None) for record in service.list_metrics(session) if record.archived_at is None
        ]
    else:
        wanted = [(service.find_metric(session, m.id), m.group_by) for m in body.billable_metrics]
    refs = load_catalog(session).meters
    pairs = [(customer, metric, group) for customer in customers for metric, group in wanted]
    start = offset_of(next_page)
    items: list[dict[str, object]] = []
    position = start
    while len(items) < USAGE_PAGE and position // count < len(pairs):
        customer, metric, group = pairs[position // count]
        series = service.metric_usage(
            session,
            refs[metric.key],
            customer_id=customer.id,
            span=span,
            size=size,
            group_by=group.key if group is not None else None,
            values=group.values if group is not None else None,
        )
        for entry in series[position % count :][: USAGE_PAGE - len(items)]:
            items.append(shapes.usage_item(customer, metric, entry))
            position += 1
    more = position < len(pairs) * count
    return page(items, encode_cursor(position) if more else None)


class GroupsIn(_Body):
    customer_id: str
    billable_metric_id: str
    window_size: str
    starting_on: str | None = None
    ending_before: str | None = None
    group_by: GroupByIn | None = None
    group_key: list[str] | None = None
    group_filters: dict[str, list[str]] | None = None
    current_period: bool | None = None


@router.post(
    "/usage/groups",
    summary="One customer's usage of one metric, per group",
    **documented_metronome(m.GroupPage, 404),
)
def list_usage_groups(
    body: GroupsIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    limit: Annotated[int | None, Query(description="Items per page (1-100).")] = None,
    next_page: Annotated[str | None, Query(description="Cursor of the previous page.")] = None,
) -> MetronomeJSON:
    """One item per group value and window (``NONE``: one window), groups in value order;
    without grouping, one item per window. ``group_key`` (one or several of the metric's
    group keys) with ``group_filters`` groups by a combination of keys; the older
    ``group_by`` by one key. ``group`` maps the item's keys to its values.
    ``current_period`` takes the range of the customer's billing period that contains the
    billing clock."""
    size = limit_of(limit, default=100)
    window = window_of(body.window_size, default=None, allowed=("HOUR", "DAY", "NONE"))
    record = visible_customer(session, principal, body.customer_id)
    metric = service.find_metric(session, body.billable_metric_id)
    if body.group_by is not None and body.group_key is not None:
        raise InvalidRequest("group_by cannot be combined with group_key; use group_key")
    if body.group_filters is not None and body.group_key is None:
        raise InvalidRequest("group_filters needs group_key")
    if body.current_period:
        if body.starting_on is not None or body.ending_before is not None:
            raise InvalidRequest("current_period cannot be combined with starting_on/ending_before")
        as_of = clock
        periods = [
            view.ref.period
            for view in invoicing.customer_invoices(session, record.id, as_of=as_of)
            if view.ref.period.contains(as_of)
        ]
        if not periods:
            raise InvalidRequest("the customer has no current billing period")
        span = periods[0]
    else:
        if body.starting_on is None or body.ending_before is None:
            raise InvalidRequest(
                "starting_on and ending_before are required unless current_period is true"
            )
        span = span_of(body.starting_on, body.ending_before)
    step = size_of(window)
    if step is not None and len(windows(span, step)) > MAX_WINDOWS:
        raise InvalidRequest(f"at most {MAX_WINDOWS} windows per request; narrow the range")
    ref = load_catalog(session).meters[metric.key]
    items: list[dict[str, object]] = []
    if body.group_key is not None:
        keys, filters = service.group_keys_of(ref.meter, body.group_key, body.group_filters)
        found = service.metric_group_usage(
            session,
            ref,
            customer_id=record.id,
            span=span,
            size=step,
            keys=keys,
            filters=filters,
        )
        items = [
            shapes.group_item(entry, dict(zip(keys, group.values, strict=True)), entry.value)
            for group in found
            for entry in group.windows
        ]
        return slice_page(items, next_page, size)
    key = body.group_by.key if body.group_by is not None else None
    series = service.metric_usage(
        session,
        ref,
        customer_id=record.id,
        span=span,
        size=step,
        group_by=key,
        values=body.group_by.values if body.group_by is not None else None,
    )
    if key is None:
        items = [shapes.group_item(entry, None, entry.value) for entry in series]
    else:
        names = list(series[0].groups or {}) if series else []
        items = [
            shapes.group_item(entry, {key: name}, (entry.groups or {}).get(name))
            for name in names
            for entry in series
        ]
    return slice_page(items, next_page, size)
