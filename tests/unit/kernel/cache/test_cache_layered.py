"""LayeredCache on the memory adapters and a ManualClock: every path of a read, and two
instances standing for two processes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from bazaar.kernel.cache import (
    CacheConfigurationError,
    CacheEvicted,
    CacheHit,
    CacheInvalidated,
    CacheLoaded,
    CacheLoadFailed,
    CacheMiss,
    CachePolicy,
    CacheRefreshedEarly,
    CacheStaleServed,
    CacheStatus,
    CacheStoreError,
    CacheStoreFailed,
    JsonCodec,
    Layer,
    LayeredCache,
    LruCache,
    MemoryCacheStore,
    MemoryInvalidationHub,
    MemoryLoadLock,
    NullCacheListener,
    RecordingCacheListener,
    TextCodec,
    route_invalidations,
)
from bazaar.kernel.cache.ports import CacheStore, InvalidationBus, LoadLock
from bazaar.kernel.clock import ManualClock

POLICY = CachePolicy(ttl_s=60.0, negative_ttl_s=10.0, jitter=0.0, early_beta=0.0)


class DatabaseDown(Exception):
    pass


class NotFoundHere(Exception):
    pass


class Source:
    """A loader over a dict, counting its runs; ``fail`` makes it raise, ``takes_s`` makes
    it take time on the clock (what XFetch measures)."""

    def __init__(self, clock: ManualClock, **rows: str) -> None:
        self.clock = clock
        self.rows: dict[str, str] = dict(rows)
        self.calls: list[str] = []
        self.fail: BaseException | None = None
        self.takes_s = 0.0

    def loader(self, key: str) -> Callable[[], Awaitable[str | None]]:
        async def load() -> str | None:
            self.calls.append(key)
            if self.takes_s:
                self.clock.advance(self.takes_s)
            await asyncio.sleep(0)
            if self.fail is not None:
                raise self.fail
            return self.rows.get(key)

        return load


class FailingStore:
    """A ``CacheStore`` whose every operation fails, as Redis does when it is unreachable."""

    async def get(self, key: str) -> bytes | None:
        raise _down("get")

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        raise _down("set")

    async def delete(self, *keys: str) -> int:
        raise _down("delete")

    async def incr(self, key: str) -> int:
        raise _down("incr")

    async def get_int(self, key: str) -> int | None:
        raise _down("get_int")


class FailingLock:
    async def acquire(self, key: str, ttl_s: float) -> str | None:
        raise _down("acquire")

    async def release(self, key: str, token: str) -> None:
        raise _down("release")


class FailingBus:
    async def publish(self, cache: str, keys: Sequence[str]) -> None:
        raise _down("publish")

    async def run(self, on_message: Callable[[str, list[str]], None]) -> None:
        raise _down("subscribe")


def _down(operation: str) -> CacheStoreError:
    error = CacheStoreError(operation)
    error.__cause__ = ConnectionError("connection refused")
    return error


@dataclass
class World:
    """Shared infrastructure: one "Redis" (store, lock, bus hub) and one clock."""

    clock: ManualClock = field(default_factory=ManualClock)
    store: MemoryCacheStore = field(init=False)
    lock: MemoryLoadLock = field(init=False)
    hub: MemoryInvalidationHub = field(default_factory=MemoryInvalidationHub)

    def __post_init__(self) -> None:
        self.store = MemoryCacheStore(self.clock)
        self.lock = MemoryLoadLock(self.clock)

    def process(
        self,
        *,
        policy: CachePolicy = POLICY,
        l1_size: int | None = 100,
        l2: CacheStore | bool | None = True,
        lock: LoadLock | bool | None = False,
        bus: InvalidationBus | bool | None = False,
        stale_on: tuple[type[BaseException], ...] = (Exception,),
        seed: int = 7,
    ) -> tuple[LayeredCache[str], RecordingCacheListener]:
        listener = RecordingCacheListener()
        cache = LayeredCache(
            "products",
            codec=TextCodec(),
            policy=policy,
            clock=self.clock,
            rng=random.Random(seed),
            l1=LruCache(l1_size, self.clock) if l1_size else None,
            l2=self.store if l2 is True else (l2 or None),
            lock=self.lock if lock is True else (lock or None),
            bus=self.hub.bus() if bus is True else (bus or None),
            listener=listener,
            stale_on=stale_on,
        )
        return cache, listener


@pytest.fixture
def world() -> World:
    return World()


class TestReadThrough:
    async def test_a_miss_loads_once_and_the_next_read_hits_l1(self, world: World) -> None:
        cache, listener = world.process()
        source = Source(world.clock, p1="shoe")
        first = await cache.get("p1", source.loader("p1"))
        second = await cache.get("p1", source.loader("p1"))
        assert (first.value, first.status) == ("shoe", CacheStatus.MISS)
        assert (second.value, second.status) == ("shoe", CacheStatus.HIT)
        assert source.calls == ["p1"]
        assert listener.events == [
            CacheMiss("products"),
            CacheLoaded("products", 0.0, found=True),
            CacheHit("products", Layer.L1),
        ]

    async def test_another_process_hits_l2_and_fills_its_l1(self, world: World) -> None:
        writer, _ = world.process()
        reader, listener = world.process()
        source = Source(world.clock, p1="shoe")
        await writer.get("p1", source.loader("p1"))
        world.clock.advance(30.0)
        via_l2 = await reader.get("p1", source.loader("p1"))
        via_l1 = await reader.get("p1", source.loader("p1"))
        assert (via_l2.value, via_l2.status) == ("shoe", CacheStatus.HIT)
        assert via_l1.status is CacheStatus.HIT
        assert source.calls == ["p1"]
        assert listener.events == [CacheHit("products", Layer.L2), CacheHit("products", Layer.L1)]
        # The copy carries its own expiry: 30 s left in every process, not a fresh 60.
        world.clock.advance(30.0)
        assert (await reader.get("p1", source.loader("p1"))).status is CacheStatus.MISS

    async def test_an_entry_expires_after_its_ttl(self, world: World) -> None:
        cache, _ = world.process()
        source = Source(world.clock, p1="shoe")
        await cache.get("p1", source.loader("p1"))
        world.clock.advance(59.9)
        assert (await cache.get("p1", source.loader("p1"))).status is CacheStatus.HIT
        world.clock.advance(0.1)
        assert (await cache.get("p1", source.loader("p1"))).status is CacheStatus.MISS
        assert source.calls == ["p1", "p1"]

    async def test_ttls_are_jittered_within_the_policy(self, world: World) -> None:
        cache, _ = world.process(policy=replace(POLICY, jitter=0.5))
        source = Source(world.clock, **{f"p{i}": "x" for i in range(40)})
        for i in range(40):
            await cache.get(f"p{i}", source.loader(f"p{i}"))
        ttls = [world.store.remaining_ttl_s(f"products:p{i}") for i in range(40)]
        assert all(ttl is not None and 30.0 < ttl <= 60.0 for ttl in ttls)
        assert len(set(ttls)) == 40  # spread, not one shared expiry
        world.clock.advance(30.0)
        statuses = [(await cache.get(f"p{i}", source.loader(f"p{i}"))).status for i in range(40)]
        assert set(statuses) == {CacheStatus.HIT}

    async def test_an_l1_shorter_than_the_ttl_rereads_l2(self, world: World) -> None:
        cache, listener = world.process(policy=replace(POLICY, l1_ttl_s=5.0))
        source = Source(world.clock, p1="shoe")
        await cache.get("p1", source.loader("p1"))
        world.clock.advance(5.0)
        assert (await cache.get("p1", source.loader("p1"))).status is CacheStatus.HIT
        assert listener.events[-1] == CacheHit("products", Layer.L2)
        assert source.calls == ["p1"]

    async def test_without_l1_every_read_goes_to_l2(self, world: World) -> None:
        cache, listener = world.process(l1_size=None)
        source = Source(world.clock, p1="shoe")
        await cache.get("p1", source.loader("p1"))
        assert (await cache.get("p1", source.loader("p1"))).status is CacheStatus.HIT
        assert listener.events[-1] == CacheHit("products", Layer.L2)

    async def test_a_json_codec_round_trips_through_l2(self, world: World) -> None:
        def build() -> LayeredCache[dict[str, Any]]:
            return LayeredCache(
                "json",
                codec=JsonCodec(),
                policy=POLICY,
                clock=world.clock,
                rng=random.Random(1),
                l1=LruCache(10, world.clock),
                l2=world.store,
            )

        async def load() -> dict[str, Any]:
            return {"id": 1, "tags": ["a", "b"]}

        await build().get("k", load)
        read = await build().get("k", load)
        assert (read.value, read.status) == ({"id": 1, "tags": ["a", "b"]}, CacheStatus.HIT)


class TestNegativeCaching:
    async def test_not_found_is_remembered_for_the_negative_ttl(self, world: World) -> None:
        cache, listener = world.process()
        source = Source(world.clock)
        first = await cache.get("ghost", source.loader("ghost"))
        again = await cache.get("ghost", source.loader("ghost"))
        assert (first.value, first.status) == (None, CacheStatus.MISS)
        assert (again.value, again.status) == (None, CacheStatus.HIT)
        assert listener.of(CacheLoaded) == [CacheLoaded("products", 0.0, found=False)]
        world.clock.advance(10.0)
        assert (await cache.get("ghost", source.loader("ghost"))).status is CacheStatus.MISS
        assert source.calls == ["ghost", "ghost"]

    async def test_the_negative_entry_is_shared_through_l2(self, world: World) -> None:
        writer, _ = world.process()
        reader, _ = world.process()
        source = Source(world.clock)
        await writer.get("ghost", source.loader("ghost"))
        read = await reader.get("ghost", source.loader("ghost"))
        assert (read.value, read.status) == (None, CacheStatus.HIT)
        assert source.calls == ["ghost"]

    async def test_a_negative_ttl_of_zero_remembers_nothing(self, world: World) -> None:
        cache, _ = world.process(policy=replace(POLICY, negative_ttl_s=0.0))
        source = Source(world.clock)
        await cache.get("ghost", source.loader("ghost"))
        await cache.get("ghost", source.loader("ghost"))
        assert source.calls == ["ghost", "ghost"]
        assert len(world.store) == 0


class TestStaleOnFailure:
    async def test_a_failing_loader_serves_the_last_copy_within_the_stale_window(
        self, world: World
    ) -> None:
        cache, listener = world.process(policy=replace(POLICY, stale_ttl_s=30.0))
        source = Source(world.clock, p1="shoe")
        await cache.get("p1", source.loader("p1"))
        world.clock.advance(80.0)
        source.fail = DatabaseDown()
        read = await cache.get("p1", source.loader("p1"))
        assert (read.value, read.status) == ("shoe", CacheStatus.STALE)
        assert listener.of(CacheLoadFailed) == [CacheLoadFailed("products", "DatabaseDown")]
        assert listener.of(CacheStaleServed) == [CacheStaleServed("products", "DatabaseDown")]
        world.clock.advance(10.0)  # 90 s: past ttl + stale
        with pytest.raises(DatabaseDown):
            await cache.get("p1", source.loader("p1"))

    async def test_the_stale_copy_can_come_from_l2(self, world: World) -> None:
        writer, _ = world.process(policy=replace(POLICY, stale_ttl_s=30.0))
        reader, _ = world.process(policy=replace(POLICY, stale_ttl_s=30.0))
        source = Source(world.clock, p1="shoe")
        await writer.get("p1", source.loader("p1"))
        world.clock.advance(70.0)
        source.fail = DatabaseDown()
        read = await reader.get("p1", source.loader("p1"))
        assert (read.value, read.status) == ("shoe", CacheStatus.STALE)

    async def test_errors_outside_stale_on_are_raised_even_with_a_copy(self, world: World) -> None:
        cache, _ = world.process(policy=replace(POLICY, stale_ttl_s=30.0), stale_on=(DatabaseDown,))
        source = Source(world.clock, p1="shoe")
        await cache.get("p1", source.loader("p1"))
        world.clock.advance(61.0)
        source.fail = NotFoundHere()
        with pytest.raises(NotFoundHere):
            await cache.get("p1", source.loader("p1"))
        source.fail = DatabaseDown()
        assert (await cache.get("p1", source.loader("p1"))).status is CacheStatus.STALE

    async def test_a_failing_loader_without_a_copy_raises_and_frees_the_key(
        self, world: World
    ) -> None:
        cache, listener = world.process()
        source = Source(world.clock, p1="shoe")
        source.fail = DatabaseDown()
        with pytest.raises(DatabaseDown):
            await cache.get("p1", source.loader("p1"))
        source.fail = None
        assert (await cache.get("p1", source.loader("p1"))).value == "shoe"
        assert source.calls == ["p1", "p1"]
        assert [type(e) for e in listener.events] == [
            CacheMiss,
            CacheLoadFailed,
            CacheMiss,
            CacheLoaded,
        ]


class TestSingleFlightInProcess:
    async def test_concurrent_misses_of_one_key_share_one_load(self, world: World) -> None:
        cache, listener = world.process()
        source = Source(world.clock, p1="shoe")
        reads = await asyncio.gather(*(cache.get("p1", source.loader("p1")) for _ in range(500)))
        assert source.calls == ["p1"]
        assert {(r.value, r.status) for r in reads} == {("shoe", CacheStatus.MISS)}
        assert len(listener.of(CacheMiss)) == 500
        assert len(listener.of(CacheLoaded)) == 1

    async def test_concurrent_failures_are_shared_too(self, world: World) -> None:
        cache, _ = world.process()
        source = Source(world.clock)
        source.fail = DatabaseDown()
        results = await asyncio.gather(
            *(cache.get("p1", source.loader("p1")) for _ in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, DatabaseDown) for r in results)
        assert source.calls == ["p1"]


class TestInvalidation:
    async def test_invalidate_drops_l1_and_l2(self, world: World) -> None:
        cache, listener = world.process()
        other, _ = world.process()
        source = Source(world.clock, p1="shoe", p2="hat")
        await cache.get("p1", source.loader("p1"))
        await cache.get("p2", source.loader("p2"))
        source.rows["p1"] = "boot"
        await cache.invalidate("p1", "p2")
        assert listener.of(CacheInvalidated) == [CacheInvalidated("products", 2, remote=False)]
        assert (await other.get("p1", source.loader("p1"))).value == "boot"
        assert (await cache.get("p1", source.loader("p1"))).status is CacheStatus.HIT
        assert source.calls == ["p1", "p2", "p1"]
        await cache.invalidate()  # nothing to do

    async def test_put_writes_through(self, world: World) -> None:
        cache, _ = world.process()
        other, _ = world.process()
        source = Source(world.clock)
        await cache.put("p1", "sandal")
        assert (await cache.get("p1", source.loader("p1"))).value == "sandal"
        read = await other.get("p1", source.loader("p1"))
        assert (read.value, read.status) == ("sandal", CacheStatus.HIT)
        assert source.calls == []

    async def test_a_load_overtaken_by_an_invalidation_answers_but_is_not_cached(
        self, world: World
    ) -> None:
        cache, _ = world.process()
        started, gate, calls = asyncio.Event(), asyncio.Event(), []

        async def slow_old_read() -> str:
            calls.append("old")
            started.set()
            await gate.wait()
            return "old"

        reader = asyncio.create_task(cache.get("p1", slow_old_read))
        await started.wait()
        await cache.invalidate("p1")  # the row changed while the load was reading it
        gate.set()
        assert (await reader).value == "old"
        assert world.store.remaining_ttl_s("products:p1") is None

        async def fresh_read() -> str:
            calls.append("new")
            return "new"

        assert (await cache.get("p1", fresh_read)).value == "new"
        assert calls == ["old", "new"]

    async def test_a_remote_drop_empties_only_l1(self, world: World) -> None:
        cache, listener = world.process()
        source = Source(world.clock, p1="shoe")
        await cache.get("p1", source.loader("p1"))
        cache.drop_local("p1")
        cache.drop_local()
        assert listener.of(CacheInvalidated) == [CacheInvalidated("products", 1, remote=True)]
        assert (await cache.get("p1", source.loader("p1"))).status is CacheStatus.HIT
        assert listener.events[-1] == CacheHit("products", Layer.L2)


class TestEarlyRefresh:
    async def test_xfetch_reloads_in_the_background_while_the_old_copy_is_served(
        self, world: World
    ) -> None:
        cache, listener = world.process(policy=replace(POLICY, ttl_s=1_000.0, early_beta=1.0))
        source = Source(world.clock, p1="v1")
        source.takes_s = 100.0  # an expensive load: XFetch refreshes it well ahead
        await cache.get("p1", source.loader("p1"))
        source.rows["p1"] = "v2"
        world.clock.advance(999.0)  # 1 s left, delta 100 s: P(refresh) = exp(-0.01)
        read = await cache.get("p1", source.loader("p1"))
        assert (read.value, read.status) == ("v1", CacheStatus.HIT)
        assert listener.of(CacheRefreshedEarly) == [CacheRefreshedEarly("products")]
        await cache.wait_background()
        assert source.calls == ["p1", "p1"]
        after = await cache.get("p1", source.loader("p1"))
        assert (after.value, after.status) == ("v2", CacheStatus.HIT)

    async def test_far_from_expiry_nothing_is_refreshed(self, world: World) -> None:
        cache, listener = world.process(policy=replace(POLICY, ttl_s=1_000.0, early_beta=1.0))
        source = Source(world.clock, p1="v1")
        source.takes_s = 1.0
        await cache.get("p1", source.loader("p1"))
        for _ in range(100):
            await cache.get("p1", source.loader("p1"))
        assert listener.of(CacheRefreshedEarly) == []
        assert source.calls == ["p1"]

    async def test_beta_zero_never_refreshes_early(self, world: World) -> None:
        cache, listener = world.process(policy=replace(POLICY, ttl_s=1_000.0, early_beta=0.0))
        source = Source(world.clock, p1="v1")
        source.takes_s = 100.0
        await cache.get("p1", source.loader("p1"))
        world.clock.advance(999.9)
        await cache.get("p1", source.loader("p1"))
        await cache.wait_background()
        assert listener.of(CacheRefreshedEarly) == []

    async def test_a_failed_early_refresh_keeps_the_old_copy(self, world: World) -> None:
        cache, listener = world.process(policy=replace(POLICY, ttl_s=1_000.0, early_beta=1.0))
        source = Source(world.clock, p1="v1")
        source.takes_s = 100.0
        await cache.get("p1", source.loader("p1"))
        world.clock.advance(999.0)
        source.takes_s = 0.0  # the failure is quick: the copy is still fresh after it
        source.fail = DatabaseDown()
        assert (await cache.get("p1", source.loader("p1"))).value == "v1"
        await cache.wait_background()
        assert listener.of(CacheLoadFailed) == [CacheLoadFailed("products", "DatabaseDown")]
        assert (await cache.get("p1", source.loader("p1"))).value == "v1"
        await cache.aclose()


class TestNamespaces:
    async def test_a_bump_moves_the_namespace_to_new_keys(self, world: World) -> None:
        cache, _ = world.process()
        assert await cache.namespace_version("tenant-1") == 0
        assert await cache.bump_namespace("tenant-1") == 1
        assert await cache.namespace_version("tenant-1") == 1
        assert await cache.namespace_version("tenant-2") == 0

    async def test_another_process_sees_a_bump_through_the_bus_at_once(self, world: World) -> None:
        writer, _ = world.process(bus=True)
        reader_bus = world.hub.bus()
        reader, _ = world.process(bus=reader_bus)
        runner = asyncio.create_task(reader_bus.run(reader.on_bus_message))
        await reader_bus.wait_subscribed()
        try:
            assert await reader.namespace_version("tenant-1") == 0  # memoized
            await writer.bump_namespace("tenant-1")
            assert await reader.namespace_version("tenant-1") == 1
        finally:
            runner.cancel()

    async def test_without_the_bus_a_bump_is_seen_once_the_memo_expires(self, world: World) -> None:
        writer, _ = world.process()
        reader, _ = world.process(policy=replace(POLICY, l1_ttl_s=5.0))
        assert await reader.namespace_version("tenant-1") == 0
        await writer.bump_namespace("tenant-1")
        assert await reader.namespace_version("tenant-1") == 0
        world.clock.advance(5.0)
        assert await reader.namespace_version("tenant-1") == 1

    async def test_without_l2_versions_are_kept_in_process_and_bumped_by_the_bus(
        self, world: World
    ) -> None:
        first, _ = world.process(l2=None, bus=True)
        second_bus = world.hub.bus()
        second, _ = world.process(l2=None, bus=second_bus)
        runner = asyncio.create_task(second_bus.run(route_invalidations([second])))
        await second_bus.wait_subscribed()
        try:
            assert await first.bump_namespace("lists") == 1
            assert await first.namespace_version("lists") == 1
            assert await second.namespace_version("lists") == 1
        finally:
            runner.cancel()


class TestSharedInfrastructureFailures:
    async def test_a_failing_l2_never_fails_a_read(self, world: World) -> None:
        cache, listener = world.process(l2=FailingStore())
        source = Source(world.clock, p1="shoe")
        first = await cache.get("p1", source.loader("p1"))
        second = await cache.get("p1", source.loader("p1"))
        assert (first.value, first.status) == ("shoe", CacheStatus.MISS)
        assert (second.value, second.status) == ("shoe", CacheStatus.HIT)
        assert listener.of(CacheStoreFailed) == [
            CacheStoreFailed("products", "get", "ConnectionError"),
            CacheStoreFailed("products", "set", "ConnectionError"),
        ]
        await cache.invalidate("p1")
        assert listener.of(CacheStoreFailed)[-1].operation == "delete"
        assert (await cache.get("p1", source.loader("p1"))).value == "shoe"
        assert source.calls == ["p1", "p1"]

    async def test_a_failing_l2_serves_last_known_namespace_versions(self, world: World) -> None:
        cache, listener = world.process(l2=FailingStore())
        assert await cache.namespace_version("tenant-1") == 0
        assert listener.of(CacheStoreFailed)[-1].operation == "get_int"
        with pytest.raises(CacheStoreError):
            await cache.bump_namespace("tenant-1")
        assert listener.of(CacheStoreFailed)[-1].operation == "incr"

    async def test_a_failing_lock_loads_anyway(self, world: World) -> None:
        cache, listener = world.process(lock=FailingLock())
        source = Source(world.clock, p1="shoe")
        assert (await cache.get("p1", source.loader("p1"))).value == "shoe"
        assert listener.of(CacheStoreFailed) == [
            CacheStoreFailed("products", "acquire", "ConnectionError")
        ]

    async def test_a_failing_bus_does_not_fail_an_invalidation(self, world: World) -> None:
        cache, listener = world.process(bus=FailingBus())
        await cache.invalidate("p1")
        await cache.put("p2", "hat")
        assert [e.operation for e in listener.of(CacheStoreFailed)] == ["publish", "publish"]
        assert listener.of(CacheInvalidated) == [CacheInvalidated("products", 1, remote=False)]

    @pytest.mark.parametrize(
        "payload", [b"", b"garbage", b"\x02" + bytes(17) + b"v", b"\x01\x00" + bytes(16) + b"\xff"]
    )
    async def test_an_unreadable_l2_copy_is_a_miss(self, world: World, payload: bytes) -> None:
        cache, listener = world.process()
        await world.store.set("products:p1", payload, 60.0)
        source = Source(world.clock, p1="shoe")
        read = await cache.get("p1", source.loader("p1"))
        assert (read.value, read.status) == ("shoe", CacheStatus.MISS)
        assert listener.of(CacheStoreFailed)[0].operation == "decode"


class TestTwoProcesses:
    async def test_only_one_process_loads_a_cold_key(self, world: World) -> None:
        policy = replace(POLICY, lock_wait_s=60.0)
        first, first_events = world.process(lock=True, policy=policy)
        second, _ = world.process(lock=True, policy=policy)
        source = Source(world.clock, p1="shoe")
        reads = await asyncio.gather(
            *((first, second)[i % 2].get("p1", source.loader("p1")) for i in range(100))
        )
        assert source.calls == ["p1"]
        assert {r.value for r in reads} == {"shoe"}
        assert world.lock.holder("products:p1") is None  # released after the load
        assert len(first_events.of(CacheLoaded)) == 1

    async def test_a_process_that_waited_too_long_loads_itself(self, world: World) -> None:
        cache, _ = world.process(lock=True, policy=replace(POLICY, lock_wait_s=0.2))
        await world.lock.acquire("products:p1", 30.0)  # a process that crashed mid-load
        source = Source(world.clock, p1="shoe")
        assert (await cache.get("p1", source.loader("p1"))).value == "shoe"
        assert world.clock.sleeps == pytest.approx([0.05, 0.05, 0.05, 0.05])

    async def test_an_invalidation_drops_the_other_processes_l1(self, world: World) -> None:
        writer, _ = world.process(bus=True)
        reader_bus = world.hub.bus()
        reader, reader_events = world.process(bus=reader_bus)
        runner = asyncio.create_task(reader_bus.run(route_invalidations([reader])))
        await reader_bus.wait_subscribed()
        source = Source(world.clock, p1="shoe")
        try:
            await reader.get("p1", source.loader("p1"))
            source.rows["p1"] = "boot"
            await writer.invalidate("p1")
            assert reader_events.of(CacheInvalidated) == [
                CacheInvalidated("products", 1, remote=True)
            ]
            assert (await reader.get("p1", source.loader("p1"))).value == "boot"
            await writer.put("p1", "clog")
            assert (await reader.get("p1", source.loader("p1"))).value == "clog"
        finally:
            runner.cancel()


class TestConstruction:
    async def test_the_l1_bound_reports_evictions(self, world: World) -> None:
        cache, listener = world.process(l1_size=2)
        source = Source(world.clock, a="1", b="2", c="3")
        for key in "abc":
            await cache.get(key, source.loader(key))
        assert listener.of(CacheEvicted) == [CacheEvicted("products", 1)]

    async def test_an_eviction_callback_already_on_the_l1_is_kept(self, world: World) -> None:
        seen: list[int] = []
        l1: LruCache[str, Any] = LruCache(1, world.clock, on_evict=seen.append)
        listener = RecordingCacheListener()
        cache = LayeredCache(
            "c",
            codec=TextCodec(),
            policy=POLICY,
            clock=world.clock,
            rng=random.Random(1),
            l1=l1,
            listener=listener,
        )
        await cache.put("a", "1")
        await cache.put("b", "2")
        assert seen == [1]
        assert listener.of(CacheEvicted) == [CacheEvicted("c", 1)]

    async def test_the_null_listener_is_the_default(self, world: World) -> None:
        cache = LayeredCache(
            "c",
            codec=TextCodec(),
            policy=POLICY,
            clock=world.clock,
            rng=random.Random(1),
            l1=LruCache(10, world.clock),
            listener=NullCacheListener(),
        )
        source = Source(world.clock, k="v")
        await cache.get("k", source.loader("k"))
        assert (await cache.get("k", source.loader("k"))).status is CacheStatus.HIT
        assert (cache.name, cache.policy) == ("c", POLICY)

    @pytest.mark.parametrize("name", ["", "a#b"])
    def test_a_name_must_be_plain(self, world: World, name: str) -> None:
        with pytest.raises(CacheConfigurationError):
            LayeredCache(
                name,
                codec=TextCodec(),
                policy=POLICY,
                clock=world.clock,
                rng=random.Random(),
                l1=None,
            )

    def test_two_caches_of_one_name_cannot_share_a_router(self, world: World) -> None:
        one, _ = world.process()
        two, _ = world.process()
        with pytest.raises(CacheConfigurationError):
            route_invalidations([one, two])

    @pytest.mark.parametrize(
        ("field_name", "value"),
        [
            ("ttl_s", 0.0),
            ("ttl_s", float("inf")),
            ("negative_ttl_s", -1.0),
            ("stale_ttl_s", -1.0),
            ("jitter", 1.0),
            ("jitter", -0.1),
            ("early_beta", -1.0),
            ("lock_ttl_s", 0.0),
            ("lock_wait_s", -1.0),
            ("l1_ttl_s", 0.0),
            ("lock_poll_s", 0.0),
            ("ttl_s", "60"),
            ("ttl_s", True),
        ],
    )
    def test_a_policy_names_the_field_at_fault(self, field_name: str, value: object) -> None:
        with pytest.raises(CacheConfigurationError) as raised:
            replace(POLICY, **{field_name: value})
        assert raised.value.key == field_name
