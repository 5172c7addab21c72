"""The identity service on SQLite and PostgreSQL: concurrency, rehashing, scoping, revocation."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import argon2
import pytest
from sqlalchemy import select

from bazaar.contexts.identity import (
    ApiKeyInvalidError,
    IdentityService,
    RefreshTokenReusedError,
    TokenPair,
    TokenRevokedError,
    UserNotFoundError,
)
from bazaar.contexts.identity.adapters.tables import refresh_tokens, users
from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock

PASSWORD = "correct horse battery staple"
ServiceFactory = Callable[[argon2.Parameters], IdentityService]


async def new_tenant(service: IdentityService) -> tuple[int, int]:
    tenant = await service.create_tenant(
        name="Acme", admin_email="admin@acme.test", admin_password=PASSWORD, operator_key=None
    )
    user = await service.register(tenant_id=tenant.id, email="c@acme.test", password=PASSWORD)
    return tenant.id, user.id


async def family_states(database: Database, tenant_id: int) -> list[tuple[bool, bool]]:
    """(used, revoked) of every refresh token of the tenant."""
    query = select(refresh_tokens.c.used_at, refresh_tokens.c.revoked_at).where(
        refresh_tokens.c.tenant_id == tenant_id
    )
    async with database.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [(row.used_at is not None, row.revoked_at is not None) for row in rows]


class TestConcurrentRefresh:
    @pytest.mark.parametrize("racers", [2, 5])
    async def test_exactly_one_concurrent_refresh_wins_and_the_family_dies(
        self, service: IdentityService, database: Database, racers: int
    ) -> None:
        tenant_id, _ = await new_tenant(service)
        pair = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)

        outcomes = await asyncio.gather(
            *(service.refresh(pair.refresh_token) for _ in range(racers)),
            return_exceptions=True,
        )

        winners = [o for o in outcomes if isinstance(o, TokenPair)]
        losers = [o for o in outcomes if isinstance(o, RefreshTokenReusedError)]
        assert len(winners) == 1
        assert len(losers) == racers - 1
        # The losers saw a reuse, so the winner's fresh token was revoked with the family.
        assert all(revoked for _, revoked in await family_states(database, tenant_id))
        with pytest.raises(RefreshTokenReusedError):
            await service.refresh(winners[0].refresh_token)


class TestLogin:
    async def test_login_rehashes_a_password_made_with_old_parameters(
        self, make_service: ServiceFactory, database: Database
    ) -> None:
        old = make_service(dataclasses.replace(_cheap(), time_cost=1))
        tenant_id, user_id = await new_tenant(old)
        stronger = make_service(dataclasses.replace(_cheap(), time_cost=2))

        await stronger.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)

        query = select(users.c.password_hash).where(
            users.c.tenant_id == tenant_id, users.c.id == user_id
        )
        async with database.engine.connect() as conn:
            stored = (await conn.execute(query)).scalar_one()
        assert ",t=2," in stored
        assert stored.startswith("$argon2id$")
        # The old parameters can still verify the upgraded hash.
        assert await old.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)


class TestAuthentication:
    async def test_logout_revokes_the_access_token_until_it_expires(
        self, service: IdentityService, clock: ManualClock
    ) -> None:
        tenant_id, _ = await new_tenant(service)
        pair = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        principal = await service.authenticate_bearer(pair.access_token)
        await service.logout(principal, pair.refresh_token)
        with pytest.raises(TokenRevokedError):
            await service.authenticate_bearer(pair.access_token)
        with pytest.raises(RefreshTokenReusedError):
            await service.refresh(pair.refresh_token)

    async def test_api_key_authenticates_until_revoked(self, service: IdentityService) -> None:
        tenant_id, _ = await new_tenant(service)
        admin_pair = await service.login(
            tenant_id=tenant_id, email="admin@acme.test", password=PASSWORD
        )
        admin = await service.authenticate_bearer(admin_pair.access_token)
        issued = await service.create_api_key(admin, name="ci", scopes=["products:write"])
        principal = await service.authenticate_api_key(issued.key)
        assert principal.user_id == admin.user_id
        await service.revoke_api_key(admin, issued.id)
        with pytest.raises(ApiKeyInvalidError):
            await service.authenticate_api_key(issued.key)

    async def test_users_are_invisible_across_tenants(self, service: IdentityService) -> None:
        tenant_a, user_a = await new_tenant(service)
        tenant_b, _ = await new_tenant(service)
        assert (await service.get_user(tenant_a, user_a)).id == user_a
        with pytest.raises(UserNotFoundError):
            await service.get_user(tenant_b, user_a)


def _cheap() -> argon2.Parameters:
    return argon2.Parameters(
        type=argon2.Type.ID,
        version=19,
        salt_len=16,
        hash_len=16,
        time_cost=1,
        memory_cost=64,
        parallelism=1,
    )
