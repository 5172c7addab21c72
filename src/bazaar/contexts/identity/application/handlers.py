"""Command handlers for tenants, users and API keys: async functions (command, uow, deps).

Password hashing runs before the transaction opens: an argon2 hash takes tens of
milliseconds, and holding a write transaction (on SQLite, the database's single write lock)
across it would serialize every writer behind it. Session handlers live in ``sessions.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bazaar.contexts.identity.application.ports import IdGenerator, PasswordHasher, TokenCodec
from bazaar.contexts.identity.application.queries import IdentityReadModel
from bazaar.contexts.identity.application.unit_of_work import IdentityUnitOfWork
from bazaar.contexts.identity.application.views import (
    IssuedApiKey,
    TenantPlanView,
    TenantView,
    UserView,
)
from bazaar.contexts.identity.domain import commands as cmds
from bazaar.contexts.identity.domain import events
from bazaar.contexts.identity.domain.access import Permission, Role, authorize_role_grant
from bazaar.contexts.identity.domain.credentials import (
    check_name,
    check_password_policy,
    check_plan,
    hash_secret,
    new_api_key,
    normalize_email,
)
from bazaar.contexts.identity.domain.errors import (
    ApiKeyNotFoundError,
    InvalidScopeError,
    ScopeNotGrantedError,
    TenantNotFoundError,
)
from bazaar.contexts.identity.domain.model import ApiKey, Tenant, User
from bazaar.kernel.clock import Clock

__all__ = [
    "IdentityDependencies",
    "change_tenant_plan",
    "create_api_key",
    "create_tenant",
    "register_user",
    "revoke_api_key",
]


@dataclass(frozen=True, slots=True)
class IdentityDependencies:
    """What handlers use besides the unit of work."""

    ids: IdGenerator
    clock: Clock
    passwords: PasswordHasher
    tokens: TokenCodec
    reads: IdentityReadModel
    refresh_token_ttl_s: int

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), tz=UTC)


async def create_tenant(
    cmd: cmds.CreateTenant, uow: IdentityUnitOfWork, deps: IdentityDependencies
) -> TenantView:
    """A tenant and its first admin, in one transaction."""
    name = check_name("name", cmd.name)
    email = normalize_email(cmd.admin_email)
    check_password_policy(cmd.admin_password)
    password_hash = await deps.passwords.hash(cmd.admin_password)
    now = deps.now()
    tenant = Tenant(id=deps.ids.next_id(), name=name, created_at=now)
    admin = User(
        id=deps.ids.next_id(),
        tenant_id=tenant.id,
        email=email,
        password_hash=password_hash,
        role=Role.ADMIN,
        created_at=now,
    )
    async with uow:
        await uow.tenants.add(tenant)
        await uow.users.add(admin)
        uow.events.append(
            events.TenantCreated(
                id=deps.ids.next_id(),
                occurred_at=now,
                tenant_id=tenant.id,
                name=name,
                admin_user_id=admin.id,
            )
        )
        await uow.commit()
    return TenantView(id=tenant.id, name=name, admin_user_id=admin.id)


async def change_tenant_plan(
    cmd: cmds.ChangeTenantPlan, uow: IdentityUnitOfWork, deps: IdentityDependencies
) -> TenantPlanView:
    """Put a tenant on a rate-limit plan (None: off every plan). The caller checked the
    operator's right to do so.

    Raises:
        InvalidPlanError: the plan name is malformed.
        TenantNotFoundError: no such tenant.
    """
    plan = check_plan(cmd.plan)
    async with uow:
        tenant = await uow.tenants.set_plan(cmd.tenant_id, plan)
        if tenant is None:
            raise TenantNotFoundError(cmd.tenant_id)
        uow.events.append(
            events.TenantPlanChanged(
                id=deps.ids.next_id(), occurred_at=deps.now(), tenant_id=tenant.id, plan=plan
            )
        )
        await uow.commit()
    return TenantPlanView(id=tenant.id, name=tenant.name, plan=plan)


async def register_user(
    cmd: cmds.RegisterUser, uow: IdentityUnitOfWork, deps: IdentityDependencies
) -> UserView:
    authorize_role_grant(cmd.actor, cmd.tenant_id, cmd.role)
    email = normalize_email(cmd.email)
    check_password_policy(cmd.password)
    password_hash = await deps.passwords.hash(cmd.password)
    now = deps.now()
    user = User(
        id=deps.ids.next_id(),
        tenant_id=cmd.tenant_id,
        email=email,
        password_hash=password_hash,
        role=cmd.role,
        created_at=now,
    )
    async with uow:
        if not await uow.tenants.exists(cmd.tenant_id):
            raise TenantNotFoundError(cmd.tenant_id)
        await uow.users.add(user)
        uow.events.append(
            events.UserRegistered(
                id=deps.ids.next_id(),
                occurred_at=now,
                tenant_id=cmd.tenant_id,
                user_id=user.id,
                role=user.role.value,
            )
        )
        await uow.commit()
    return UserView(id=user.id, tenant_id=user.tenant_id, email=email, role=user.role)


async def create_api_key(
    cmd: cmds.CreateApiKey, uow: IdentityUnitOfWork, deps: IdentityDependencies
) -> IssuedApiKey:
    """Raises:
    PermissionDeniedError: the caller may not manage API keys.
    InvalidScopeError: a scope names no permission.
    ScopeNotGrantedError: a scope exceeds the caller's own permissions.
    """
    principal = cmd.principal
    principal.require(Permission.API_KEYS_MANAGE)
    name = check_name("name", cmd.name)
    scopes: set[Permission] = set()
    for raw in cmd.scopes:
        try:
            scope = Permission(raw)
        except ValueError as exc:
            raise InvalidScopeError(str(raw)) from exc
        if not principal.can(scope):
            raise ScopeNotGrantedError(scope.value)
        scopes.add(scope)
    now = deps.now()
    made = new_api_key()
    key = ApiKey(
        id=deps.ids.next_id(),
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        name=name,
        prefix=made.prefix,
        key_hash=hash_secret(made.key),
        scopes=frozenset(scopes),
        created_at=now,
    )
    async with uow:
        await uow.api_keys.add(key)
        uow.events.append(
            events.ApiKeyCreated(
                id=deps.ids.next_id(),
                occurred_at=now,
                tenant_id=key.tenant_id,
                api_key_id=key.id,
                user_id=key.user_id,
                prefix=key.prefix,
            )
        )
        await uow.commit()
    return IssuedApiKey(
        id=key.id,
        tenant_id=key.tenant_id,
        name=name,
        prefix=key.prefix,
        scopes=tuple(sorted(scopes)),
        created_at=now,
        key=made.key,
    )


async def revoke_api_key(
    cmd: cmds.RevokeApiKey, uow: IdentityUnitOfWork, deps: IdentityDependencies
) -> None:
    """The owner or a tenant admin revokes a key; anything else is "not found".

    Raises:
        ApiKeyNotFoundError: no active key with this id that the caller may revoke.
    """
    principal = cmd.principal
    principal.require(Permission.API_KEYS_MANAGE)
    owner_id = None if principal.can(Permission.TENANT_ADMIN) else principal.user_id
    now = deps.now()
    async with uow:
        revoked = await uow.api_keys.revoke(
            principal.tenant_id, cmd.api_key_id, now, owner_id=owner_id
        )
        if not revoked:
            raise ApiKeyNotFoundError(cmd.api_key_id)
        uow.events.append(
            events.ApiKeyRevoked(
                id=deps.ids.next_id(),
                occurred_at=now,
                tenant_id=principal.tenant_id,
                api_key_id=cmd.api_key_id,
                revoked_by=principal.user_id,
            )
        )
        await uow.commit()
