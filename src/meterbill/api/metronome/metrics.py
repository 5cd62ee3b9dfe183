"""Metronome billable metrics: create, retrieve, list, archive — each one is a meter.

A metric created here becomes a meter whose key is the slug of its name (``CPU Hours`` →
``cpu_hours``, ``_2``… appended while taken) or ``custom_fields.meterbill_meter_key`` when
given; every metric shows its key in that custom field. Prices come from the setup file: a
product there names the meter key. Reading metrics needs any valid key (the catalog is not
customer data); creating and archiving need an admin key.
"""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from meterbill.api.deps import ClockDep
from meterbill.api.metronome import models as m
from meterbill.api.metronome import shapes
from meterbill.api.metronome.models import documented_metronome
from meterbill.api.metronome.wire import (
    AdminDep,
    MetronomeJSON,
    PrincipalDep,
    SessionDep,
    limit_of,
    ok,
    slice_page,
)
from meterbill.services import metronome as service

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["billable metrics"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EventTypeFilterIn(_Body):
    in_values: list[str] | None = None
    not_in_values: list[str] | None = None


class PropertyFilterIn(_Body):
    name: str
    exists: bool | None = None
    in_values: list[str] | None = None
    not_in_values: list[str] | None = None


class MetricIn(_Body):
    name: str
    aggregation_type: str | None = None
    aggregation_key: str | None = None
    event_type_filter: EventTypeFilterIn | None = None
    property_filters: list[PropertyFilterIn] | None = None
    group_keys: list[list[str]] | None = None
    custom_fields: dict[str, str] | None = None
    sql: str | None = None


class IdIn(_Body):
    id: str


@router.post(
    "/billable-metrics/create",
    summary="Create a billable metric (a meter)",
    **documented_metronome(m.IdData, 403, 409),
)
def create_metric(
    body: MetricIn, session: SessionDep, principal: AdminDep, clock: ClockDep
) -> MetronomeJSON:
    meter, shown = shapes.meter_from_metric(
        name=body.name,
        aggregation_type=body.aggregation_type,
        aggregation_key=body.aggregation_key,
        event_type_filter=None
        if body.event_type_filter is None
        else body.event_type_filter.model_dump(),
        property_filters=None
        if body.property_filters is None
        else [item.model_dump() for item in body.property_filters],
        group_keys=body.group_keys,
        sql=body.sql,
    )
    fields = dict(body.custom_fields or {})
    record = service.create_metric(
        session,
        meter=meter,
        requested_key=fields.pop(service.METER_KEY_FIELD, None),
        custom_fields=fields,
        definition=shown,
        now=clock,
    )
    return ok({"id": record.id})


@router.get(
    "/billable-metrics",
    summary="List billable metrics",
    **documented_metronome(m.MetricPage),
)
def list_metrics(
    session: SessionDep,
    principal: PrincipalDep,
    include_archived: Annotated[bool, Query()] = False,
    limit: int | None = None,
    next_page: str | None = None,
) -> MetronomeJSON:
    size = limit_of(limit, default=100)
    items = [
        shapes.metric(record)
        for record in service.list_metrics(session)
        if include_archived or record.archived_at is None
    ]
    return slice_page(items, next_page, size)


@router.post(
    "/billable-metrics/archive",
    summary="Archive a billable metric",
    **documented_metronome(m.IdData, 403, 404),
)
def archive_metric(
    body: IdIn, session: SessionDep, principal: AdminDep, clock: ClockDep
) -> MetronomeJSON:
    record = service.archive_metric(session, body.id, now=clock)
    return ok({"id": record.id})


@router.get(
    "/billable-metrics/{billable_metric_id}",
    summary="Retrieve a billable metric",
    **documented_metronome(m.MetricData, 404),
)
def get_metric(
    billable_metric_id: str, session: SessionDep, principal: PrincipalDep
) -> MetronomeJSON:
    return ok(shapes.metric(service.find_metric(session, billable_metric_id)))
