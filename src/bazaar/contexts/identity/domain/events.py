"""Events of the identity context: what happened (past tense, frozen, versioned, no secrets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.domain import DomainEvent

__all__ = [
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "IdentityEvent",
    "RefreshTokenReuseDetected",
    "TenantCreated",
    "TenantPlanChanged",
    "UserLoggedIn",
    "UserLoggedOut",
    "UserRegistered",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityEvent(DomainEvent):
    """Base of every identity event. Events carry ids only, never credentials."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantCreated(IdentityEvent):
    type: ClassVar[str] = "identity.tenant_created"
    name: str
    admin_user_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantPlanChanged(IdentityEvent):
    type: ClassVar[str] = "identity.tenant_plan_changed"
    plan: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRegistered(IdentityEvent):
    type: ClassVar[str] = "identity.user_registered"
    user_id: int
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserLoggedIn(IdentityEvent):
    type: ClassVar[str] = "identity.user_logged_in"
    user_id: int
    family_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshTokenReuseDetected(IdentityEvent):
    """A rotated or revoked refresh token came back; the family is revoked (a security alert)."""

    type: ClassVar[str] = "identity.refresh_token_reuse_detected"
    user_id: int
    family_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UserLoggedOut(IdentityEvent):
    type: ClassVar[str] = "identity.user_logged_out"
    user_id: int
    family_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyCreated(IdentityEvent):
    type: ClassVar[str] = "identity.api_key_created"
    api_key_id: int
    user_id: int
    prefix: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyRevoked(IdentityEvent):
    type: ClassVar[str] = "identity.api_key_revoked"
    api_key_id: int
    revoked_by: int
