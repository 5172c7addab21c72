"""Orders routes (api.md "Orders (checkout saga)"); HTTP only, no SQL, no rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from bazaar.api.idempotency import IdempotencyKey, json_outcome, key_scope, run_idempotent
from bazaar.api.money import MoneyPublic
from bazaar.api.problems import ProblemError
from bazaar.api.responses import ORJSONResponse
from bazaar.api.security import require_permission
from bazaar.contexts.identity import Permission, Principal
from bazaar.contexts.orders.api import schemas
from bazaar.contexts.orders.api.problems import orders_errors
from bazaar.contexts.orders.application.service import OrderDetails, OrderService
from bazaar.contexts.orders.domain import commands as cmds
from bazaar.kernel.idempotency import StoredResponse
from bazaar.kernel.ids import MAX_SNOWFLAKE_ID

__all__ = ["order_public", "router"]

router = APIRouter(prefix="/api/v1", tags=["orders"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": "problem+json"} for status in (400, 401, 403, 404, 409, 422, 503)
}


async def order_service(request: Request) -> OrderService:
    service: OrderService = request.app.state.container.orders
    return service


Service = Annotated[OrderService, Depends(order_service)]
Cursor = Annotated[
    str | None, Query(pattern=r"^\d{1,19}$", description="next_cursor of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=100)]


def _order_id(raw: str) -> int:
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_SNOWFLAKE_ID:
        return int(raw)
    raise ProblemError(404, "not-found", "No such resource.")


def _viewer(principal: Principal) -> cmds.Viewer:
    return cmds.Viewer(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        whole_tenant=principal.can(Permission.ORDERS_READ_ALL),
    )


def order_public(details: OrderDetails) -> schemas.OrderPublic:
    order, saga = details.order, details.saga
    return schemas.OrderPublic(
        id=str(order.id),
        status=order.status.value,
        items=[
            schemas.OrderLinePublic(
                product_id=str(line.product_id),
                quantity=line.quantity,
                unit_price=MoneyPublic.of(line.unit_price),
            )
            for line in order.lines
        ],
        total=MoneyPublic.of(order.total),
        shipping_address=dict(order.shipping_address),
        failure_reason=order.failure_reason,
        payment_id=None if order.payment_id is None else str(order.payment_id),
        shipment_id=None if order.shipment_id is None else str(order.shipment_id),
        created_at=order.created_at,
        updated_at=order.updated_at,
        saga=None if saga is None else schemas.SagaPublic.of(saga),
    )


@router.post("/orders", status_code=202, response_model=schemas.OrderPublic, responses=_PROBLEMS)
async def place_order(
    request: Request,
    principal: Annotated[Principal, Depends(require_permission(Permission.ORDERS_CREATE))],
    key: IdempotencyKey,
    body: schemas.OrderCreate,
    service: Service,
) -> Response:
    """Place an order: 202 at once; the checkout saga runs in the background.

    While the PSP's breaker is open: 503 + Retry-After at once, nothing stored.
    """
    address = body.shipping_address.model_dump(exclude_none=True)
    command = cmds.PlaceOrder(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        items=tuple(cmds.OrderItem(item.product(), item.quantity) for item in body.items),
        card_token=body.payment.card_token,
        shipping_address=address,
    )

    def render(details: OrderDetails) -> StoredResponse:
        public = order_public(details).model_dump(mode="json")
        return json_outcome(202, public, {"location": f"/api/v1/orders/{details.order.id}"})

    with orders_errors():
        return await run_idempotent(
            request,
            key=key,
            scope=key_scope(principal.tenant_id, principal.user_id),
            payload=body.model_dump(mode="json"),
            claims=service,
            operation=lambda ticket: service.place_order(command, ticket, render),
            fail_fast=service.fail_fast,
        )


@router.get("/orders/{order_id}", response_model=schemas.OrderPublic, responses=_PROBLEMS)
async def get_order(
    order_id: str,
    principal: Annotated[Principal, Depends(require_permission(Permission.ORDERS_READ_OWN))],
    service: Service,
) -> ORJSONResponse:
    """The order with its saga timeline (owner, or the tenant's merchants and admins)."""
    with orders_errors():
        details = await service.get_order(_viewer(principal), _order_id(order_id))
    return ORJSONResponse(order_public(details).model_dump(mode="json"))


@router.get("/orders", response_model=schemas.OrderPage, responses=_PROBLEMS)
async def list_orders(
    principal: Annotated[Principal, Depends(require_permission(Permission.ORDERS_READ_OWN))],
    service: Service,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> ORJSONResponse:
    """Own orders (customers) or the tenant's (merchants, admins), newest first."""
    found, next_after = await service.list_orders(
        _viewer(principal), before=None if cursor is None else int(cursor), limit=limit
    )
    page = schemas.OrderPage(
        items=[order_public(details) for details in found],
        next_cursor=None if next_after is None else str(next_after),
    )
    return ORJSONResponse(page.model_dump(mode="json"))


@router.post(
    "/orders/{order_id}/cancel",
    status_code=202,
    response_model=schemas.OrderPublic,
    responses=_PROBLEMS,
)
async def cancel_order(
    order_id: str,
    principal: Annotated[Principal, Depends(require_permission(Permission.ORDERS_CREATE))],
    service: Service,
) -> ORJSONResponse:
    """Cancel before shipment (the owner): 202; the saga's compensations run."""
    with orders_errors():
        details = await service.cancel_order(
            cmds.CancelOrder(viewer=_viewer(principal), order_id=_order_id(order_id))
        )
    return ORJSONResponse(order_public(details).model_dump(mode="json"), status_code=202)
