"""Authentication and authorization dependencies for every route (capabilities §2.2–2.4).

``optional_principal`` reads ``Authorization: Bearer`` or ``X-API-Key`` and asks the identity
facade who the caller is; ``current_principal`` insists on one; ``require_permission(P)``
also checks RBAC. Missing or invalid credentials answer 401 with ``WWW-Authenticate``;
a known caller without the permission answers 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from bazaar.api.problems import ProblemError
from bazaar.contexts.identity import (
    AuthenticationError,
    IdentityService,
    Permission,
    Principal,
    TokenInvalidError,
)

__all__ = [
    "BEARER_CHALLENGE",
    "current_principal",
    "forbidden",
    "identity_service",
    "optional_principal",
    "require_permission",
    "unauthenticated",
]

BEARER_CHALLENGE = 'Bearer realm="bazaar"'
_INVALID_TOKEN_CHALLENGE = 'Bearer realm="bazaar", error="invalid_token"'

# auto_error=False: these only read the headers (and document the schemes in OpenAPI);
# the answers to missing or bad credentials are ours, as problem+json.
_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="JWT")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="api_key")


def unauthenticated(detail: str, *, invalid_token: bool = False) -> ProblemError:
    """A 401 problem with the Bearer challenge RFC 9110 §11.6.1 requires on every 401."""
    challenge = _INVALID_TOKEN_CHALLENGE if invalid_token else BEARER_CHALLENGE
    return ProblemError(401, "unauthenticated", detail, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "forbidden", detail)


async def identity_service(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.container.identity
    return service


def _authentication_problem(exc: AuthenticationError) -> ProblemError:
    if isinstance(exc, TokenInvalidError):
        detail = (
            "The access token has expired."
            if exc.reason == "expired"
            else "The access token is not valid."
        )
        return unauthenticated(detail, invalid_token=True)
    return unauthenticated("The API key is not valid.")


async def optional_principal(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
    api_key: str | None = Depends(_api_key),
    service: IdentityService = Depends(identity_service),
) -> Principal | None:
    """The caller, or None when no credentials were sent at all.

    Credentials that were sent but are wrong never fall back to anonymous: a request with a
    bad token is refused even on routes that anonymous callers may use.
    """
    try:
        if bearer is not None:
            principal = await service.authenticate_bearer(bearer.credentials)
        elif request.headers.get("authorization") is not None:
            raise unauthenticated("Send the access token as 'Authorization: Bearer <token>'.")
        elif api_key is not None:
            principal = await service.authenticate_api_key(api_key)
        else:
            return None
    except AuthenticationError as exc:
        raise _authentication_problem(exc) from exc
    request.state.principal = principal
    return principal


async def current_principal(
    principal: Principal | None = Depends(optional_principal),
) -> Principal:
    if principal is None:
        raise unauthenticated("Authentication required: send a bearer token or an API key.")
    return principal


def require_permission(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency that answers 401 without credentials and 403 without ``permission``."""

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.can(permission):
            raise forbidden(f"This needs the {permission.value!r} permission.")
        return principal

    dependency.__name__ = f"require_{permission.name.lower()}"
    return dependency
