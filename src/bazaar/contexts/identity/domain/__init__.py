"""The identity domain: entities, access rules, commands, events, errors (no I/O)."""

from __future__ import annotations

from bazaar.contexts.identity.domain.access import (
    PRIVILEGED_ROLES,
    ROLE_PERMISSIONS,
    AuthMethod,
    Permission,
    Principal,
    Role,
    TenantCreationPolicy,
    authorize_role_grant,
)
from bazaar.contexts.identity.domain.model import (
    ApiKey,
    RefreshToken,
    RefreshTokenState,
    Tenant,
    TokenPair,
    User,
)

__all__ = [
    "PRIVILEGED_ROLES",
    "ROLE_PERMISSIONS",
    "ApiKey",
    "AuthMethod",
    "Permission",
    "Principal",
    "RefreshToken",
    "RefreshTokenState",
    "Role",
    "Tenant",
    "TenantCreationPolicy",
    "TokenPair",
    "User",
    "authorize_role_grant",
]
