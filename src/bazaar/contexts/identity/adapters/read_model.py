"""The identity read model on the read engine: the authentication hot path, one round trip."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from bazaar.contexts.identity.adapters.tables import (
    api_keys,
    revoked_access_tokens,
    tenants,
    users,
)
from bazaar.contexts.identity.application.queries import (
    ApiKeyRecord,
    BearerSubject,
    LoginCandidate,
)
from bazaar.contexts.identity.application.views import UserView
from bazaar.contexts.identity.domain.access import Role

__all__ = ["SqlIdentityReadModel"]


def _user_view(row: Row[Any]) -> UserView:
    return UserView(id=row.id, tenant_id=row.tenant_id, email=row.email, role=Role(row.role))


class SqlIdentityReadModel:
    """Read-only queries, each one statement on a pooled read connection (no ORM session).

    Statements are built once per instance with bound parameters, so SQLAlchemy's compiled
    cache hits and a request pays only for execution. Revocation is read from the read
    engine too: with replicas, a logout becomes visible after the replica's lag (bounded by
    the replica lag check), which is the price of keeping authentication off the primary.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        user_columns = (users.c.id, users.c.tenant_id, users.c.email, users.c.role)
        self._login = select(
            users.c.id, users.c.tenant_id, users.c.role, users.c.password_hash
        ).where(users.c.tenant_id == bindparam("tenant_id"), users.c.email == bindparam("email"))
        revoked = (
            exists()
            .where(
                and_(
                    revoked_access_tokens.c.tenant_id == bindparam("tenant_id"),
                    revoked_access_tokens.c.jti == bindparam("jti"),
                )
            )
            .label("revoked")
        )
        # The tenant's plan rides along (a primary-key join): the rate limiter needs it
        # on every request, and a second query would double authentication's cost.
        self._bearer = (
            select(*user_columns, revoked, tenants.c.plan)
            .join(tenants, tenants.c.id == users.c.tenant_id)
            .where(users.c.tenant_id == bindparam("tenant_id"), users.c.id == bindparam("user_id"))
        )
        self._user = select(*user_columns).where(
            users.c.tenant_id == bindparam("tenant_id"), users.c.id == bindparam("user_id")
        )
        self._api_key = (
            select(
                api_keys.c.id.label("key_id"),
                api_keys.c.key_hash,
                api_keys.c.scopes,
                api_keys.c.revoked_at,
                *user_columns,
                tenants.c.plan,
            )
            .join(
                users,
                and_(users.c.id == api_keys.c.user_id, users.c.tenant_id == api_keys.c.tenant_id),
            )
            .join(tenants, tenants.c.id == users.c.tenant_id)
            .where(api_keys.c.prefix == bindparam("prefix"))
        )

    async def _first(self, statement: Any, params: dict[str, Any]) -> Row[Any] | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(statement, params)).first()

    async def login_candidate(self, tenant_id: int, email: str) -> LoginCandidate | None:
        row = await self._first(self._login, {"tenant_id": tenant_id, "email": email})
        if row is None:
            return None
        return LoginCandidate(
            user_id=row.id,
            tenant_id=row.tenant_id,
            role=Role(row.role),
            password_hash=row.password_hash,
        )

    async def bearer_subject(
        self, tenant_id: int, user_id: int, token_id: str
    ) -> BearerSubject | None:
        params = {"tenant_id": tenant_id, "user_id": user_id, "jti": token_id}
        row = await self._first(self._bearer, params)
        if row is None:
            return None
        return BearerSubject(user=_user_view(row), token_revoked=bool(row.revoked), plan=row.plan)

    async def api_key(self, prefix: str) -> ApiKeyRecord | None:
        row = await self._first(self._api_key, {"prefix": prefix})
        if row is None:
            return None
        return ApiKeyRecord(
            id=row.key_id,
            owner=_user_view(row),
            key_hash=row.key_hash,
            scopes=frozenset(row.scopes),
            revoked=row.revoked_at is not None,
            plan=row.plan,
        )

    async def user(self, tenant_id: int, user_id: int) -> UserView | None:
        row = await self._first(self._user, {"tenant_id": tenant_id, "user_id": user_id})
        return None if row is None else _user_view(row)
