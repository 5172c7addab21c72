"""In-memory identity store: a unit of work and read model with inspectable state.

A real adapter, not a mock (conventions §6): it keeps the rules the SQL adapter keeps
(tenant scoping, unique email per tenant, the conditional ``mark_used``), so unit tests of
the handlers and adopters' tests of code that uses identity can run without a database.
Changes are staged per unit of work and applied on commit, so rollback leaves nothing.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Self

from bazaar.contexts.identity.application.queries import (
    ApiKeyRecord,
    BearerSubject,
    LoginCandidate,
)
from bazaar.contexts.identity.application.views import UserView
from bazaar.contexts.identity.domain.errors import EmailTakenError, TenantNotFoundError
from bazaar.contexts.identity.domain.events import IdentityEvent
from bazaar.contexts.identity.domain.model import ApiKey, RefreshToken, Tenant, User

__all__ = ["InMemoryIdentityReadModel", "InMemoryIdentityStore", "InMemoryIdentityUnitOfWork"]


@dataclass
class InMemoryIdentityStore:
    """The committed state, shared by every unit of work and read model made from it."""

    tenants: dict[int, Tenant] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    refresh_tokens: dict[int, RefreshToken] = field(default_factory=dict)
    revoked_tokens: dict[tuple[int, str], datetime] = field(default_factory=dict)
    api_keys: dict[int, ApiKey] = field(default_factory=dict)
    commits: int = 0

    def unit_of_work(self) -> InMemoryIdentityUnitOfWork:
        return InMemoryIdentityUnitOfWork(self)


class _Tenants:
    def __init__(self, state: InMemoryIdentityStore) -> None:
        self.state = state

    async def add(self, tenant: Tenant) -> None:
        self.state.tenants[tenant.id] = tenant

    async def exists(self, tenant_id: int) -> bool:
        return tenant_id in self.state.tenants

    async def set_plan(self, tenant_id: int, plan: str | None) -> Tenant | None:
        tenant = self.state.tenants.get(tenant_id)
        if tenant is None:
            return None
        updated = self.state.tenants[tenant_id] = replace(tenant, plan=plan)
        return updated


class _Users:
    def __init__(self, state: InMemoryIdentityStore) -> None:
        self.state = state

    async def add(self, user: User) -> None:
        if user.tenant_id not in self.state.tenants:
            raise TenantNotFoundError(user.tenant_id)
        if any(
            u.tenant_id == user.tenant_id and u.email == user.email
            for u in self.state.users.values()
        ):
            raise EmailTakenError(user.email)
        self.state.users[user.id] = user

    async def get(self, tenant_id: int, user_id: int) -> User | None:
        user = self.state.users.get(user_id)
        return user if user is not None and user.tenant_id == tenant_id else None

    async def set_password_hash(self, tenant_id: int, user_id: int, password_hash: str) -> None:
        user = await self.get(tenant_id, user_id)
        if user is not None:
            self.state.users[user_id] = dataclasses.replace(user, password_hash=password_hash)


class _RefreshTokens:
    def __init__(self, state: InMemoryIdentityStore) -> None:
        self.state = state

    async def add(self, token: RefreshToken) -> None:
        self.state.refresh_tokens[token.id] = token

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        found = (t for t in self.state.refresh_tokens.values() if t.token_hash == token_hash)
        return next(found, None)

    async def mark_used(self, tenant_id: int, token_id: int, at: datetime) -> bool:
        token = self.state.refresh_tokens.get(token_id)
        if token is None or token.tenant_id != tenant_id:
            return False
        if token.used_at is not None or token.revoked_at is not None:
            return False
        self.state.refresh_tokens[token_id] = dataclasses.replace(token, used_at=at)
        return True

    async def revoke_family(self, tenant_id: int, family_id: int, at: datetime) -> int:
        family = [
            t
            for t in self.state.refresh_tokens.values()
            if t.tenant_id == tenant_id and t.family_id == family_id and t.revoked_at is None
        ]
        for token in family:
            self.state.refresh_tokens[token.id] = dataclasses.replace(token, revoked_at=at)
        return len(family)


class _RevokedTokens:
    def __init__(self, state: InMemoryIdentityStore) -> None:
        self.state = state

    async def add(
        self, tenant_id: int, token_id: str, user_id: int, expires_at: datetime, at: datetime
    ) -> None:
        self.state.revoked_tokens.setdefault((tenant_id, token_id), expires_at)

    async def purge_expired(self, now: datetime) -> int:
        expired = [key for key, expires in self.state.revoked_tokens.items() if expires < now]
        for key in expired:
            del self.state.revoked_tokens[key]
        return len(expired)


class _ApiKeys:
    def __init__(self, state: InMemoryIdentityStore) -> None:
        self.state = state

    async def add(self, key: ApiKey) -> None:
        if any(k.prefix == key.prefix for k in self.state.api_keys.values()):
            raise ValueError(f"duplicate api key prefix {key.prefix!r}")
        self.state.api_keys[key.id] = key

    async def revoke(
        self, tenant_id: int, api_key_id: int, at: datetime, *, owner_id: int | None
    ) -> bool:
        key = self.state.api_keys.get(api_key_id)
        if key is None or key.tenant_id != tenant_id or key.revoked_at is not None:
            return False
        if owner_id is not None and key.user_id != owner_id:
            return False
        self.state.api_keys[api_key_id] = dataclasses.replace(key, revoked_at=at)
        return True


_TABLES = ("tenants", "users", "refresh_tokens", "revoked_tokens", "api_keys")


class InMemoryIdentityUnitOfWork:
    """Unit of Work over a copy of the store: ``commit`` publishes it, leaving discards it."""

    def __init__(self, store: InMemoryIdentityStore) -> None:
        self._store = store
        self._working: InMemoryIdentityStore | None = None
        self.events: list[IdentityEvent] = []
        self.committed = False

    def _begin(self) -> None:
        working = copy.copy(self._store)
        for name in _TABLES:
            setattr(working, name, dict(getattr(self._store, name)))
        self._working = working
        self.tenants = _Tenants(working)
        self.users = _Users(working)
        self.refresh_tokens = _RefreshTokens(working)
        self.revoked_tokens = _RevokedTokens(working)
        self.api_keys = _ApiKeys(working)

    async def __aenter__(self) -> Self:
        self._begin()
        self.events = []
        self.committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._working = None

    async def commit(self) -> None:
        if self._working is None:
            raise RuntimeError("the unit of work is used outside 'async with'")
        for name in _TABLES:
            setattr(self._store, name, getattr(self._working, name))
        self._store.commits += 1
        self.committed = True
        # Later writes in the same block start from the committed state, as in SQL.
        self._begin()

    async def rollback(self) -> None:
        self._begin()


class InMemoryIdentityReadModel:
    """The read model over the committed store."""

    def __init__(self, store: InMemoryIdentityStore) -> None:
        self._store = store

    def _user(self, tenant_id: int, user_id: int) -> User | None:
        user = self._store.users.get(user_id)
        return user if user is not None and user.tenant_id == tenant_id else None

    def _plan(self, tenant_id: int) -> str | None:
        tenant = self._store.tenants.get(tenant_id)
        return None if tenant is None else tenant.plan

    async def login_candidate(self, tenant_id: int, email: str) -> LoginCandidate | None:
        for user in self._store.users.values():
            if user.tenant_id == tenant_id and user.email == email:
                return LoginCandidate(user.id, user.tenant_id, user.role, user.password_hash)
        return None

    async def bearer_subject(
        self, tenant_id: int, user_id: int, token_id: str
    ) -> BearerSubject | None:
        user = self._user(tenant_id, user_id)
        if user is None:
            return None
        revoked = (tenant_id, token_id) in self._store.revoked_tokens
        return BearerSubject(user=_view(user), token_revoked=revoked, plan=self._plan(tenant_id))

    async def api_key(self, prefix: str) -> ApiKeyRecord | None:
        for key in self._store.api_keys.values():
            owner = self._user(key.tenant_id, key.user_id)
            if key.prefix == prefix and owner is not None:
                return ApiKeyRecord(
                    id=key.id,
                    owner=_view(owner),
                    key_hash=key.key_hash,
                    scopes=frozenset(s.value for s in key.scopes),
                    revoked=key.revoked_at is not None,
                    plan=self._plan(key.tenant_id),
                )
        return None

    async def user(self, tenant_id: int, user_id: int) -> UserView | None:
        user = self._user(tenant_id, user_id)
        return None if user is None else _view(user)


def _view(user: User) -> UserView:
    return UserView(id=user.id, tenant_id=user.tenant_id, email=user.email, role=user.role)
