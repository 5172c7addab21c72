"""Identity and access (capabilities §2.1–2.5): the context's public facade and event types.

Other contexts and the API use identity only through these names: ``IdentityService`` for
every operation, ``Principal``/``Role``/``Permission`` for access checks, the events, and the
errors that the service raises.
"""

from __future__ import annotations

from bazaar.contexts.identity.application.service import IdentityService
from bazaar.contexts.identity.application.views import (
    IssuedApiKey,
    TenantPlanView,
    TenantView,
    UserView,
)
from bazaar.contexts.identity.domain.access import (
    ROLE_PERMISSIONS,
    AuthMethod,
    Permission,
    Principal,
    Role,
    TenantCreationPolicy,
)
from bazaar.contexts.identity.domain.errors import (
    ApiKeyInvalidError,
    ApiKeyNotFoundError,
    AuthenticationError,
    AuthorizationError,
    EmailTakenError,
    IdentityError,
    InvalidCredentialsError,
    InvalidEmailError,
    InvalidInputError,
    InvalidNameError,
    InvalidPlanError,
    InvalidScopeError,
    OperatorKeyInvalidError,
    PasswordPolicyError,
    PermissionDeniedError,
    RefreshTokenInvalidError,
    RefreshTokenReusedError,
    ScopeNotGrantedError,
    TenantCreationDisabledError,
    TenantNotFoundError,
    TokenInvalidError,
    TokenRevokedError,
    UserNotFoundError,
)
from bazaar.contexts.identity.domain.events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    IdentityEvent,
    RefreshTokenReuseDetected,
    TenantCreated,
    TenantPlanChanged,
    UserLoggedIn,
    UserLoggedOut,
    UserRegistered,
)
from bazaar.contexts.identity.domain.model import TokenPair

__all__ = [
    "ROLE_PERMISSIONS",
    "ApiKeyCreated",
    "ApiKeyInvalidError",
    "ApiKeyNotFoundError",
    "ApiKeyRevoked",
    "AuthMethod",
    "AuthenticationError",
    "AuthorizationError",
    "EmailTakenError",
    "IdentityError",
    "IdentityEvent",
    "IdentityService",
    "InvalidCredentialsError",
    "InvalidEmailError",
    "InvalidInputError",
    "InvalidNameError",
    "InvalidPlanError",
    "InvalidScopeError",
    "IssuedApiKey",
    "OperatorKeyInvalidError",
    "PasswordPolicyError",
    "Permission",
    "PermissionDeniedError",
    "Principal",
    "RefreshTokenInvalidError",
    "RefreshTokenReuseDetected",
    "RefreshTokenReusedError",
    "Role",
    "ScopeNotGrantedError",
    "TenantCreated",
    "TenantCreationDisabledError",
    "TenantCreationPolicy",
    "TenantNotFoundError",
    "TenantPlanChanged",
    "TenantPlanView",
    "TenantView",
    "TokenInvalidError",
    "TokenPair",
    "TokenRevokedError",
    "UserLoggedIn",
    "UserLoggedOut",
    "UserNotFoundError",
    "UserRegistered",
    "UserView",
]
