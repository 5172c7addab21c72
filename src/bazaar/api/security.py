"""Authentication and authorization dependencies for every route (capabilities §2.2–2.4).

``optional_principal`` reads ``Authorization: Bearer`` or ``X-API-Key`` and asks the identity
facade who the caller is; ``current_principal`` insists on one; ``require_permission(P)``
also checks RBAC. Missing or invalid credentials answer 401 with ``WWW-Authenticate``;
a known caller without the permission answers 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from bazaar.api.client_ip import ClientIpResolver
from bazaar.api.problems import ProblemError
from bazaar.api.ratelimits import Caller
from bazaar.contexts.identity import (
    AuthenticationError,
    IdentityService,
    Permission,
    Principal,
    TokenInvalidError,
)
from bazaar.kernel.observability.context import tenant_id_var

__all__ = [
    "BEARER_CHALLENGE",
    "CallerIdentifier",
    "current_principal",
    "forbidden",
    "identity_service",
    "optional_principal",
    "require_permission",
    "unauthenticated",
]

BEARER_CHALLENGE = 'Bearer realm="bazaar"'
_INVALID_TOKEN_CHALLENGE = 'Bearer realm="bazaar", error="invalid_token"'
# Where the rate-limit middleware leaves the outcome of authenticating a request, so the
# route's dependency does not read the database a second time.
_AUTHENTICATED = "bazaar.authenticated"
_BEARER_PREFIX = "bearer "

# auto_error=False: these only read the headers (and document the schemes in OpenAPI);
# the answers to missing or bad credentials are ours, as problem+json.
_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="JWT")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="api_key")


def _authenticated(principal: Principal) -> Principal:
    """Name the caller's tenant on the request's logs and, as the telemetry middleware
    reads it back when the request ends, on its server span."""
    tenant_id_var.set(principal.tenant_id)
    return principal


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
    settled = request.scope.get("state", {}).get(_AUTHENTICATED)
    if settled is not None:
        if isinstance(settled, AuthenticationError):
            raise _authentication_problem(settled) from settled
        principal_: Principal = settled
        request.state.principal = principal_
        return principal_
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
    request.state.principal = _authenticated(principal)
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


class CallerIdentifier:
    """Names who a request is rate-limited as, authenticating it once.

    An authenticated caller is ``user:<tenant>:<user>`` (its API keys count with it, so
    minting keys buys no extra quota); anyone else, including a caller whose credentials
    fail, is ``ip:<client address>`` — unverified credentials must not buy a fresh bucket.
    The outcome is left in the request's state for ``optional_principal``.
    """

    def __init__(
        self, identity: Callable[[], IdentityService], client_ip: ClientIpResolver
    ) -> None:
        """Build the identifier.

        Args:
            identity: returns the identity facade (read per request: tests swap it).
            client_ip: finds the address of anonymous callers.
        """
        self.identity = identity
        self.client_ip = client_ip

    async def __call__(self, scope: Any) -> Caller:
        principal = await self._authenticate(scope)
        if principal is not None:
            return Caller(
                f"user:{principal.tenant_id}:{principal.user_id}",
                tenant_id=principal.tenant_id,
                plan=principal.plan,
            )
        return Caller(f"ip:{self.client_ip.resolve(scope)}")

    async def _authenticate(self, scope: Any) -> Principal | None:
        authorization: bytes | None = None
        api_key: bytes | None = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value
            elif key == b"x-api-key":
                api_key = value
        try:
            if authorization is not None:
                text = authorization.decode("latin-1")
                if not text.lower().startswith(_BEARER_PREFIX):
                    return None  # the route's dependency explains the 401
                token = text[len(_BEARER_PREFIX) :].strip()
                if not token:
                    return None
                principal = await self.identity().authenticate_bearer(token)
            elif api_key is not None:
                principal = await self.identity().authenticate_api_key(api_key.decode("latin-1"))
            else:
                return None
        except AuthenticationError as exc:
            scope.setdefault("state", {})[_AUTHENTICATED] = exc
            return None
        except Exception:
            # The store failed (pool exhausted, database down): count the request by IP and
            # let the route's own dependency meet the error and map it (503, not 500).
            return None
        scope.setdefault("state", {})[_AUTHENTICATED] = _authenticated(principal)
        return principal
