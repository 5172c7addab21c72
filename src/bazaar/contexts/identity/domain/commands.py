"""Commands of the identity context: what a caller asks it to do (imperative, frozen)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import ClassVar

from bazaar.contexts.identity.domain.access import Principal, Role

__all__ = [
    "ChangeTenantPlan",
    "Command",
    "CreateApiKey",
    "CreateTenant",
    "Login",
    "Logout",
    "RegisterUser",
    "RevokeApiKey",
    "RotateRefreshToken",
]


def _command_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """Base of every command; ``id`` correlates one request across logs. Secrets never repr."""

    type: ClassVar[str]
    version: ClassVar[int] = 1
    id: str = field(default_factory=_command_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTenant(Command):
    type: ClassVar[str] = "identity.create_tenant"
    name: str
    admin_email: str
    admin_password: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeTenantPlan(Command):
    type: ClassVar[str] = "identity.change_tenant_plan"
    tenant_id: int
    plan: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterUser(Command):
    type: ClassVar[str] = "identity.register_user"
    tenant_id: int
    email: str
    password: str = field(repr=False)
    role: Role = Role.CUSTOMER
    actor: Principal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Login(Command):
    type: ClassVar[str] = "identity.login"
    tenant_id: int
    email: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RotateRefreshToken(Command):
    type: ClassVar[str] = "identity.rotate_refresh_token"
    refresh_token: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Logout(Command):
    type: ClassVar[str] = "identity.logout"
    principal: Principal
    refresh_token: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateApiKey(Command):
    type: ClassVar[str] = "identity.create_api_key"
    principal: Principal
    name: str
    scopes: Collection[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeApiKey(Command):
    type: ClassVar[str] = "identity.revoke_api_key"
    principal: Principal
    api_key_id: int
