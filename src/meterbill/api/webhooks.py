"""Webhook endpoints under ``/v1/webhook_endpoints`` (admin keys only).

Create (the secret is in this answer and in a rotation's, never again), list, show, delete,
rotate the secret, list the delivery attempts and send a failed message again. Messages are
signed per Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``);
see ``docs/operations.md``.
"""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from meterbill.api.deps import ClockDep, PrincipalDep, SessionDep, require_admin
from meterbill.api.native import decode_cursor, encode_cursor
from meterbill.services import webhooks
from meterbill.services.outbox import EVENT_TYPES
from meterbill.views.webhooks import attempt_document, delivery_document, endpoint_document

__all__ = ["router"]

# FastAPI's JSONResponse, so that the OpenAPI document shows the response models (the
# application's default response class documents every answer as a string).
router = APIRouter(
    prefix="/v1/webhook_endpoints", tags=["webhooks"], default_response_class=JSONResponse
)

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"description": "Invalid request (a bad URL or an unknown event type)."},
    401: {"description": "Missing or invalid API key."},
    403: {"description": "Not an admin key."},
}
_NOT_FOUND: dict[int | str, dict[str, object]] = {
    **_ERRORS,
    404: {"description": "No such endpoint (or message)."},
}


class EndpointIn(BaseModel):
    url: str = Field(max_length=2000, description="Where to POST: an http or https URL.")
    event_types: list[str] = Field(
        default_factory=list,
        max_length=len(EVENT_TYPES),
        description=f"Event types wanted (empty: every type). Known: {', '.join(EVENT_TYPES)}.",
    )
    description: str | None = Field(default=None, max_length=500)


class Endpoint(BaseModel):
    id: str = Field(description="Endpoint id (ep_…).")
    url: str
    description: str | None
    event_types: list[str] = Field(description="Event types sent; empty: every type.")
    created_at: str = Field(description="RFC 3339.")
    previous_secret_valid_until: str | None = Field(
        description="After a rotation: until when the previous secret still signs too."
    )


class EndpointWithSecret(Endpoint):
    secret: str = Field(
        description="Signing secret (whsec_…) for the Standard Webhooks libraries; shown "
        "only when the endpoint is created and when its secret is rotated."
    )


class EndpointOut(BaseModel):
    data: Endpoint


class EndpointSecretOut(BaseModel):
    data: EndpointWithSecret


class EndpointList(BaseModel):
    data: list[Endpoint]


class Deleted(BaseModel):
    id: str
    deleted: bool


class DeletedOut(BaseModel):
    data: Deleted


class Attempt(BaseModel):
    message_id: str = Field(description="The webhook-id header: the same on every attempt.")
    event_type: str
    attempt: int = Field(description="1 for the first attempt of this message to the endpoint.")
    at: str = Field(description="RFC 3339.")
    status_code: int | None = Field(description="The receiver's HTTP status (none: no answer).")
    error: str | None = Field(description="Why it failed: the status and body, or the error.")
    outcome: str = Field(description="delivered, retrying or failed.")
    duration_ms: int


class AttemptList(BaseModel):
    data: list[Attempt]
    next_cursor: str | None


class Delivery(BaseModel):
    endpoint_id: str
    message_id: str
    event_type: str
    status: str = Field(description="pending, delivered or failed.")
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None


class DeliveryOut(BaseModel):
    data: Delivery


def _with_secret(view: webhooks.EndpointView, secret: str) -> EndpointSecretOut:
    document = endpoint_document(view, secret=secret)
    return EndpointSecretOut(data=EndpointWithSecret.model_validate(document))


@router.post(
    "",
    summary="Register a webhook endpoint (the answer holds its secret, shown once)",
    status_code=201,
    response_model=EndpointSecretOut,
    responses=_ERRORS,
)
def create_endpoint(
    payload: EndpointIn, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> EndpointSecretOut:
    require_admin(principal)
    view, secret = webhooks.create_endpoint(
        session,
        url=payload.url,
        event_types=payload.event_types,
        description=payload.description,
        now=clock,
    )
    return _with_secret(view, secret)


@router.get("", summary="Webhook endpoints", response_model=EndpointList, responses=_ERRORS)
def list_endpoints(session: SessionDep, principal: PrincipalDep) -> EndpointList:
    require_admin(principal)
    return EndpointList.model_validate(
        {"data": [endpoint_document(view) for view in webhooks.list_endpoints(session)]}
    )


@router.get(
    "/{endpoint_id}",
    summary="One webhook endpoint",
    response_model=EndpointOut,
    responses=_NOT_FOUND,
)
def get_endpoint(endpoint_id: str, session: SessionDep, principal: PrincipalDep) -> EndpointOut:
    require_admin(principal)
    return EndpointOut.model_validate(
        {"data": endpoint_document(webhooks.get_endpoint(session, endpoint_id))}
    )


@router.delete(
    "/{endpoint_id}",
    summary="Delete a webhook endpoint with its pending deliveries and attempt log",
    response_model=DeletedOut,
    responses=_NOT_FOUND,
)
def delete_endpoint(endpoint_id: str, session: SessionDep, principal: PrincipalDep) -> DeletedOut:
    require_admin(principal)
    webhooks.delete_endpoint(session, endpoint_id)
    return DeletedOut(data=Deleted(id=endpoint_id, deleted=True))


@router.post(
    "/{endpoint_id}/rotate_secret",
    summary="A new signing secret; the previous one keeps signing beside it for 24 hours",
    response_model=EndpointSecretOut,
    responses=_NOT_FOUND,
)
def rotate_secret(
    endpoint_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> EndpointSecretOut:
    require_admin(principal)
    view, secret = webhooks.rotate_secret(session, endpoint_id, now=clock)
    return _with_secret(view, secret)


@router.get(
    "/{endpoint_id}/deliveries",
    summary="Delivery attempts to the endpoint, newest first",
    response_model=AttemptList,
    responses=_NOT_FOUND,
)
def list_deliveries(
    endpoint_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page.")] = 100,
) -> AttemptList:
    require_admin(principal)
    offset = decode_cursor(cursor)
    found = webhooks.endpoint_attempts(session, endpoint_id, offset=offset, limit=limit + 1)
    data = [Attempt.model_validate(attempt_document(item)) for item in found[:limit]]
    more = len(found) > limit
    return AttemptList(data=data, next_cursor=encode_cursor(offset + limit) if more else None)


@router.post(
    "/{endpoint_id}/deliveries/{message_id}/resend",
    summary="Send a failed (or delivered) message again, with the same webhook-id",
    status_code=202,
    response_model=DeliveryOut,
    responses={**_NOT_FOUND, 409: {"description": "The message is still pending."}},
)
def resend(
    endpoint_id: str,
    message_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> DeliveryOut:
    require_admin(principal)
    view = webhooks.resend(session, endpoint_id, message_id, now=clock)
    return DeliveryOut(data=Delivery.model_validate(delivery_document(view)))
