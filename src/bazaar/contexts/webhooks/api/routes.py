"""Webhook endpoint routes (api.md "Webhooks out"); HTTP only, no SQL, no rules.

Every route needs ``webhooks:manage`` (merchants and admins of the tenant; customers get
403) and sees only the caller's tenant: another tenant's endpoint answers 404. Lists page
newest first with ``?limit=&cursor=`` → ``{"items": [...], "next_cursor": "…" | null}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from bazaar.api.problems import ProblemError
from bazaar.api.responses import ORJSONResponse
from bazaar.api.security import require_permission
from bazaar.contexts.identity import Permission, Principal
from bazaar.contexts.webhooks.api import schemas
from bazaar.contexts.webhooks.api.problems import webhooks_errors
from bazaar.contexts.webhooks.application.service import WebhookService
from bazaar.contexts.webhooks.domain.commands import RegisterEndpoint, ReplayDelivery
from bazaar.kernel.ids import MAX_SNOWFLAKE_ID

__all__ = ["router", "webhook_service"]

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": "problem+json"} for status in (401, 403, 404, 409, 422)
}

Cursor = Annotated[
    str | None,
    Query(pattern=r"^\d{1,19}$", description="next_cursor of the previous page"),
]


async def webhook_service(request: Request) -> WebhookService:
    service: WebhookService = request.app.state.container.webhooks
    return service


Service = Annotated[WebhookService, Depends(webhook_service)]
Manager = Annotated[Principal, Depends(require_permission(Permission.WEBHOOKS_MANAGE))]


def _id(raw: str) -> int:
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_SNOWFLAKE_ID:
        return int(raw)
    raise ProblemError(404, "not-found", "No such resource.")


def _next_cursor(ids: list[int], limit: int) -> str | None:
    return str(ids[-1]) if len(ids) == limit else None


@router.post(
    "/webhook-endpoints",
    status_code=201,
    response_model=schemas.EndpointCreated,
    responses=_PROBLEMS,
)
async def register_endpoint(
    body: schemas.EndpointCreate, principal: Manager, service: Service
) -> Response:
    """Subscribe a URL to event types; the answer carries the signing secret, once."""
    command = RegisterEndpoint(
        tenant_id=principal.tenant_id, url=body.url, event_types=tuple(body.events)
    )
    with webhooks_errors():
        endpoint = await service.register_endpoint(command)
    public = schemas.EndpointCreated(
        **schemas.EndpointPublic.of(endpoint).model_dump(), secret=endpoint.secret
    )
    return ORJSONResponse(
        public.model_dump(mode="json"),
        status_code=201,
        headers={"location": f"/api/v1/webhook-endpoints/{endpoint.id}"},
    )


@router.get("/webhook-endpoints", response_model=schemas.EndpointPage, responses=_PROBLEMS)
async def list_endpoints(
    principal: Manager,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Cursor = None,
) -> Response:
    """The tenant's endpoints, newest first (never their secrets)."""
    endpoints = await service.list_endpoints(
        principal.tenant_id, limit=limit, before_id=None if cursor is None else int(cursor)
    )
    page = schemas.EndpointPage(
        items=[schemas.EndpointPublic.of(e) for e in endpoints],
        next_cursor=_next_cursor([e.id for e in endpoints], limit),
    )
    return ORJSONResponse(page.model_dump(mode="json"))


@router.get(
    "/webhook-endpoints/{endpoint_id}", response_model=schemas.EndpointPublic, responses=_PROBLEMS
)
async def get_endpoint(endpoint_id: str, principal: Manager, service: Service) -> Response:
    """One endpoint, with why it was disabled if it was."""
    with webhooks_errors():
        endpoint = await service.get_endpoint(principal.tenant_id, _id(endpoint_id))
    return ORJSONResponse(schemas.EndpointPublic.of(endpoint).model_dump(mode="json"))


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, responses=_PROBLEMS)
async def delete_endpoint(endpoint_id: str, principal: Manager, service: Service) -> Response:
    """Delete the endpoint and its deliveries; nothing more is sent to it."""
    with webhooks_errors():
        await service.delete_endpoint(principal.tenant_id, _id(endpoint_id))
    return Response(status_code=204)


@router.post(
    "/webhook-endpoints/{endpoint_id}/enable",
    response_model=schemas.EndpointPublic,
    responses=_PROBLEMS,
)
async def enable_endpoint(endpoint_id: str, principal: Manager, service: Service) -> Response:
    """Re-enable a disabled endpoint; the deliveries that waited are attempted at once."""
    with webhooks_errors():
        endpoint = await service.enable_endpoint(principal.tenant_id, _id(endpoint_id))
    return ORJSONResponse(schemas.EndpointPublic.of(endpoint).model_dump(mode="json"))


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    response_model=schemas.DeliveryPage,
    responses=_PROBLEMS,
)
async def list_deliveries(
    endpoint_id: str,
    principal: Manager,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
) -> Response:
    """The endpoint's deliveries, newest first: status, attempts, status codes, next retry."""
    with webhooks_errors():
        deliveries = await service.list_deliveries(
            principal.tenant_id,
            _id(endpoint_id),
            limit=limit,
            before_id=None if cursor is None else int(cursor),
        )
    page = schemas.DeliveryPage(
        items=[schemas.DeliveryPublic.of(d) for d in deliveries],
        next_cursor=_next_cursor([d.id for d in deliveries], limit),
    )
    return ORJSONResponse(page.model_dump(mode="json"))


@router.post(
    "/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=schemas.DeliveryPublic,
    responses=_PROBLEMS,
)
async def replay_delivery(
    endpoint_id: str, delivery_id: str, principal: Manager, service: Service
) -> Response:
    """Attempt a failed or abandoned delivery again, at once (202: the dispatcher sends it)."""
    command = ReplayDelivery(
        tenant_id=principal.tenant_id, endpoint_id=_id(endpoint_id), delivery_id=_id(delivery_id)
    )
    with webhooks_errors():
        delivery = await service.replay_delivery(command)
    return ORJSONResponse(schemas.DeliveryPublic.of(delivery).model_dump(mode="json"), 202)
