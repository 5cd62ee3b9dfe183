"""Spend alerts of a customer under ``/v1/customers/{id}/alerts`` (issue 10).

An admin key lists, adds and deletes them; a customer key may list its own (another
customer's answer 404, as everywhere). Adding an alert edits the customer's definition (the
setup document shows it under ``customers[].alerts``) and evaluates it at once, so an alert
whose condition already holds fires in the same transaction; afterwards the evaluator of
``meterbill serve`` watches it.
"""

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from meterbill.api.deps import ClockDep, PrincipalDep, SessionDep, require_admin, require_customer
from meterbill.api.models import documented
from meterbill.api.responses import JsonResponse
from meterbill.services import alerts
from meterbill.views.alerts import alert_document, alert_status_document

__all__ = ["router"]

router = APIRouter(prefix="/v1")

Kind = Literal["draft_total_above", "product_amount_above", "credit_balance_below"]


class AlertIn(BaseModel):
    """A new alert. ``threshold`` is a decimal string in the customer's currency (at most
    its minor unit's decimal places); ``product`` only for ``product_amount_above``."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(
        default=None, description="Unique per customer; made up (alert-…) when absent."
    )
    kind: Kind
    threshold: str = Field(description='Decimal string, e.g. "100.00".')
    product: str | None = Field(default=None, description="Product key (product_amount_above).")


class AlertOut(BaseModel):
    key: str
    kind: Kind
    threshold: str
    product: str | None
    currency: str


class AlertStatusOut(AlertOut):
    plan: str | None = Field(description="The current period's plan (null: no current period).")
    period_start: str | None
    period_end: str | None
    value: str | None = Field(description="The watched value now (null: not measured).")
    fired: bool = Field(description="Whether the alert fired in this period.")
    fired_at: str | None
    fired_value: str | None = Field(description="The value that crossed the threshold.")


class AlertList(BaseModel):
    data: list[AlertStatusOut]


class AlertCreated(BaseModel):
    data: AlertOut


@router.get(
    "/customers/{customer_id}/alerts",
    summary="A customer's spend alerts in the current period",
    **documented(AlertList, 401, 404),
)
def list_alerts(
    customer_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> JsonResponse:
    require_customer(principal, customer_id)
    statuses = alerts.alert_statuses(session, customer_id, at=clock)
    return JsonResponse({"data": [alert_status_document(status) for status in statuses]})


@router.post(
    "/customers/{customer_id}/alerts",
    summary="Add a spend alert (admin)",
    status_code=201,
    **documented(AlertCreated, 401, 403, 404, 409, 413, status=201),
)
def create_alert(
    customer_id: str,
    payload: AlertIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> JsonResponse:
    require_admin(principal)
    alert = alerts.add_alert(session, customer_id, payload.model_dump(exclude_none=True), now=clock)
    alerts.evaluate(session, customer_id, now=clock)
    currency = alerts.customer_currency(session, customer_id)
    return JsonResponse({"data": alert_document(alert, currency)}, status_code=201)


@router.delete(
    "/customers/{customer_id}/alerts/{key}",
    summary="Delete a spend alert (admin); its past firings stay recorded",
    status_code=204,
    **documented(None, 401, 403, 404, status=204),
)
def remove_alert(
    customer_id: str, key: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Response:
    require_admin(principal)
    alerts.delete_alert(session, customer_id, key, now=clock)
    return Response(status_code=204)
