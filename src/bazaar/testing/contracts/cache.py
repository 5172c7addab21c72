"""The contracts of the cache's ports (``CacheStore``, ``LoadLock``, ``InvalidationBus``), and
of ``LayeredCache`` running on them as several processes would."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import pytest
from redis.asyncio import Redis

from bazaar.kernel.cache import (
    CacheInvalidated,
    CachePolicy,
    CacheStatus,
    CacheStore,
    CacheStoreError,
    InvalidationBus,
    LayeredCache,
    LoadLock,
    LruCache,
    MemoryCacheStore,
    MemoryInvalidationBus,
    MemoryInvalidationHub,
    MemoryLoadLock,
    RecordingCacheListener,
    RedisCacheStore,
    RedisInvalidationBus,
    RedisLoadLock,
    TextCodec,
)
from bazaar.kernel.clock import ManualClock

__all__ = [
    "CONTRACT_START",
    "CacheHarness",
    "CacheStoreContract",
    "Inbox",
    "InvalidationBusContract",
    "LayeredCacheAcrossProcessesContract",
    "LoadLockContract",
    "MemoryCacheHarness",
    "RedisCacheHarness",
]

CONTRACT_START = 1_700_000_000.0
BAD_TTLS = [0, 0.0, -1.0, float("inf"), float("nan")]


class CacheHarness(Protocol):
    """What the suites need from an adapter family: handles on one shared state.

    Every ``store()``, ``lock()`` and ``bus()`` of one harness sees the same state, as the
    processes of one deployment do; each call stands for a new process where that exists
    (its own client and connection pool, its own bus origin).
    """

    clock: ManualClock

    def store(self) -> CacheStore: ...

    def lock(self) -> LoadLock: ...

    def bus(self) -> InvalidationBus: ...

    async def wait_subscribed(self, bus: InvalidationBus) -> None:
        """Return once ``bus.run`` (started by the test) receives what is published."""
        ...

    async def store_ttl_s(self, key: str) -> float | None:
        """Seconds the store's value under ``key`` has left, None if absent."""
        ...

    async def lock_ttl_s(self, key: str) -> float | None:
        """Seconds the lock on ``key`` has left, None if free."""
        ...

    async def expire_lock(self, key: str) -> None:
        """Make the lock on ``key`` lapse, as if its TTL had run out."""
        ...


class MemoryCacheHarness:
    """The memory adapters on a ``ManualClock``: one store and one lock table stand for the
    shared server; each ``bus()`` is a new bus on one hub."""

    def __init__(self) -> None:
        self.clock = ManualClock(start=CONTRACT_START)
        self._store = MemoryCacheStore(self.clock)
        self._lock = MemoryLoadLock(self.clock)
        self._hub = MemoryInvalidationHub()

    def store(self) -> CacheStore:
        return self._store

    def lock(self) -> LoadLock:
        return self._lock

    def bus(self) -> InvalidationBus:
        return self._hub.bus()

    async def wait_subscribed(self, bus: InvalidationBus) -> None:
        assert isinstance(bus, MemoryInvalidationBus)
        await bus.wait_subscribed()

    async def store_ttl_s(self, key: str) -> float | None:
        return self._store.remaining_ttl_s(key)

    async def lock_ttl_s(self, key: str) -> float | None:
        return self._lock.remaining_ttl_s(key)

    async def expire_lock(self, key: str) -> None:
        remaining = self._lock.remaining_ttl_s(key)
        if remaining is not None:
            self.clock.advance(remaining)


class RedisCacheHarness:
    """The Redis adapters on one real Redis, under a key prefix and a channel unique to the
    test. Every handle has its own client (a separate "process"). Expiry is Redis' own, on
    the server's clock; the ``ManualClock`` is what ``LayeredCache`` instances run on.
    """

    def __init__(self, url: str) -> None:
        self.clock = ManualClock(start=CONTRACT_START)
        self.url = url
        unique = uuid.uuid4().hex[:12]
        self.key_prefix = f"bazaar:test:cache:{unique}:"
        self.lock_prefix = f"bazaar:test:cache-lock:{unique}:"
        self.channel = f"bazaar:test:cache-bus:{unique}"
        self._clients: list[Redis] = []

    def client(self, **options: Any) -> Redis:
        """A new client on the test's Redis, closed by ``aclose``."""
        client = Redis.from_url(self.url, **options)
        self._clients.append(client)
        return client

    def store(self) -> RedisCacheStore:
        return RedisCacheStore(self.client(), prefix=self.key_prefix)

    def lock(self) -> RedisLoadLock:
        return RedisLoadLock(self.client(), prefix=self.lock_prefix)

    def bus(self, **options: Any) -> RedisInvalidationBus:
        return RedisInvalidationBus(
            self.client(), channel=self.channel, clock=self.clock, **options
        )

    async def wait_subscribed(self, bus: InvalidationBus) -> None:
        assert isinstance(bus, RedisInvalidationBus)
        await asyncio.wait_for(bus.wait_subscribed(), timeout=10)

    async def store_ttl_s(self, key: str) -> float | None:
        return await self._pttl(self.key_prefix + key)

    async def lock_ttl_s(self, key: str) -> float | None:
        return await self._pttl(self.lock_prefix + key)

    async def expire_lock(self, key: str) -> None:
        await self._admin().delete(self.lock_prefix + key)

    async def aclose(self) -> None:
        """Delete this test's keys and close every client."""
        admin = self._admin()
        for prefix in (self.key_prefix, self.lock_prefix):
            keys = [key async for key in admin.scan_iter(match=prefix + "*")]
            if keys:
                await admin.delete(*keys)
        for client in self._clients:
            await client.aclose()
        self._clients.clear()

    def _admin(self) -> Redis:
        return self._clients[0] if self._clients else self.client()

    async def _pttl(self, name: str) -> float | None:
        milliseconds = await self._admin().pttl(name)
        return None if milliseconds < 0 else milliseconds / 1000


@contextlib.asynccontextmanager
async def running(
    harness: CacheHarness, bus: InvalidationBus, on_message: Callable[[str, list[str]], None]
) -> AsyncIterator[None]:
    """``bus.run(on_message)`` as a task, subscribed on entry and cancelled on exit."""
    task = asyncio.create_task(bus.run(on_message))
    try:
        await harness.wait_subscribed(bus)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Inbox:
    """An ``on_message`` callback that keeps what it gets and can be waited on."""

    def __init__(self, then: Callable[[str, list[str]], None] | None = None) -> None:
        self.messages: list[tuple[str, list[str]]] = []
        self._then = then
        self._arrived = asyncio.Event()

    def __call__(self, cache: str, keys: list[str]) -> None:
        self.messages.append((cache, keys))
        if self._then is not None:
            self._then(cache, keys)
        self._arrived.set()

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        """Return once ``count`` messages have arrived; fail after ``timeout_s`` seconds."""
        async with asyncio.timeout(timeout_s):
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()


def unique(name: str) -> str:
    """A key no other test uses."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


class CacheStoreContract:
    """Subclass and provide a ``cache_harness`` fixture yielding a ``CacheHarness``."""

    async def test_an_absent_key_reads_as_none(self, cache_harness: CacheHarness) -> None:
        assert await cache_harness.store().get(unique("absent")) is None

    @pytest.mark.parametrize("value", [b"payload", b"", bytes(range(256)), b"\x00" * 1000])
    async def test_bytes_come_back_exactly_as_written(
        self, cache_harness: CacheHarness, value: bytes
    ) -> None:
        key, store = unique("bytes"), cache_harness.store()
        await store.set(key, value, 60.0)
        assert await store.get(key) == value

    async def test_every_handle_sees_the_same_state(self, cache_harness: CacheHarness) -> None:
        key = unique("shared")
        await cache_harness.store().set(key, b"one", 60.0)
        assert await cache_harness.store().get(key) == b"one"

    async def test_a_write_replaces_the_value_and_its_ttl(
        self, cache_harness: CacheHarness
    ) -> None:
        key, store = unique("replace"), cache_harness.store()
        await store.set(key, b"old", 600.0)
        await store.set(key, b"new", 30.0)
        assert await store.get(key) == b"new"
        remaining = await cache_harness.store_ttl_s(key)
        assert remaining is not None
        assert 0 < remaining <= 30.0

    async def test_a_value_lives_for_its_ttl(self, cache_harness: CacheHarness) -> None:
        key, store = unique("ttl"), cache_harness.store()
        await store.set(key, b"v", 45.5)
        remaining = await cache_harness.store_ttl_s(key)
        assert remaining is not None
        assert 44.0 < remaining <= 45.5

    @pytest.mark.parametrize("ttl_s", BAD_TTLS)
    async def test_a_ttl_that_is_not_finite_and_positive_is_refused(
        self, cache_harness: CacheHarness, ttl_s: float
    ) -> None:
        key, store = unique("bad-ttl"), cache_harness.store()
        with pytest.raises(ValueError, match="ttl_s"):
            await store.set(key, b"v", ttl_s)
        assert await store.get(key) is None

    async def test_delete_counts_the_keys_that_existed(self, cache_harness: CacheHarness) -> None:
        store = cache_harness.store()
        first, second, never = unique("del"), unique("del"), unique("never")
        await store.set(first, b"1", 60.0)
        await store.set(second, b"2", 60.0)
        assert await store.delete(first, never, first) == 1
        assert await store.get(first) is None
        assert await store.get(second) == b"2"
        assert await store.delete() == 0
        assert await store.delete(never) == 0

    async def test_counters_start_at_one_and_never_expire(
        self, cache_harness: CacheHarness
    ) -> None:
        key, store = unique("counter"), cache_harness.store()
        assert await store.get_int(key) is None
        assert [await store.incr(key) for _ in range(3)] == [1, 2, 3]
        assert await cache_harness.store().get_int(key) == 3
        assert await cache_harness.store_ttl_s(key) is None  # no expiry set
        assert await store.delete(key) == 1
        assert await store.get_int(key) is None

    async def test_concurrent_increments_are_never_lost(self, cache_harness: CacheHarness) -> None:
        key = unique("counter")
        stores = [cache_harness.store() for _ in range(4)]
        values = await asyncio.gather(*(stores[i % 4].incr(key) for i in range(200)))
        assert sorted(values) == list(range(1, 201))
        assert await stores[0].get_int(key) == 200

    async def test_a_counter_operation_on_a_value_is_a_store_error(
        self, cache_harness: CacheHarness
    ) -> None:
        key, store = unique("squatted"), cache_harness.store()
        await store.set(key, b"not a number", 60.0)
        with pytest.raises(CacheStoreError):
            await store.incr(key)
        with pytest.raises(CacheStoreError):
            await store.get_int(key)


class LoadLockContract:
    """Subclass and provide a ``cache_harness`` fixture yielding a ``CacheHarness``."""

    async def test_only_one_holder_at_a_time(self, cache_harness: CacheHarness) -> None:
        key, lock, other = unique("lock"), cache_harness.lock(), cache_harness.lock()
        token = await lock.acquire(key, 30.0)
        assert token is not None
        assert await other.acquire(key, 30.0) is None
        assert await lock.acquire(key, 30.0) is None  # not reentrant either
        await lock.release(key, token)
        again = await other.acquire(key, 30.0)
        assert again is not None
        assert again != token

    async def test_a_lock_lasts_its_ttl(self, cache_harness: CacheHarness) -> None:
        key = unique("lock")
        await cache_harness.lock().acquire(key, 12.5)
        remaining = await cache_harness.lock_ttl_s(key)
        assert remaining is not None
        assert 11.0 < remaining <= 12.5

    async def test_release_with_another_token_keeps_the_lock(
        self, cache_harness: CacheHarness
    ) -> None:
        key, lock = unique("lock"), cache_harness.lock()
        token = await lock.acquire(key, 30.0)
        assert token is not None
        await cache_harness.lock().release(key, token + "-forged")
        assert await cache_harness.lock().acquire(key, 30.0) is None
        await lock.release(unique("free"), token)  # releasing a free key is a no-op

    async def test_a_holder_whose_lock_lapsed_cannot_free_the_next_holder(
        self, cache_harness: CacheHarness
    ) -> None:
        key, slow, fast = unique("lock"), cache_harness.lock(), cache_harness.lock()
        stale = await slow.acquire(key, 5.0)
        assert stale is not None
        await cache_harness.expire_lock(key)
        current = await fast.acquire(key, 30.0)
        assert current is not None
        await slow.release(key, stale)
        assert await cache_harness.lock().acquire(key, 30.0) is None
        await fast.release(key, current)
        assert await cache_harness.lock_ttl_s(key) is None

    async def test_concurrent_contenders_get_exactly_one_token(
        self, cache_harness: CacheHarness
    ) -> None:
        key = unique("lock")
        locks = [cache_harness.lock() for _ in range(4)]
        tokens = await asyncio.gather(*(locks[i % 4].acquire(key, 30.0) for i in range(50)))
        assert sum(token is not None for token in tokens) == 1

    @pytest.mark.parametrize("ttl_s", BAD_TTLS)
    async def test_a_ttl_that_is_not_finite_and_positive_is_refused(
        self, cache_harness: CacheHarness, ttl_s: float
    ) -> None:
        with pytest.raises(ValueError, match="ttl_s"):
            await cache_harness.lock().acquire(unique("lock"), ttl_s)


class InvalidationBusContract:
    """Subclass and provide a ``cache_harness`` fixture yielding a ``CacheHarness``."""

    async def test_a_message_reaches_every_other_process_but_not_its_sender(
        self, cache_harness: CacheHarness
    ) -> None:
        sender, first, second = cache_harness.bus(), cache_harness.bus(), cache_harness.bus()
        got = {"sender": Inbox(), "first": Inbox(), "second": Inbox()}
        async with (
            running(cache_harness, sender, got["sender"]),
            running(cache_harness, first, got["first"]),
            running(cache_harness, second, got["second"]),
        ):
            await sender.publish("products", ["p:1", "p:2"])
            await got["first"].wait_for(1)
            await got["second"].wait_for(1)
            # A message of another process, sent after ours: once it is in, ours would be too.
            await first.publish("products", ["p:3"])
            await got["sender"].wait_for(1)
            await got["second"].wait_for(2)
        assert got["first"].messages == [("products", ["p:1", "p:2"])]
        assert got["second"].messages == [("products", ["p:1", "p:2"]), ("products", ["p:3"])]
        assert got["sender"].messages == [("products", ["p:3"])]

    async def test_keys_arrive_in_order_and_unchanged(self, cache_harness: CacheHarness) -> None:
        sender, receiver = cache_harness.bus(), cache_harness.bus()
        keys = ["ü:ñ:😀", "", "a b", "x" * 300, "\x00ns:tenant-1", "z"]
        got = Inbox()
        async with running(cache_harness, receiver, got):
            await sender.publish("lists", keys)
            await sender.publish("lists", [])
            await got.wait_for(2)
        assert got.messages == [("lists", keys), ("lists", [])]


class LayeredCacheAcrossProcessesContract:
    """``LayeredCache`` instances on one harness behave as processes sharing Redis.

    Subclass and provide a ``cache_harness`` fixture yielding a ``CacheHarness``.
    """

    def instance(
        self,
        harness: CacheHarness,
        name: str,
        *,
        lock_wait_s: float,
        listener: RecordingCacheListener | None = None,
        bus: InvalidationBus | None = None,
    ) -> LayeredCache[str]:
        """One "process": its own L1, handles of its own on the shared store and lock."""
        policy = CachePolicy(
            ttl_s=300.0,
            negative_ttl_s=30.0,
            jitter=0.0,
            early_beta=0.0,
            lock_ttl_s=60.0,
            lock_wait_s=lock_wait_s,
            lock_poll_s=0.05,
        )
        return LayeredCache(
            name,
            codec=TextCodec(),
            policy=policy,
            clock=harness.clock,
            rng=random.Random(1),
            l1=LruCache(100, harness.clock),
            l2=harness.store(),
            lock=harness.lock(),
            bus=bus,
            listener=listener,
        )

    async def test_a_cold_key_read_by_200_callers_in_two_processes_loads_once(
        self, cache_harness: CacheHarness
    ) -> None:
        name = unique("stampede")
        first = self.instance(cache_harness, name, lock_wait_s=600.0)
        second = self.instance(cache_harness, name, lock_wait_s=600.0)
        loads: list[str] = []

        def loader_for(process: str) -> Callable[[], Any]:
            async def loader() -> str:
                loads.append(process)
                for _ in range(5):  # a slow query: the other process arrives meanwhile
                    await asyncio.sleep(0)
                return "value"

            return loader

        reads = await asyncio.gather(
            *(
                (first, second)[i % 2].get("hot", loader_for(("first", "second")[i % 2]))
                for i in range(200)
            )
        )
        assert len(loads) == 1
        assert all(read.value == "value" for read in reads)
        assert all(read.status is CacheStatus.MISS for read in reads)
        assert (await first.get("hot", loader_for("first"))).status is CacheStatus.HIT
        assert (await second.get("hot", loader_for("second"))).status is CacheStatus.HIT
        assert len(loads) == 1

    async def test_without_waiting_for_the_lock_each_process_loads_at_most_once(
        self, cache_harness: CacheHarness
    ) -> None:
        name = unique("stampede")
        processes = [self.instance(cache_harness, name, lock_wait_s=0.0) for _ in range(2)]
        loads: list[int] = []

        def loader_for(process: int) -> Callable[[], Any]:
            async def loader() -> str:
                loads.append(process)
                for _ in range(5):
                    await asyncio.sleep(0)
                return "value"

            return loader

        reads = await asyncio.gather(
            *(processes[i % 2].get("hot", loader_for(i % 2)) for i in range(200))
        )
        assert 1 <= len(loads) <= 2
        assert len(set(loads)) == len(loads)  # never twice in one process
        assert all(read.value == "value" for read in reads)

    async def test_an_invalidation_in_one_process_drops_the_others_copies(
        self, cache_harness: CacheHarness
    ) -> None:
        name = unique("coherent")
        listener = RecordingCacheListener()
        writer = self.instance(cache_harness, name, lock_wait_s=1.0, bus=cache_harness.bus())
        reader_bus = cache_harness.bus()
        reader = self.instance(
            cache_harness, name, lock_wait_s=1.0, listener=listener, bus=reader_bus
        )
        version = ["v1"]

        async def loader() -> str:
            return version[0]

        inbox = Inbox(then=reader.on_bus_message)
        async with running(cache_harness, reader_bus, inbox):
            assert (await reader.get("p:1", loader)).value == "v1"
            assert (await reader.get("p:1", loader)).status is CacheStatus.HIT
            version[0] = "v2"
            await writer.invalidate("p:1")
            await inbox.wait_for(1)
            read = await reader.get("p:1", loader)
        assert (read.value, read.status) == ("v2", CacheStatus.MISS)
        assert listener.of(CacheInvalidated) == [CacheInvalidated(name, 1, remote=True)]
