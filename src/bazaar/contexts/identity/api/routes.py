"""Identity routes (api.md "Identity") and the JWKS document; HTTP only, no SQL, no rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response

from bazaar.api.client_ip import ClientIpResolver
from bazaar.api.login_throttle import LoginThrottle
from bazaar.api.problems import ProblemError
from bazaar.api.responses import ORJSONResponse
from bazaar.api.security import (
    current_principal,
    identity_service,
    optional_principal,
    require_permission,
    unauthenticated,
)
from bazaar.contexts.identity.api import schemas
from bazaar.contexts.identity.api.problems import identity_errors, identity_problem
from bazaar.contexts.identity.application.service import IdentityService
from bazaar.contexts.identity.application.views import UserView
from bazaar.contexts.identity.domain.access import Permission, Principal, Role
from bazaar.contexts.identity.domain.errors import IdentityError, TenantNotFoundError
from bazaar.contexts.identity.domain.model import TokenPair
from bazaar.kernel.ids import MAX_SNOWFLAKE_ID

__all__ = ["router", "well_known_router"]

router = APIRouter(prefix="/api/v1", tags=["identity"])
well_known_router = APIRouter(tags=["identity"])

Service = Annotated[IdentityService, Depends(identity_service)]
# Token and key answers must never be cached by anyone (RFC 6749 §5.1).
_NO_STORE = {"cache-control": "no-store"}
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": "problem+json"} for status in (401, 403, 404, 409, 422)
}


def _parse_id(raw: str) -> int | None:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if value <= MAX_SNOWFLAKE_ID else None


def _tenant_id(raw: str) -> int:
    # Well-formed but out of range: no tenant can have it; answer as for an unknown tenant.
    return _parse_id(raw) or 0


def _user(user: UserView) -> dict[str, Any]:
    return schemas.UserPublic(
        id=str(user.id), email=user.email, role=user.role, tenant_id=str(user.tenant_id)
    ).model_dump(mode="json")


def _pair(pair: TokenPair) -> ORJSONResponse:
    body = schemas.TokenPairPublic(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )
    return ORJSONResponse(body.model_dump(mode="json"), headers=_NO_STORE)


@router.post("/tenants", status_code=201, response_model=schemas.TenantPublic, responses=_PROBLEMS)
async def create_tenant(
    body: schemas.TenantCreate,
    service: Service,
    operator_key: Annotated[str | None, Header(alias="X-Operator-Key")] = None,
) -> Response:
    """Create a tenant and its first admin (open in demo mode, else needs the operator key)."""
    with identity_errors(email="admin_email", password="admin_password"):
        tenant = await service.create_tenant(
            name=body.name,
            admin_email=body.admin_email,
            admin_password=body.admin_password,
            operator_key=operator_key,
        )
    public = schemas.TenantPublic(
        id=str(tenant.id), name=tenant.name, admin_user_id=str(tenant.admin_user_id)
    )
    return ORJSONResponse(public.model_dump(mode="json"), status_code=201)


@router.put(
    "/tenants/{tenant_id}/plan",
    response_model=schemas.TenantPlanPublic,
    responses={**_PROBLEMS, 404: {"description": "problem+json: no such tenant"}},
)
async def change_tenant_plan(
    tenant_id: str,
    body: schemas.TenantPlanUpdate,
    service: Service,
    operator_key: Annotated[str | None, Header(alias="X-Operator-Key")] = None,
) -> Response:
    """Put a tenant on a rate-limit plan (``plan_<plan>`` policy, shared by all its users).

    The platform operator's call, like creating a tenant: open in demo mode, else it needs
    the operator key.
    """
    try:
        tenant = await service.change_tenant_plan(
            tenant_id=_tenant_id(tenant_id), plan=body.plan, operator_key=operator_key
        )
    except TenantNotFoundError as exc:
        # The tenant is this route's resource: unknown is 404 (elsewhere it is a bad field).
        raise ProblemError(404, "not-found", "No such tenant.") from exc
    except IdentityError as exc:
        raise identity_problem(exc) from exc
    public = schemas.TenantPlanPublic(id=str(tenant.id), name=tenant.name, plan=tenant.plan)
    return ORJSONResponse(public.model_dump(mode="json"))


@router.post(
    "/auth/register", status_code=201, response_model=schemas.UserPublic, responses=_PROBLEMS
)
async def register(
    body: schemas.UserRegister,
    service: Service,
    actor: Annotated[Principal | None, Depends(optional_principal)],
) -> Response:
    """Register a user; creating a merchant or admin needs an admin of the same tenant."""
    if actor is None and body.role is not Role.CUSTOMER:
        # Anonymous callers may only register customers; authenticating could change that.
        raise unauthenticated("Only an authenticated admin may create merchants or admins.")
    with identity_errors():
        user = await service.register(
            tenant_id=_tenant_id(body.tenant_id),
            email=body.email,
            password=body.password,
            role=body.role,
            actor=actor,
        )
    return ORJSONResponse(_user(user), status_code=201)


@router.post(
    "/auth/login",
    response_model=schemas.TokenPairPublic,
    responses={**_PROBLEMS, 429: {"description": "problem+json: too many failed logins"}},
)
async def login(body: schemas.LoginRequest, service: Service, request: Request) -> Response:
    """Exchange credentials for an access and a refresh token; every failure is one 401.

    Failed attempts are throttled per account and per IP (429 with ``Retry-After``), and
    during a lockout the right password is refused too.
    """
    tenant_id = _tenant_id(body.tenant_id)
    throttle: LoginThrottle = request.app.state.login_throttle
    client_ip: ClientIpResolver = request.app.state.client_ip
    attempt = await throttle.admit(
        tenant_id=tenant_id, email=body.email, ip=client_ip.resolve(request.scope)
    )
    try:
        with identity_errors():
            pair = await service.login(
                tenant_id=tenant_id, email=body.email, password=body.password
            )
    except ProblemError:
        await attempt.failed()
        raise
    await attempt.succeeded()
    return _pair(pair)


@router.post("/auth/refresh", response_model=schemas.TokenPairPublic, responses=_PROBLEMS)
async def refresh(body: schemas.RefreshRequest, service: Service) -> Response:
    """Rotate a refresh token; presenting a used one revokes its whole family."""
    with identity_errors():
        pair = await service.refresh(body.refresh_token)
    return _pair(pair)


@router.post("/auth/logout", status_code=204, responses=_PROBLEMS)
async def logout(
    body: schemas.LogoutRequest,
    service: Service,
    principal: Annotated[Principal, Depends(current_principal)],
) -> Response:
    """Revoke the caller's refresh-token family and the access token used for this call."""
    with identity_errors():
        await service.logout(principal, body.refresh_token)
    return Response(status_code=204)


@router.get("/me", response_model=schemas.UserPublic, responses=_PROBLEMS)
async def me(
    service: Service, principal: Annotated[Principal, Depends(current_principal)]
) -> Response:
    """The authenticated caller."""
    return ORJSONResponse(_user(service.me(principal)), headers=_NO_STORE)


@router.post(
    "/api-keys", status_code=201, response_model=schemas.ApiKeyCreated, responses=_PROBLEMS
)
async def create_api_key(
    body: schemas.ApiKeyCreate,
    service: Service,
    principal: Annotated[Principal, Depends(require_permission(Permission.API_KEYS_MANAGE))],
) -> Response:
    """Create an API key for the caller; the key is in this answer and nowhere else."""
    with identity_errors():
        issued = await service.create_api_key(
            principal, name=body.name, scopes=[scope.value for scope in body.scopes]
        )
    public = schemas.ApiKeyCreated(
        id=str(issued.id),
        key=issued.key,
        prefix=issued.prefix,
        name=issued.name,
        scopes=list(issued.scopes),
        created_at=issued.created_at,
    )
    return ORJSONResponse(public.model_dump(mode="json"), status_code=201, headers=_NO_STORE)


@router.delete("/api-keys/{api_key_id}", status_code=204, responses=_PROBLEMS)
async def revoke_api_key(
    api_key_id: str,
    service: Service,
    principal: Annotated[Principal, Depends(require_permission(Permission.API_KEYS_MANAGE))],
) -> Response:
    """Revoke a key (its owner or a tenant admin); unknown, foreign or revoked → 404."""
    key_id = _parse_id(api_key_id)
    if key_id is None:
        raise ProblemError(404, "not-found", "No such resource.")
    with identity_errors():
        await service.revoke_api_key(principal, key_id)
    return Response(status_code=204)


@well_known_router.get("/.well-known/jwks.json", response_model=schemas.Jwks)
async def jwks(service: Service) -> Response:
    """The public keys that verify access tokens (empty when signed with a shared secret)."""
    return ORJSONResponse(service.jwks(), headers={"cache-control": "public, max-age=300"})
