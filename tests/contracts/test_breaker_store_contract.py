"""The breaker store contract over every adapter (in-memory, Redis), plus Redis-only behaviour."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.exceptions
from redis.asyncio import Redis

from bazaar.kernel.breaker import (
    Admission,
    BreakerConfig,
    BreakerState,
    BreakerStoreError,
    BreakerStoreFailed,
    CallSucceeded,
    CircuitBreaker,
    Outcome,
    RecordingListener,
    RedisBreakerStore,
)
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.testing.contracts.breaker import (
    BreakerStoreContract,
    InMemoryHarness,
    RedisHarness,
)
from bazaar.testing.servers import find_free_port

CONSECUTIVE = BreakerConfig(minimum_calls=1000, consecutive_failures=5, cooldown_s=30.0)


@pytest.fixture
async def redis_harness(redis_url: str) -> AsyncIterator[RedisHarness]:
    harness = RedisHarness(redis_url)
    yield harness
    await harness.aclose()


class TestInMemoryBreakerStoreContract(BreakerStoreContract):
    @pytest.fixture
    def breaker_harness(self) -> InMemoryHarness:
        return InMemoryHarness()


class TestRedisBreakerStoreContract(BreakerStoreContract):
    @pytest.fixture
    def breaker_harness(self, redis_harness: RedisHarness) -> RedisHarness:
        return redis_harness


async def open_via(store: RedisBreakerStore, name: str) -> None:
    for _ in range(CONSECUTIVE.consecutive_failures):
        permit = await store.acquire(name, CONSECUTIVE)
        await store.record(name, CONSECUTIVE, permit, Outcome.FAILURE, 0.0)


class TestRedisBreakerStore:
    async def test_a_local_copy_admits_for_at_most_the_sync_interval_after_another_process_opened(
        self, redis_harness: RedisHarness
    ) -> None:
        clock = redis_harness.clock
        cached = redis_harness.redis_store(sync_interval_s=0.2)
        other = redis_harness.redis_store()
        assert (await cached.acquire("psp", CONSECUTIVE)).admission is Admission.ALLOW
        await open_via(other, "psp")
        clock.advance(0.1)
        # Still within the interval: the stale copy admits (the documented trade-off)...
        stale = await cached.acquire("psp", CONSECUTIVE)
        assert stale.admission is Admission.ALLOW
        # ...but that call's outcome is ignored, and its reply refreshes the copy.
        assert await cached.record("psp", CONSECUTIVE, stale, Outcome.FAILURE, 0.0) is None
        assert (await cached.acquire("psp", CONSECUTIVE)).admission is Admission.REJECT

    async def test_the_local_copy_expires_after_the_sync_interval(
        self, redis_harness: RedisHarness
    ) -> None:
        clock = redis_harness.clock
        cached = redis_harness.redis_store(sync_interval_s=0.2)
        other = redis_harness.redis_store()
        await cached.acquire("psp", CONSECUTIVE)
        await open_via(other, "psp")
        clock.advance(0.2)
        rejected = await cached.acquire("psp", CONSECUTIVE)
        assert rejected.admission is Admission.REJECT
        assert rejected.retry_after_s == pytest.approx(29.8)

    async def test_an_open_copy_rejects_without_asking_redis(
        self, redis_harness: RedisHarness
    ) -> None:
        clock = redis_harness.clock
        cached = redis_harness.redis_store(sync_interval_s=0.2)
        await open_via(cached, "psp")
        clock.advance(0.1)
        # Remove the shared state: a round trip would now find the breaker closed.
        async with Redis.from_url(redis_harness.url) as client:
            await client.delete(redis_harness.key_prefix + "psp")
        permit = await cached.acquire("psp", CONSECUTIVE)
        assert permit.admission is Admission.REJECT
        assert permit.retry_after_s == pytest.approx(29.9)

    async def test_without_a_clock_the_script_runs_on_the_server_time(
        self, redis_url: str, redis_harness: RedisHarness
    ) -> None:
        client = Redis.from_url(redis_url)
        try:
            store = RedisBreakerStore(client, key_prefix=redis_harness.key_prefix)
            await open_via(store, "psp")
            seconds, micros = await client.time()
            snapshot = await store.read("psp", CONSECUTIVE)
            assert snapshot.state is BreakerState.OPEN
            assert snapshot.opened_at is not None
            assert 0 <= seconds + micros / 1e6 - snapshot.opened_at < 5
            permit = await store.acquire("psp", CONSECUTIVE)
            assert 25 < permit.retry_after_s <= 30
        finally:
            await client.delete(redis_harness.key_prefix + "psp")
            await client.aclose()

    async def test_an_unreachable_redis_is_a_store_error_and_the_breaker_fails_open(
        self,
    ) -> None:
        client = Redis.from_url(f"redis://127.0.0.1:{find_free_port()}/0")
        try:
            store = RedisBreakerStore(client, clock=ManualClock())
            with pytest.raises(BreakerStoreError) as raised:
                await store.acquire("psp", CONSECUTIVE)
            assert (raised.value.name, raised.value.operation) == ("psp", "acquire")
            assert isinstance(raised.value.__cause__, redis.exceptions.ConnectionError)

            listener = RecordingListener()
            breaker = CircuitBreaker("psp", CONSECUTIVE, store=store, listener=listener)

            async def answer() -> int:
                return 42

            assert await breaker.call(answer) == 42
            assert [type(e) for e in listener.events] == [BreakerStoreFailed, CallSucceeded]
            failed = listener.events[0]
            assert isinstance(failed, BreakerStoreFailed)
            assert (failed.operation, failed.error_type) == ("acquire", "ConnectionError")
        finally:
            await client.aclose()

    async def test_a_negative_sync_interval_is_refused(self, redis_url: str) -> None:
        async with Redis.from_url(redis_url) as client:
            with pytest.raises(ConfigurationError) as raised:
                RedisBreakerStore(client, sync_interval_s=-0.1)
        assert raised.value.key == "sync_interval_s"
