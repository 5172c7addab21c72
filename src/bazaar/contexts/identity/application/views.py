"""What the identity facade returns: plain frozen records, no entities, no hashes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bazaar.contexts.identity.domain.access import Permission, Role

__all__ = ["IssuedApiKey", "TenantPlanView", "TenantView", "UserView"]


@dataclass(frozen=True, slots=True)
class TenantView:
    id: int
    name: str
    admin_user_id: int


@dataclass(frozen=True, slots=True)
class TenantPlanView:
    id: int
    name: str
    plan: str | None


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    tenant_id: int
    email: str
    role: Role


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new API key; ``key`` exists only in this object, the store keeps its hash."""

    id: int
    tenant_id: int
    name: str
    prefix: str
    scopes: tuple[Permission, ...]
    created_at: datetime
    key: str = field(repr=False)
