"""SQL repositories on SQLite and PostgreSQL: tenant scoping, uniqueness, conditional writes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bazaar.contexts.identity import EmailTakenError, Permission, Role, TenantNotFoundError
from bazaar.contexts.identity.adapters import SqlIdentityReadModel, SqlIdentityUnitOfWork
from bazaar.contexts.identity.domain.model import ApiKey, RefreshToken, Tenant, User
from bazaar.infra.db import Database

NOW = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
# Ids far from the snowflake range the service tests use, unique per test run and test.
_ids = itertools.count(int(datetime.now(tz=UTC).timestamp() * 1_000_000))


def next_id() -> int:
    return next(_ids)


async def seed(database: Database) -> tuple[Tenant, User]:
    tenant = Tenant(id=next_id(), name="Acme", created_at=NOW)
    user = User(
        id=next_id(),
        tenant_id=tenant.id,
        email=f"u{tenant.id}@acme.test",
        password_hash="$argon2id$placeholder",
        role=Role.CUSTOMER,
        created_at=NOW,
    )
    async with SqlIdentityUnitOfWork(database.sessions) as uow:
        await uow.tenants.add(tenant)
        await uow.users.add(user)
        await uow.commit()
    return tenant, user


def refresh_token(user: User, family_id: int, token_hash: str | None = None) -> RefreshToken:
    token_id = next_id()
    return RefreshToken(
        id=token_id,
        tenant_id=user.tenant_id,
        user_id=user.id,
        family_id=family_id,
        token_hash=token_hash or f"{token_id:064d}",
        issued_at=NOW,
        expires_at=NOW + timedelta(days=7),
    )


class TestUsers:
    async def test_round_trips_a_user_with_aware_utc_timestamps(self, database: Database) -> None:
        _, user = await seed(database)
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            loaded = await uow.users.get(user.tenant_id, user.id)
        assert loaded == user
        assert loaded is not None
        assert loaded.created_at.tzinfo is not None

    async def test_another_tenants_user_is_not_found(self, database: Database) -> None:
        other, _ = await seed(database)
        _, user = await seed(database)
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            assert await uow.users.get(other.id, user.id) is None
        reads = SqlIdentityReadModel(database.read_engine)
        assert await reads.user(other.id, user.id) is None
        assert await reads.login_candidate(other.id, user.email) is None

    async def test_duplicate_email_in_the_tenant_raises_email_taken(
        self, database: Database
    ) -> None:
        tenant, user = await seed(database)
        twin = User(next_id(), tenant.id, user.email, "h", Role.ADMIN, NOW)
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            with pytest.raises(EmailTakenError):
                await uow.users.add(twin)

    async def test_same_email_in_another_tenant_is_fine(self, database: Database) -> None:
        _, user = await seed(database)
        other, _ = await seed(database)
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            await uow.users.add(User(next_id(), other.id, user.email, "h", Role.CUSTOMER, NOW))
            await uow.commit()

    async def test_user_of_a_missing_tenant_raises_tenant_not_found(
        self, database: Database
    ) -> None:
        orphan = User(next_id(), next_id(), "x@y.test", "h", Role.CUSTOMER, NOW)
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            with pytest.raises(TenantNotFoundError):
                await uow.users.add(orphan)

    async def test_uncommitted_work_is_rolled_back(self, database: Database) -> None:
        tenant = Tenant(id=next_id(), name="Ghost", created_at=NOW)
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            await uow.tenants.add(tenant)
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            assert not await uow.tenants.exists(tenant.id)


class TestRefreshTokens:
    async def test_mark_used_succeeds_once(self, database: Database) -> None:
        _, user = await seed(database)
        token = refresh_token(user, family_id=next_id())
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            await uow.refresh_tokens.add(token)
            await uow.commit()
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            assert await uow.refresh_tokens.mark_used(user.tenant_id, token.id, NOW)
            assert not await uow.refresh_tokens.mark_used(user.tenant_id, token.id, NOW)
            await uow.commit()
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            loaded = await uow.refresh_tokens.get_by_hash(token.token_hash)
        assert loaded is not None
        assert loaded.used_at == NOW

    async def test_mark_used_is_scoped_to_the_tenant(self, database: Database) -> None:
        other, _ = await seed(database)
        _, user = await seed(database)
        token = refresh_token(user, family_id=next_id())
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            await uow.refresh_tokens.add(token)
            assert not await uow.refresh_tokens.mark_used(other.id, token.id, NOW)

    async def test_revoke_family_revokes_only_that_family(self, database: Database) -> None:
        _, user = await seed(database)
        family, stranger = next_id(), next_id()
        tokens = [refresh_token(user, family), refresh_token(user, family)]
        survivor = refresh_token(user, stranger)
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            for token in [*tokens, survivor]:
                await uow.refresh_tokens.add(token)
            assert await uow.refresh_tokens.revoke_family(user.tenant_id, family, NOW) == 2
            assert await uow.refresh_tokens.revoke_family(user.tenant_id, family, NOW) == 0
            kept = await uow.refresh_tokens.get_by_hash(survivor.token_hash)
        assert kept is not None
        assert kept.revoked_at is None


class TestRevokedAccessTokens:
    async def test_revocation_is_seen_by_authentication_reads(self, database: Database) -> None:
        _, user = await seed(database)
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            expires = NOW + timedelta(minutes=15)
            await uow.revoked_tokens.add(user.tenant_id, "jti-1", user.id, expires, NOW)
            await uow.revoked_tokens.add(user.tenant_id, "jti-1", user.id, expires, NOW)
            await uow.commit()
        reads = SqlIdentityReadModel(database.read_engine)
        revoked = await reads.bearer_subject(user.tenant_id, user.id, "jti-1")
        fresh = await reads.bearer_subject(user.tenant_id, user.id, "jti-2")
        assert revoked is not None
        assert revoked.token_revoked
        assert fresh is not None
        assert not fresh.token_revoked

    async def test_purge_removes_only_expired_revocations(self, database: Database) -> None:
        _, user = await seed(database)
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            await uow.revoked_tokens.add(user.tenant_id, "old", user.id, NOW, NOW)
            await uow.revoked_tokens.add(
                user.tenant_id, "new", user.id, NOW + timedelta(minutes=15), NOW
            )
            await uow.revoked_tokens.purge_expired(NOW + timedelta(seconds=1))
            await uow.commit()
        reads = SqlIdentityReadModel(database.read_engine)
        old = await reads.bearer_subject(user.tenant_id, user.id, "old")
        new = await reads.bearer_subject(user.tenant_id, user.id, "new")
        assert old is not None
        assert not old.token_revoked
        assert new is not None
        assert new.token_revoked


class TestApiKeys:
    async def test_key_is_found_by_prefix_with_its_owner(self, database: Database) -> None:
        tenant, user = await seed(database)
        key = ApiKey(
            id=next_id(),
            tenant_id=tenant.id,
            user_id=user.id,
            name="ci",
            prefix=f"{next_id() % 10**8:08d}",
            key_hash="f" * 64,
            scopes=frozenset({Permission.PRODUCTS_WRITE, Permission.ORDERS_READ_ALL}),
            created_at=NOW,
        )
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            await uow.api_keys.add(key)
            await uow.commit()
        record = await SqlIdentityReadModel(database.read_engine).api_key(key.prefix)
        assert record is not None
        assert record.owner.id == user.id
        assert record.scopes == {"products:write", "orders:read_all"}
        assert not record.revoked

    async def test_revoke_is_scoped_to_tenant_and_owner(self, database: Database) -> None:
        tenant, user = await seed(database)
        other, _ = await seed(database)
        key = ApiKey(
            next_id(),
            tenant.id,
            user.id,
            "ci",
            f"{next_id() % 10**8:08d}",
            "e" * 64,
            frozenset(),
            NOW,
        )
        async with SqlIdentityUnitOfWork(database.sessions) as uow:
            await uow.api_keys.add(key)
            assert not await uow.api_keys.revoke(other.id, key.id, NOW, owner_id=None)
            assert not await uow.api_keys.revoke(tenant.id, key.id, NOW, owner_id=user.id + 1)
            assert await uow.api_keys.revoke(tenant.id, key.id, NOW, owner_id=user.id)
            assert not await uow.api_keys.revoke(tenant.id, key.id, NOW, owner_id=None)
            await uow.commit()
