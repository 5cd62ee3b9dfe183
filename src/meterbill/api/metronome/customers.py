"""Metronome customers: create, retrieve, list, archive, set ingest aliases, set name, and
the billable metrics a customer is billed for.

A Metronome customer is a meterbill customer. Writes need an admin key; a customer key
sees only its own customer (any other answers 404, exactly like a missing one).
"""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from meterbill.api.deps import ClockDep
from meterbill.api.metronome import models as m
from meterbill.api.metronome import shapes
from meterbill.api.metronome.models import documented_metronome
from meterbill.api.metronome.wire import (
    AdminDep,
    MetronomeJSON,
    PrincipalDep,
    SessionDep,
    id_list,
    limit_of,
    ok,
    slice_page,
    visible_customer,
)
from meterbill.core.errors import InvalidRequest
from meterbill.services import metronome as service

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["customers"])

_MAX_ALIASES = 2000
_MAX_ALIAS_LENGTH = 128


class _Body(BaseModel):
    # Metronome clients may send fields meterbill does not use (extra_body); ignore them.
    model_config = ConfigDict(extra="ignore")


class CustomerIn(_Body):
    name: str
    ingest_aliases: list[str] | None = None
    external_id: str | None = Field(default=None, description="Deprecated; an alias too.")
    custom_fields: dict[str, str] | None = None


class IdIn(_Body):
    id: str


class AliasesIn(_Body):
    ingest_aliases: list[str]


class NameIn(_Body):
    name: str


def _aliases(values: list[str]) -> list[str]:
    if len(values) > _MAX_ALIASES:
        raise InvalidRequest(f"at most {_MAX_ALIASES} ingest aliases, got {len(values)}")
    for value in values:
        if not 1 <= len(value) <= _MAX_ALIAS_LENGTH:
            raise InvalidRequest(
                f"ingest alias '{value[:40]}' must be 1 to {_MAX_ALIAS_LENGTH} characters"
            )
    return values


@router.post(
    "/customers",
    summary="Create a customer",
    **documented_metronome(m.CustomerData, 403, 409),
)
def create_customer(
    body: CustomerIn, session: SessionDep, principal: AdminDep, clock: ClockDep
) -> MetronomeJSON:
    record = service.create_customer(
        session,
        name=body.name,
        aliases=_aliases(body.ingest_aliases or []),
        external_id=_aliases([body.external_id])[0] if body.external_id else None,
        custom_fields=body.custom_fields or {},
        now=clock,
    )
    return ok(shapes.customer(record))


@router.get(
    "/customers",
    summary="List customers",
    **documented_metronome(m.CustomerPage),
)
def list_customers(
    session: SessionDep,
    principal: PrincipalDep,
    customer_ids: Annotated[list[str] | None, Query(description="Comma-separated.")] = None,
    ingest_alias: str | None = None,
    only_archived: bool = False,
    salesforce_account_ids: Annotated[list[str] | None, Query()] = None,
    limit: int | None = None,
    next_page: str | None = None,
) -> MetronomeJSON:
    size = limit_of(limit, default=100)
    wanted = id_list(customer_ids)
    if id_list(salesforce_account_ids):
        # No meterbill customer has a Salesforce account id.
        return slice_page([], next_page, size)
    records = [
        r
        for r in service.list_customers(session)
        if principal.can_see(r.id)
        and (r.archived_at is not None) == only_archived
        and (wanted is None or r.metronome_id in wanted or r.id in wanted)
        and (ingest_alias is None or ingest_alias in r.aliases)
    ]
    return slice_page([shapes.customer_detail(r) for r in records], next_page, size)


@router.post(
    "/customers/archive",
    summary="Archive a customer",
    **documented_metronome(m.IdData, 403, 404),
)
def archive_customer(
    body: IdIn, session: SessionDep, principal: AdminDep, clock: ClockDep
) -> MetronomeJSON:
    record = service.archive_customer(session, body.id, now=clock)
    return ok({"id": record.metronome_id})


@router.get(
    "/customers/{customer_id}",
    summary="Retrieve a customer",
    **documented_metronome(m.CustomerDetailData, 404),
)
def get_customer(customer_id: str, session: SessionDep, principal: PrincipalDep) -> MetronomeJSON:
    return ok(shapes.customer_detail(visible_customer(session, principal, customer_id)))


@router.post(
    "/customers/{customer_id}/setIngestAliases",
    summary="Replace ingest aliases",
    response_class=Response,
    **documented_metronome(None, 403, 404, 409),
)
def set_ingest_aliases(
    customer_id: str, body: AliasesIn, session: SessionDep, principal: AdminDep, clock: ClockDep
) -> Response:
    service.set_ingest_aliases(session, customer_id, _aliases(body.ingest_aliases), now=clock)
    return Response(status_code=200)


@router.post(
    "/customers/{customer_id}/setName",
    summary="Rename a customer",
    **documented_metronome(m.CustomerData, 403, 404),
)
def set_name(
    customer_id: str, body: NameIn, session: SessionDep, principal: AdminDep, clock: ClockDep
) -> MetronomeJSON:
    record = service.set_customer_name(session, customer_id, body.name, now=clock)
    return ok(shapes.customer(record))


@router.get(
    "/customers/{customer_id}/billable-metrics",
    summary="A customer's metrics",
    **documented_metronome(m.MetricPage, 404),
)
def customer_metrics(
    customer_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    include_archived: bool = False,
    on_current_plan: bool = False,
    limit: int | None = None,
    next_page: str | None = None,
) -> MetronomeJSON:
    """The metrics of the products of the customer's plans (``on_current_plan``: only the
    plans of subscriptions active now)."""
    size = limit_of(limit, default=100)
    record = visible_customer(session, principal, customer_id)
    found = service.customer_metrics(session, record.id, at=clock if on_current_plan else None)
    items = [shapes.metric(m) for m in found if include_archived or m.archived_at is None]
    return slice_page(items, next_page, size)
