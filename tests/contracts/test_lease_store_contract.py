"""The lease store contract over every adapter (memory, SQLite, PostgreSQL, Redis), plus each
adapter's own behaviour."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.exceptions
from redis.asyncio import Redis
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bazaar.infra.db import create_database
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.locks import (
    LeaseStoreError,
    PgAdvisoryLock,
    RedisLeaseStore,
    SqlLeaseStore,
    advisory_key,
    lease_table,
)
from bazaar.testing.contracts.locks import (
    InMemoryLeaseHarness,
    LeaseStoreContract,
    RedisLeaseHarness,
    SqlLeaseHarness,
)
from bazaar.testing.servers import find_free_port


@pytest.fixture
async def redis_harness(redis_url: str) -> AsyncIterator[RedisLeaseHarness]:
    harness = RedisLeaseHarness(redis_url)
    yield harness
    await harness.aclose()


def unique_table() -> Table:
    # A table per test: the shared PostgreSQL database never sees two tests' leases (nor
    # the app's migrated ``leases`` table).
    return lease_table(MetaData(), name=f"leases_{uuid.uuid4().hex[:12]}")


class TestInMemoryLeaseStoreContract(LeaseStoreContract):
    @pytest.fixture
    def lease_harness(self) -> InMemoryLeaseHarness:
        return InMemoryLeaseHarness()


class TestSqlLeaseStoreContract(LeaseStoreContract):
    @pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
    async def lease_harness(
        self, request: pytest.FixtureRequest, tmp_path: Path
    ) -> AsyncIterator[SqlLeaseHarness]:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'leases.db'}"
        else:
            url = request.getfixturevalue("postgres_url")
        database = create_database(url)
        table = unique_table()
        try:
            async with database.engine.begin() as conn:
                await conn.run_sync(table.create)
            yield SqlLeaseHarness(database.engine, table)
            async with database.engine.begin() as conn:
                await conn.run_sync(table.drop)
        finally:
            await database.dispose()


class TestRedisLeaseStoreContract(LeaseStoreContract):
    @pytest.fixture
    def lease_harness(self, redis_harness: RedisLeaseHarness) -> RedisLeaseHarness:
        return redis_harness


class TestSqlLeaseStore:
    def test_the_table_has_the_columns_of_the_migration(self) -> None:
        table = lease_table(MetaData())
        assert table.name == "leases"
        assert [(c.name, type(c.type).__name__, c.primary_key, c.nullable) for c in table.c] == [
            ("name", "String", True, False),
            ("holder", "String", False, False),
            ("token", "BigInteger", False, False),
            ("expires_at", "Float", False, False),
        ]

    async def test_concurrent_acquirers_on_plain_sqlite_connections_never_both_win(
        self, tmp_path: Path
    ) -> None:
        # Not the app's single-writer engine: many connections, deferred transactions, so
        # SQLite's own locking is what decides.
        engine = create_async_engine(
            f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}", connect_args={"timeout": 10}
        )
        table = unique_table()
        try:
            async with engine.begin() as conn:
                await conn.run_sync(table.create)
            stores = [SqlLeaseStore(engine, table) for _ in range(10)]
            results = await asyncio.gather(
                *(store.acquire("relay", f"h{i}", 30.0) for i, store in enumerate(stores))
            )
            assert len([lease for lease in results if lease is not None]) == 1
        finally:
            await engine.dispose()

    async def test_a_database_failure_is_a_store_error(self) -> None:
        # Nothing listens on the port: the connection is refused.
        engine = create_async_engine(
            f"postgresql+asyncpg://bazaar:x@127.0.0.1:{find_free_port()}/nothing"
        )
        try:
            store = SqlLeaseStore(engine, unique_table())
            with pytest.raises(LeaseStoreError) as raised:
                await store.acquire("relay", "a", 30.0)
            assert (raised.value.name, raised.value.operation) == ("relay", "acquire")
            assert raised.value.__cause__ is not None
        finally:
            await engine.dispose()


class TestRedisLeaseStore:
    async def test_expiry_is_reported_on_the_server_clock(
        self, redis_url: str, redis_harness: RedisLeaseHarness
    ) -> None:
        store = redis_harness.redis_store()
        async with Redis.from_url(redis_url) as client:
            seconds, micros = await client.time()
            lease = await store.acquire("relay", "a", 30.0)
            assert lease is not None
            assert lease.expires_at - (seconds + micros / 1e6) == pytest.approx(30.0, abs=1.0)
            lease_key, token_key = store.keys("relay")
            assert 29_000 < await client.pttl(lease_key) <= 30_000
            assert await client.ttl(token_key) == -1  # the counter never expires

    async def test_keys_stay_under_the_prefix_and_never_collide_between_names(
        self, redis_harness: RedisLeaseHarness
    ) -> None:
        store = redis_harness.redis_store()
        names = ["a", "a}:token", "a:lease", "{a}"]
        keys = [key for name in names for key in store.keys(name)]
        assert len(set(keys)) == len(keys)
        assert all(key.startswith(redis_harness.key_prefix) for key in keys)

    async def test_a_client_that_decodes_responses_works_too(
        self, redis_url: str, redis_harness: RedisLeaseHarness
    ) -> None:
        async with Redis.from_url(redis_url, decode_responses=True) as client:
            store = RedisLeaseStore(client, key_prefix=redis_harness.key_prefix)
            lease = await store.acquire("relay", "a", 30.0)
            assert lease is not None
            assert await store.holder("relay") == lease
            await store.release(lease)

    async def test_an_unreachable_redis_is_a_store_error(self) -> None:
        client = Redis.from_url(f"redis://127.0.0.1:{find_free_port()}/0")
        try:
            store = RedisLeaseStore(client)
            with pytest.raises(LeaseStoreError) as raised:
                await store.acquire("relay", "a", 30.0)
            assert (raised.value.name, raised.value.operation) == ("relay", "acquire")
            assert isinstance(raised.value.__cause__, redis.exceptions.ConnectionError)
        finally:
            await client.aclose()


LOCKS_ON_KEY = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
    "AND ((classid::bigint << 32) | objid::bigint) = :key"
)


class TestPgAdvisoryLock:
    @pytest.fixture
    async def engine(self, postgres_url: str) -> AsyncIterator[AsyncEngine]:
        database = create_database(postgres_url)
        try:
            yield database.engine
        finally:
            await database.dispose()

    @pytest.fixture
    def name(self) -> str:
        return f"relay-{uuid.uuid4().hex[:8]}"

    async def test_only_one_session_holds_the_lock_until_it_releases(
        self, engine: AsyncEngine, name: str
    ) -> None:
        first, second = PgAdvisoryLock(engine, name), PgAdvisoryLock(engine, name)
        try:
            assert await first.try_acquire()
            assert await first.try_acquire()  # already held: still True
            assert not await second.try_acquire()
            assert not second.held
            assert await first.verify()
            await first.release()
            assert not first.held
            assert await second.try_acquire()
        finally:
            await first.release()
            await second.release()

    async def test_concurrent_candidates_elect_exactly_one(
        self, engine: AsyncEngine, name: str
    ) -> None:
        locks = [PgAdvisoryLock(engine, name) for _ in range(8)]
        try:
            results = await asyncio.gather(*(lock.try_acquire() for lock in locks))
            assert results.count(True) == 1
        finally:
            for lock in locks:
                await lock.release()

    async def test_the_lock_goes_with_its_session(self, engine: AsyncEngine, name: str) -> None:
        leader, successor = PgAdvisoryLock(engine, name), PgAdvisoryLock(engine, name)
        try:
            assert await leader.try_acquire()
            async with engine.connect() as admin:
                await admin.execute(
                    text(LOCKS_ON_KEY.replace("count(*)", "pg_terminate_backend(pid)")),
                    {"key": advisory_key(name)},
                )
            assert not await leader.verify()
            assert not leader.held
            assert await successor.try_acquire()
        finally:
            await leader.release()
            await successor.release()

    async def test_release_unlocks_before_the_connection_goes_back_to_the_pool(
        self, engine: AsyncEngine, name: str
    ) -> None:
        lock = PgAdvisoryLock(engine, name)
        assert await lock.try_acquire()
        await lock.release()
        async with engine.connect() as conn:
            holders = await conn.scalar(text(LOCKS_ON_KEY), {"key": advisory_key(name)})
        assert holders == 0

    def test_keys_are_stable_signed_64_bit_integers(self) -> None:
        assert advisory_key("outbox-relay") == advisory_key("outbox-relay")
        assert advisory_key("outbox-relay") != advisory_key("outbox-relay-2")
        assert -(2**63) <= advisory_key("x") < 2**63

    async def test_sqlite_is_refused(self, tmp_path: Path) -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
        try:
            with pytest.raises(ConfigurationError) as raised:
                PgAdvisoryLock(engine, "relay")
            assert raised.value.key == "engine"
        finally:
            await engine.dispose()
