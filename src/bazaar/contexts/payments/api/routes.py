"""Payments routes (api.md "Payments and refunds"); HTTP only, no SQL, no rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from bazaar.api.idempotency import (
    IdempotencyKey,
    json_outcome,
    key_scope,
    problem_outcome,
    run_idempotent,
)
from bazaar.api.problems import ProblemError
from bazaar.api.responses import ORJSONResponse
from bazaar.api.security import require_permission
from bazaar.contexts.identity import Permission, Principal
from bazaar.contexts.payments.api import schemas
from bazaar.contexts.payments.api.problems import payments_errors, payments_problem
from bazaar.contexts.payments.application.refunds import RefundOutcome
from bazaar.contexts.payments.application.service import PaymentDetails, PaymentService
from bazaar.contexts.payments.domain import commands as cmds
from bazaar.contexts.payments.domain.model import Payment, Refund
from bazaar.kernel.idempotency import StoredResponse
from bazaar.kernel.ids import MAX_SNOWFLAKE_ID

__all__ = ["payment_service", "router"]

router = APIRouter(prefix="/api/v1", tags=["payments"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": "problem+json"} for status in (400, 401, 403, 404, 409, 422, 503)
}
_READ_PROBLEMS: dict[int | str, dict[str, Any]] = {s: _PROBLEMS[s] for s in (401, 403, 404)}


async def payment_service(request: Request) -> PaymentService:
    service: PaymentService = request.app.state.container.payments
    return service


Service = Annotated[PaymentService, Depends(payment_service)]


def _payment_id(raw: str) -> int:
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_SNOWFLAKE_ID:
        return int(raw)
    raise ProblemError(404, "not-found", "No such resource.")


def _payment_public(payment: Payment) -> schemas.PaymentPublic:
    return schemas.PaymentPublic(
        id=str(payment.id),
        status=payment.status.value,
        amount=schemas.MoneyPublic.of(payment.amount),
        refunded_amount=schemas.MoneyPublic.of(payment.refunded),
        psp_reference=payment.psp_authorization_id,
        decline_code=payment.decline_code,
        description=payment.description,
        captured_at=payment.captured_at,
        created_at=payment.created_at,
    )


def _refund_public(refund: Refund) -> schemas.RefundPublic:
    return schemas.RefundPublic(
        id=str(refund.id),
        payment_id=str(refund.payment_id),
        amount=schemas.MoneyPublic.of(refund.amount),
        status=refund.status.value,
        created_at=refund.created_at,
    )


@router.post(
    "/payments", status_code=201, response_model=schemas.PaymentPublic, responses=_PROBLEMS
)
async def create_payment(
    request: Request,
    principal: Annotated[Principal, Depends(require_permission(Permission.PAYMENTS_CREATE))],
    key: IdempotencyKey,
    body: schemas.PaymentCreate,
    service: Service,
) -> Response:
    """Charge a card (authorize and capture); a decline is a 201 with status ``declined``."""
    command = cmds.CreatePayment(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        amount=body.amount.money(),
        card_token=body.card_token,
        description=body.description,
    )

    def render(payment: Payment) -> StoredResponse:
        public = _payment_public(payment).model_dump(mode="json")
        return json_outcome(201, public, {"location": f"/api/v1/payments/{payment.id}"})

    with payments_errors():
        return await run_idempotent(
            request,
            key=key,
            scope=key_scope(principal.tenant_id, principal.user_id),
            payload=body.model_dump(mode="json"),
            claims=service,
            operation=lambda ticket: service.create_payment(command, ticket, render),
            fail_fast=service.fail_fast,
        )


@router.get(
    "/payments/{payment_id}", response_model=schemas.PaymentDetailsPublic, responses=_READ_PROBLEMS
)
async def get_payment(
    payment_id: str,
    principal: Annotated[Principal, Depends(require_permission(Permission.PAYMENTS_READ))],
    service: Service,
) -> Response:
    """A payment with its refunds: its customer's, or any of the tenant's for merchants."""
    viewer = cmds.Viewer(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        # Who may refund the tenant's payments must be able to see them.
        whole_tenant=principal.can(Permission.PAYMENTS_REFUND),
    )
    with payments_errors():
        details: PaymentDetails = await service.get_payment(viewer, _payment_id(payment_id))
    public = schemas.PaymentDetailsPublic(
        **_payment_public(details.payment).model_dump(),
        refunds=[_refund_public(refund) for refund in details.refunds],
    )
    return ORJSONResponse(public.model_dump(mode="json"))


@router.post(
    "/payments/{payment_id}/refunds",
    status_code=201,
    response_model=schemas.RefundPublic,
    responses=_PROBLEMS,
)
async def refund_payment(
    request: Request,
    payment_id: str,
    principal: Annotated[Principal, Depends(require_permission(Permission.PAYMENTS_REFUND))],
    key: IdempotencyKey,
    service: Service,
    body: Annotated[schemas.RefundCreate | None, Body()] = None,
) -> Response:
    """Refund part or all of what is left; never more than was captured (409)."""
    refund_body = body or schemas.RefundCreate()
    command = cmds.RefundPayment(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        payment_id=_payment_id(payment_id),
        amount=refund_body.amount.money() if refund_body.amount is not None else None,
    )

    def render(outcome: RefundOutcome) -> StoredResponse:
        if isinstance(outcome, Refund):
            return json_outcome(201, _refund_public(outcome).model_dump(mode="json"))
        return problem_outcome(payments_problem(outcome), request.url.path)

    with payments_errors():
        return await run_idempotent(
            request,
            key=key,
            scope=key_scope(principal.tenant_id, principal.user_id),
            payload=refund_body.model_dump(mode="json"),
            claims=service,
            operation=lambda ticket: service.refund_payment(command, ticket, render),
        )
