"""SQLAlchemy repositories and the unit of work of the identity context.

Every statement on tenant data filters by ``tenant_id`` (capabilities §2.5): the pattern other
contexts copy. Driver errors are translated here, at the boundary, into domain errors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

from bazaar.contexts.identity.adapters.tables import (
    api_keys,
    refresh_tokens,
    revoked_access_tokens,
    tenants,
    users,
)
from bazaar.contexts.identity.domain.access import Role
from bazaar.contexts.identity.domain.errors import EmailTakenError, TenantNotFoundError
from bazaar.contexts.identity.domain.events import IdentityEvent
from bazaar.contexts.identity.domain.model import ApiKey, RefreshToken, Tenant, User
from bazaar.infra.db import SqlAlchemyUnitOfWork
from bazaar.kernel.clock import Clock
from bazaar.kernel.sql import insert_for, rowcount

__all__ = [
    "SqlApiKeyRepository",
    "SqlIdentityUnitOfWork",
    "SqlRefreshTokenRepository",
    "SqlRevokedTokenRepository",
    "SqlTenantRepository",
    "SqlUserRepository",
]


def _mentions(exc: IntegrityError, *markers: str) -> bool:
    # SQLite names the columns ("UNIQUE constraint failed: users.tenant_id, users.email"),
    # PostgreSQL the constraint ('violates unique constraint "uq_users_tenant_id_email"').
    text = str(exc.orig)
    return any(marker in text for marker in markers)


class SqlTenantRepository:
    """Repository pattern over ``tenants`` (the tenant row is its own scope)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, tenant: Tenant) -> None:
        await self._session.execute(
            insert(tenants).values(id=tenant.id, name=tenant.name, created_at=tenant.created_at)
        )

    async def exists(self, tenant_id: int) -> bool:
        query = select(exists().where(tenants.c.id == tenant_id))
        return bool((await self._session.execute(query)).scalar())

    async def set_plan(self, tenant_id: int, plan: str | None) -> Tenant | None:
        statement = (
            update(tenants)
            .where(tenants.c.id == tenant_id)
            .values(plan=plan)
            .returning(tenants.c.id, tenants.c.name, tenants.c.created_at, tenants.c.plan)
        )
        row = (await self._session.execute(statement)).first()
        if row is None:
            return None
        return Tenant(id=row.id, name=row.name, created_at=row.created_at, plan=row.plan)


class SqlUserRepository:
    """Repository pattern over ``users``; every lookup is by (tenant_id, ...)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, user: User) -> None:
        statement = insert(users).values(
            id=user.id,
            tenant_id=user.tenant_id,
            email=user.email,
            password_hash=user.password_hash,
            role=user.role.value,
            created_at=user.created_at,
            updated_at=user.created_at,
        )
        try:
            await self._session.execute(statement)
        except IntegrityError as exc:
            if _mentions(exc, "uq_users_tenant_id_email", "users.tenant_id, users.email"):
                raise EmailTakenError(user.email) from exc
            if _mentions(exc, "FOREIGN KEY", "foreign key"):
                raise TenantNotFoundError(user.tenant_id) from exc
            raise

    async def get(self, tenant_id: int, user_id: int) -> User | None:
        query = select(users).where(users.c.tenant_id == tenant_id, users.c.id == user_id)
        row = (await self._session.execute(query)).first()
        if row is None:
            return None
        return User(
            id=row.id,
            tenant_id=row.tenant_id,
            email=row.email,
            password_hash=row.password_hash,
            role=Role(row.role),
            created_at=row.created_at,
        )

    async def set_password_hash(self, tenant_id: int, user_id: int, password_hash: str) -> None:
        await self._session.execute(
            update(users)
            .where(users.c.tenant_id == tenant_id, users.c.id == user_id)
            .values(password_hash=password_hash)
        )


def _refresh_token(row: Row[Any]) -> RefreshToken:
    return RefreshToken(
        id=row.id,
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        family_id=row.family_id,
        token_hash=row.token_hash,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
    )


class SqlRefreshTokenRepository:
    """Repository pattern over ``refresh_tokens``; writes are conditional where races matter."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: RefreshToken) -> None:
        await self._session.execute(
            insert(refresh_tokens).values(
                id=token.id,
                tenant_id=token.tenant_id,
                user_id=token.user_id,
                family_id=token.family_id,
                token_hash=token.token_hash,
                issued_at=token.issued_at,
                expires_at=token.expires_at,
                used_at=token.used_at,
                revoked_at=token.revoked_at,
            )
        )

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        query = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        row = (await self._session.execute(query)).first()
        return None if row is None else _refresh_token(row)

    async def mark_used(self, tenant_id: int, token_id: int, at: datetime) -> bool:
        # One conditional UPDATE: on PostgreSQL a concurrent rotation blocks on the row lock,
        # then re-checks the WHERE clause against the committed row and updates nothing.
        result = await self._session.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.tenant_id == tenant_id,
                refresh_tokens.c.id == token_id,
                refresh_tokens.c.used_at.is_(None),
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(used_at=at)
        )
        return rowcount(result) == 1

    async def revoke_family(self, tenant_id: int, family_id: int, at: datetime) -> int:
        result = await self._session.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.tenant_id == tenant_id,
                refresh_tokens.c.family_id == family_id,
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        return rowcount(result)


class SqlRevokedTokenRepository:
    """Repository pattern over ``revoked_access_tokens`` (revoked jtis until they expire)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _insert_ignoring_duplicates(self, **values: Any) -> Insert:
        return (
            insert_for(self._session, revoked_access_tokens)
            .values(**values)
            .on_conflict_do_nothing()
        )

    async def add(
        self, tenant_id: int, token_id: str, user_id: int, expires_at: datetime, at: datetime
    ) -> None:
        statement = self._insert_ignoring_duplicates(
            tenant_id=tenant_id, jti=token_id, user_id=user_id, expires_at=expires_at, revoked_at=at
        )
        await self._session.execute(statement)

    async def purge_expired(self, now: datetime) -> int:
        # Housekeeping across tenants on purpose: it deletes only rows whose token has expired,
        # which no tenant can observe, and one indexed range delete beats one per tenant.
        result = await self._session.execute(
            revoked_access_tokens.delete().where(revoked_access_tokens.c.expires_at < now)
        )
        return rowcount(result)


class SqlApiKeyRepository:
    """Repository pattern over ``api_keys``; revocation is tenant- and owner-scoped."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: ApiKey) -> None:
        await self._session.execute(
            insert(api_keys).values(
                id=key.id,
                tenant_id=key.tenant_id,
                user_id=key.user_id,
                name=key.name,
                prefix=key.prefix,
                key_hash=key.key_hash,
                scopes=sorted(scope.value for scope in key.scopes),
                created_at=key.created_at,
                revoked_at=key.revoked_at,
            )
        )

    async def revoke(
        self, tenant_id: int, api_key_id: int, at: datetime, *, owner_id: int | None
    ) -> bool:
        statement = update(api_keys).where(
            api_keys.c.tenant_id == tenant_id,
            api_keys.c.id == api_key_id,
            api_keys.c.revoked_at.is_(None),
        )
        if owner_id is not None:
            statement = statement.where(api_keys.c.user_id == owner_id)
        result = await self._session.execute(statement.values(revoked_at=at))
        return rowcount(result) == 1


class SqlIdentityUnitOfWork(SqlAlchemyUnitOfWork[IdentityEvent]):
    """Unit of Work over the identity repositories, all sharing one session/transaction."""

    tenants: SqlTenantRepository
    users: SqlUserRepository
    refresh_tokens: SqlRefreshTokenRepository
    revoked_tokens: SqlRevokedTokenRepository
    api_keys: SqlApiKeyRepository

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, clock: Clock | None = None
    ) -> None:
        super().__init__(sessions, clock=clock)

    def _open(self, session: AsyncSession) -> None:
        self.events = []
        self.tenants = SqlTenantRepository(session)
        self.users = SqlUserRepository(session)
        self.refresh_tokens = SqlRefreshTokenRepository(session)
        self.revoked_tokens = SqlRevokedTokenRepository(session)
        self.api_keys = SqlApiKeyRepository(session)
