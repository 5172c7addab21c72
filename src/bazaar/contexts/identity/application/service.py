"""``IdentityService``: the identity context's facade, the only way other code uses it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from bazaar.contexts.identity.application import handlers, queries, sessions
from bazaar.contexts.identity.application.handlers import IdentityDependencies
from bazaar.contexts.identity.application.ports import (
    EventListener,
    IdGenerator,
    PasswordHasher,
    TokenCodec,
)
from bazaar.contexts.identity.application.queries import IdentityReadModel
from bazaar.contexts.identity.application.unit_of_work import IdentityUnitOfWork
from bazaar.contexts.identity.application.views import (
    IssuedApiKey,
    TenantPlanView,
    TenantView,
    UserView,
)
from bazaar.contexts.identity.domain import commands as cmds
from bazaar.contexts.identity.domain.access import Principal, Role, TenantCreationPolicy
from bazaar.contexts.identity.domain.model import TokenPair
from bazaar.kernel.clock import Clock

__all__ = ["HANDLERS", "Handler", "IdentityService"]

Handler = Callable[[Any, IdentityUnitOfWork, IdentityDependencies], Awaitable[object]]

# Every command and the one handler that carries it out.
HANDLERS: Mapping[type[cmds.Command], Handler] = {
    cmds.CreateTenant: handlers.create_tenant,
    cmds.ChangeTenantPlan: handlers.change_tenant_plan,
    cmds.RegisterUser: handlers.register_user,
    cmds.Login: sessions.login,
    cmds.RotateRefreshToken: sessions.rotate_refresh_token,
    cmds.Logout: sessions.logout,
    cmds.CreateApiKey: handlers.create_api_key,
    cmds.RevokeApiKey: handlers.revoke_api_key,
}

_C = TypeVar("_C", bound=cmds.Command)
_R = TypeVar("_R")


class IdentityService:
    """Facade pattern over the identity context: tenants, users, sessions, API keys, authN.

    Each write runs its handler in a fresh unit of work; events of a committed unit of work
    go to the listeners afterwards (a listener that raises does not undo the commit, and is
    not allowed to break the caller: it is the listener's job to be safe).
    """

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], IdentityUnitOfWork],
        reads: IdentityReadModel,
        passwords: PasswordHasher,
        tokens: TokenCodec,
        ids: IdGenerator,
        clock: Clock,
        refresh_token_ttl_s: int,
        tenant_creation: TenantCreationPolicy,
        listeners: Sequence[EventListener] = (),
    ) -> None:
        self._unit_of_work = unit_of_work
        self._reads = reads
        self._tokens = tokens
        self._tenant_creation = tenant_creation
        self._listeners = tuple(listeners)
        self._deps = IdentityDependencies(
            ids=ids,
            clock=clock,
            passwords=passwords,
            tokens=tokens,
            reads=reads,
            refresh_token_ttl_s=refresh_token_ttl_s,
        )

    async def _run(
        self,
        handler: Callable[[_C, IdentityUnitOfWork, IdentityDependencies], Awaitable[_R]],
        command: _C,
    ) -> _R:
        uow = self._unit_of_work()
        try:
            return await handler(command, uow, self._deps)
        finally:
            if uow.committed:
                for event in uow.events:
                    for listener in self._listeners:
                        listener(event)

    async def dispatch(self, command: cmds.Command) -> object:
        """Run any command through ``HANDLERS`` (for buses and the CLI)."""
        return await self._run(HANDLERS[type(command)], command)

    async def create_tenant(
        self, *, name: str, admin_email: str, admin_password: str, operator_key: str | None
    ) -> TenantView:
        """Raises: TenantCreationDisabledError, OperatorKeyInvalidError, InvalidInputError."""
        self._tenant_creation.check(operator_key)
        command = cmds.CreateTenant(
            name=name, admin_email=admin_email, admin_password=admin_password
        )
        return await self._run(handlers.create_tenant, command)

    async def change_tenant_plan(
        self, *, tenant_id: int, plan: str | None, operator_key: str | None
    ) -> TenantPlanView:
        """Put a tenant on a rate-limit plan; the same operator rights as creating one.

        Raises: TenantCreationDisabledError, OperatorKeyInvalidError, InvalidPlanError,
        TenantNotFoundError.
        """
        self._tenant_creation.check(operator_key)
        command = cmds.ChangeTenantPlan(tenant_id=tenant_id, plan=plan)
        return await self._run(handlers.change_tenant_plan, command)

    async def register(
        self,
        *,
        tenant_id: int,
        email: str,
        password: str,
        role: Role = Role.CUSTOMER,
        actor: Principal | None = None,
    ) -> UserView:
        """Register a user (a customer unless ``actor`` is an admin of ``tenant_id``).

        Raises:
            PermissionDeniedError, TenantNotFoundError, EmailTakenError, InvalidInputError.
        """
        command = cmds.RegisterUser(
            tenant_id=tenant_id, email=email, password=password, role=role, actor=actor
        )
        return await self._run(handlers.register_user, command)

    async def login(self, *, tenant_id: int, email: str, password: str) -> TokenPair:
        """Raises: InvalidCredentialsError (whatever was wrong)."""
        command = cmds.Login(tenant_id=tenant_id, email=email, password=password)
        return await self._run(sessions.login, command)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Raises: RefreshTokenInvalidError, RefreshTokenReusedError (family revoked)."""
        command = cmds.RotateRefreshToken(refresh_token=refresh_token)
        return await self._run(sessions.rotate_refresh_token, command)

    async def logout(self, principal: Principal, refresh_token: str) -> None:
        """Raises: TokenInvalidError when the principal did not come from a bearer token."""
        command = cmds.Logout(principal=principal, refresh_token=refresh_token)
        await self._run(sessions.logout, command)

    async def create_api_key(
        self, principal: Principal, *, name: str, scopes: Collection[str]
    ) -> IssuedApiKey:
        """Raises: PermissionDeniedError, InvalidScopeError, ScopeNotGrantedError."""
        command = cmds.CreateApiKey(principal=principal, name=name, scopes=scopes)
        return await self._run(handlers.create_api_key, command)

    async def revoke_api_key(self, principal: Principal, api_key_id: int) -> None:
        """Raises: PermissionDeniedError, ApiKeyNotFoundError."""
        command = cmds.RevokeApiKey(principal=principal, api_key_id=api_key_id)
        await self._run(handlers.revoke_api_key, command)

    async def authenticate_bearer(self, token: str) -> Principal:
        """Raises: TokenInvalidError, TokenRevokedError."""
        return await queries.authenticate_bearer(token, self._tokens, self._reads)

    async def authenticate_api_key(self, key: str) -> Principal:
        """Raises: ApiKeyInvalidError."""
        return await queries.authenticate_api_key(key, self._reads)

    async def get_user(self, tenant_id: int, user_id: int) -> UserView:
        """Raises: UserNotFoundError (also for another tenant's user)."""
        return await queries.get_user(tenant_id, user_id, self._reads)

    def me(self, principal: Principal) -> UserView:
        """The caller's own record; the principal was read from the database this request."""
        return UserView(
            id=principal.user_id,
            tenant_id=principal.tenant_id,
            email=principal.email,
            role=principal.role,
        )

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify access tokens, as a JWK Set (RFC 7517 §5)."""
        return self._tokens.jwks()
