"""The identity application layer: handlers, queries, ports and the facade service."""

from __future__ import annotations

from bazaar.contexts.identity.application.handlers import IdentityDependencies
from bazaar.contexts.identity.application.ports import (
    AccessClaims,
    EventListener,
    IdGenerator,
    IssuedAccessToken,
    PasswordHasher,
    TokenCodec,
)
from bazaar.contexts.identity.application.queries import (
    ApiKeyRecord,
    BearerSubject,
    IdentityReadModel,
    LoginCandidate,
)
from bazaar.contexts.identity.application.service import HANDLERS, IdentityService
from bazaar.contexts.identity.application.unit_of_work import IdentityUnitOfWork
from bazaar.contexts.identity.application.views import IssuedApiKey, TenantView, UserView

__all__ = [
    "HANDLERS",
    "AccessClaims",
    "ApiKeyRecord",
    "BearerSubject",
    "EventListener",
    "IdGenerator",
    "IdentityDependencies",
    "IdentityReadModel",
    "IdentityService",
    "IdentityUnitOfWork",
    "IssuedAccessToken",
    "IssuedApiKey",
    "LoginCandidate",
    "PasswordHasher",
    "TenantView",
    "TokenCodec",
    "UserView",
]
