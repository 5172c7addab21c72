"""The cache port contracts over every adapter (memory, Redis), plus Redis-only behaviour."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import pytest
import redis.exceptions
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bazaar.kernel.cache import (
    CacheConfigurationError,
    CacheEvent,
    CachePolicy,
    CacheStatus,
    CacheStoreError,
    CacheStoreFailed,
    LayeredCache,
    LruCache,
    RecordingCacheListener,
    RedisCacheStore,
    RedisInvalidationBus,
    RedisLoadLock,
    TextCodec,
)
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.testing.contracts.cache import (
    CacheStoreContract,
    Inbox,
    InvalidationBusContract,
    LayeredCacheAcrossProcessesContract,
    LoadLockContract,
    MemoryCacheHarness,
    RedisCacheHarness,
    running,
)
from bazaar.testing.servers import find_free_port


@pytest.fixture
async def redis_harness(redis_url: str) -> AsyncIterator[RedisCacheHarness]:
    harness = RedisCacheHarness(redis_url)
    yield harness
    await harness.aclose()


class MemoryAdapters:
    @pytest.fixture
    def cache_harness(self) -> MemoryCacheHarness:
        return MemoryCacheHarness()


class RedisAdapters:
    @pytest.fixture
    def cache_harness(self, redis_harness: RedisCacheHarness) -> RedisCacheHarness:
        return redis_harness


class TestMemoryCacheStoreContract(MemoryAdapters, CacheStoreContract):
    pass


class TestRedisCacheStoreContract(RedisAdapters, CacheStoreContract):
    pass


class TestMemoryLoadLockContract(MemoryAdapters, LoadLockContract):
    pass


class TestRedisLoadLockContract(RedisAdapters, LoadLockContract):
    pass


class TestMemoryInvalidationBusContract(MemoryAdapters, InvalidationBusContract):
    pass


class TestRedisInvalidationBusContract(RedisAdapters, InvalidationBusContract):
    pass


class TestLayeredCacheOnMemoryAdapters(MemoryAdapters, LayeredCacheAcrossProcessesContract):
    pass


class TestLayeredCacheOnRedis(RedisAdapters, LayeredCacheAcrossProcessesContract):
    pass


class FailureCounter(RecordingCacheListener):
    """Records events; ``reached`` is set once ``until`` of them are in."""

    def __init__(self, until: int) -> None:
        super().__init__()
        self.until = until
        self.reached = asyncio.Event()

    def on_event(self, event: CacheEvent) -> None:
        super().on_event(event)
        if len(self.events) >= self.until:
            self.reached.set()


def unreachable_client() -> Redis:
    """A client on a port nothing listens on, failing at once (no retries, no backoff)."""
    return Redis.from_url(f"redis://127.0.0.1:{find_free_port()}/0", retry=Retry(NoBackoff(), 0))


class TestRedisAdaptersWhenRedisIsDown:
    async def test_every_store_operation_is_a_store_error_naming_it(self) -> None:
        client = unreachable_client()
        try:
            store = RedisCacheStore(client)
            calls = {
                "get": store.get("k"),
                "set": store.set("k", b"v", 1.0),
                "delete": store.delete("k"),
                "incr": store.incr("k"),
                "get_int": store.get_int("k"),
            }
            for operation, call in calls.items():
                with pytest.raises(CacheStoreError) as raised:
                    await call
                assert raised.value.operation in {operation, "get"}  # get_int reads by GET
                assert isinstance(raised.value.__cause__, redis.exceptions.ConnectionError)
        finally:
            await client.aclose()

    async def test_the_lock_and_the_bus_fail_as_store_errors(self) -> None:
        client = unreachable_client()
        try:
            lock = RedisLoadLock(client)
            with pytest.raises(CacheStoreError) as raised:
                await lock.acquire("k", 1.0)
            assert raised.value.operation == "acquire"
            with pytest.raises(CacheStoreError) as raised:
                await lock.release("k", "token")
            assert raised.value.operation == "release"
            with pytest.raises(CacheStoreError) as raised:
                await RedisInvalidationBus(client).publish("products", ["k"])
            assert raised.value.operation == "publish"
        finally:
            await client.aclose()

    async def test_a_layered_cache_reads_through_to_the_loader(self) -> None:
        client, clock, listener = unreachable_client(), ManualClock(), RecordingCacheListener()
        try:
            cache = LayeredCache(
                "products",
                codec=TextCodec(),
                policy=CachePolicy(ttl_s=60.0, negative_ttl_s=5.0),
                clock=clock,
                rng=random.Random(3),
                l1=LruCache(10, clock),
                l2=RedisCacheStore(client),
                lock=RedisLoadLock(client),
                bus=RedisInvalidationBus(client, clock=clock),
                listener=listener,
            )

            async def loader() -> str:
                return "from the database"

            read = await cache.get("p:1", loader)
            assert (read.value, read.status) == ("from the database", CacheStatus.MISS)
            await cache.invalidate("p:1")
        finally:
            await client.aclose()
        failed = {(e.operation, e.error) for e in listener.of(CacheStoreFailed)}
        assert failed == {
            ("get", "ConnectionError"),
            ("acquire", "ConnectionError"),
            ("set", "ConnectionError"),
            ("delete", "ConnectionError"),
            ("publish", "ConnectionError"),
        }

    async def test_the_bus_loop_reports_and_backs_off_on_the_clock_up_to_a_bound(self) -> None:
        client, clock = unreachable_client(), ManualClock()
        listener = FailureCounter(until=7)  # the 7th failure comes after the 6th wait
        bus = RedisInvalidationBus(
            client, clock=clock, listener=listener, min_backoff_s=0.5, max_backoff_s=3.0
        )
        task = asyncio.create_task(bus.run(lambda cache, keys: None))
        try:
            await asyncio.wait_for(listener.reached.wait(), timeout=10)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.aclose()
        assert clock.sleeps[:6] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
        assert listener.of(CacheStoreFailed)[0] == CacheStoreFailed(
            "*", "subscribe", "ConnectionError"
        )


class TestRedisAdapters:
    async def test_a_client_decoding_responses_is_refused(self, redis_url: str) -> None:
        async with Redis.from_url(redis_url, decode_responses=True) as client:
            with pytest.raises(ConfigurationError) as raised:
                RedisCacheStore(client)
            assert raised.value.key == "redis"
            with pytest.raises(ConfigurationError):
                RedisLoadLock(client)

    async def test_a_backoff_that_is_not_bounded_is_refused(self, redis_url: str) -> None:
        async with Redis.from_url(redis_url) as client:
            for low, high in [(0.0, 1.0), (2.0, 1.0)]:
                with pytest.raises(CacheConfigurationError) as raised:
                    RedisInvalidationBus(client, min_backoff_s=low, max_backoff_s=high)
                assert raised.value.key == "backoff"

    async def test_keys_live_under_the_prefix(self, redis_harness: RedisCacheHarness) -> None:
        store, admin = redis_harness.store(), redis_harness.client()
        await store.set("products:1", b"v", 10.0)
        assert store.redis_key("products:1") == redis_harness.key_prefix + "products:1"
        assert await admin.get(redis_harness.key_prefix + "products:1") == b"v"
        assert 0 < await admin.pttl(redis_harness.key_prefix + "products:1") <= 10_000

    async def test_a_flushed_release_script_is_loaded_again(
        self, redis_harness: RedisCacheHarness
    ) -> None:
        lock = redis_harness.lock()
        token = await lock.acquire("flushed", 30.0)
        assert token is not None
        await redis_harness.client().script_flush()
        await lock.release("flushed", token)
        assert await lock.acquire("flushed", 30.0) is not None

    async def test_the_bus_skips_malformed_messages_and_goes_on(
        self, redis_harness: RedisCacheHarness
    ) -> None:
        listener = RecordingCacheListener()
        bus, raw = redis_harness.bus(listener=listener), redis_harness.client()
        got = Inbox()
        async with running(redis_harness, bus, got):
            for garbage in (b"not json", b"[1, 2]", b'{"origin": "x", "cache": 1, "keys": []}'):
                await raw.publish(redis_harness.channel, garbage)
            await redis_harness.bus().publish("products", ["p:1"])
            await got.wait_for(1)
        assert got.messages == [("products", ["p:1"])]
        assert [e.operation for e in listener.of(CacheStoreFailed)] == ["decode"] * 3

    async def test_the_bus_subscribes_again_after_its_connection_is_killed(
        self, redis_harness: RedisCacheHarness
    ) -> None:
        bus, admin, sender = redis_harness.bus(), redis_harness.client(), redis_harness.bus()
        got: list[list[str]] = []
        async with running(redis_harness, bus, lambda cache, keys: got.append(keys)):
            killed = await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            assert int(killed) >= 1

            async def delivered_again() -> None:
                # Messages sent while it is down are lost (at most once): send until one lands.
                while not got:
                    await sender.publish("products", ["again"])
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(delivered_again(), timeout=10)
        assert got[0] == ["again"]
