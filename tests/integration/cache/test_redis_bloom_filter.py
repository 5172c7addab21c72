"""The Redis Bloom filter on a real Redis: the port's promises, and rebuilds that never tear."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.exceptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from bazaar.kernel.cache.bloom import (
    BloomFilter,
    BloomFilterNotReadyError,
    BloomFilterRebuildConflictError,
    BloomFilterUnavailableError,
    BloomKey,
    BloomParameters,
    InMemoryBloomFilter,
    RedisBloomFilter,
)
from bazaar.kernel.cache.errors import CacheConfigurationError
from bazaar.testing.servers import find_free_port

SMALL = BloomParameters.for_capacity(1_000, 0.01)
Make = Callable[..., RedisBloomFilter]


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def make(client: Redis) -> AsyncIterator[Make]:
    """Filters under a key prefix of the test's own, deleted afterwards."""
    prefix = f"test:bloom:{uuid.uuid4().hex[:12]}:"

    def build(
        params: BloomParameters = SMALL, *, name: str = "products", rebuild_ttl_s: float = 60.0
    ) -> RedisBloomFilter:
        return RedisBloomFilter(
            client, name, params, key_prefix=prefix, rebuild_ttl_s=rebuild_ttl_s
        )

    yield build
    async for key in client.scan_iter(match=f"{prefix}*"):
        await client.delete(key)


class Gate:
    """A source of ids that stops after its first id until ``open()``: a rebuild held mid-way."""

    def __init__(self, items: list[str]) -> None:
        self.items = items
        self.reached = asyncio.Event()
        self._open = asyncio.Event()

    def open(self) -> None:
        self._open.set()

    async def source(self) -> AsyncIterator[str]:
        yield self.items[0]
        self.reached.set()
        await self._open.wait()
        for item in self.items[1:]:
            yield item


class TestBeforeTheFirstRebuild:
    async def test_a_filter_never_built_cannot_answer(self, make: Make) -> None:
        bloom = make()
        assert isinstance(bloom, BloomFilter)
        assert not await bloom.ready()
        with pytest.raises(BloomFilterNotReadyError) as raised:
            await bloom.might_contain("product:1")
        # Callers that fall back on "unavailable" fall back here too.
        assert isinstance(raised.value, BloomFilterUnavailableError)

    async def test_adding_to_a_filter_never_built_does_not_create_it(self, make: Make) -> None:
        # A filter of only the ids added since would deny every older one.
        bloom = make()
        await bloom.add("product:1")
        await bloom.add_many(["product:2", 3])
        assert not await bloom.ready()

    async def test_a_rebuild_from_nothing_makes_an_empty_filter(self, make: Make) -> None:
        bloom = make()
        assert await bloom.rebuild([]) == 0
        assert await bloom.ready()
        assert not await bloom.might_contain("product:1")
        assert await bloom.count_bits_set() == 0

    async def test_other_parameters_are_another_filter(self, make: Make) -> None:
        await make().rebuild(["a"])
        resized = make(BloomParameters.for_capacity(5_000, 0.01))
        assert not await resized.ready()  # never offsets read against another size

    def test_refuses_a_rebuild_ttl_that_is_not_positive(self, make: Make) -> None:
        with pytest.raises(CacheConfigurationError) as raised:
            make(rebuild_ttl_s=0.0)
        assert raised.value.key == "rebuild_ttl_s"


class TestAnswers:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        added=st.lists(st.one_of(st.text(max_size=30), st.integers(-(2**64), 2**64)), max_size=60)
    )
    async def test_never_forgets_an_id_it_was_given(
        self, make: Make, added: list[BloomKey]
    ) -> None:
        bloom = make(name=f"p-{uuid.uuid4().hex}")
        await bloom.rebuild([])
        half = len(added) // 2
        for key in added[:half]:
            await bloom.add(key)
        await bloom.add_many(added[half:])
        for key in added:
            assert await bloom.might_contain(key)

    async def test_keeps_the_same_bits_as_the_in_memory_filter(
        self, make: Make, client: Redis
    ) -> None:
        params = BloomParameters.for_capacity(10_000, 0.01)
        bloom = make(params)
        local = InMemoryBloomFilter(params)
        ids = [f"link:{i}" for i in range(10_000)]
        await bloom.rebuild(ids[:5_000])
        await bloom.add_many(ids[5_000:])
        local.add_many_now(ids)

        assert await client.get(bloom.key) == local.to_bytes()
        assert await bloom.count_bits_set() == local.count_bits_set()

    async def test_wrongly_claims_no_more_than_about_the_rate_it_was_sized_for(
        self, make: Make
    ) -> None:
        bloom = make(BloomParameters.for_capacity(10_000, 0.01))
        await bloom.rebuild(f"link:{i}" for i in range(10_000))
        fresh = 5_000
        claims = [await bloom.might_contain(f"absent:{i}") for i in range(fresh)]
        assert sum(claims) / fresh < 0.02

    async def test_recovers_when_redis_has_lost_its_scripts(
        self, make: Make, client: Redis
    ) -> None:
        bloom = make()
        await bloom.rebuild(["a"])
        await client.script_flush()
        await bloom.add("b")
        assert await bloom.might_contain("b")

    async def test_an_unreachable_redis_is_reported_as_unavailable(self) -> None:
        down = Redis.from_url(f"redis://127.0.0.1:{find_free_port()}/0")
        try:
            bloom = RedisBloomFilter(down, "products", SMALL)
            attempts: list[Callable[[], Awaitable[object]]] = [
                lambda: bloom.might_contain("a"),
                lambda: bloom.add("a"),
                lambda: bloom.rebuild(["a"]),
                bloom.ready,
            ]
            for attempt in attempts:
                with pytest.raises(BloomFilterUnavailableError) as raised:
                    await attempt()
                assert isinstance(raised.value.__cause__, redis.exceptions.ConnectionError)
        finally:
            await down.aclose()


class TestRebuild:
    async def test_replaces_the_contents_but_for_false_positives(self, make: Make) -> None:
        bloom = make()
        old = [f"old:{i}" for i in range(1_000)]
        new = [f"new:{i}" for i in range(1_000)]
        await bloom.rebuild(old)

        assert await bloom.rebuild(new) == len(new)

        assert all([await bloom.might_contain(key) for key in new])
        still_claimed = sum([await bloom.might_contain(key) for key in old])
        assert still_claimed / len(old) < 0.03

    async def test_a_reader_during_a_rebuild_sees_the_old_filter_or_the_new_one(
        self, make: Make, client: Redis
    ) -> None:
        bloom = make()
        await bloom.rebuild(f"old:{i}" for i in range(1_000))
        old_bits = await client.get(bloom.key)
        new_ids = [f"new:{i}" for i in range(3_500)]  # four chunks, four round trips
        expected = InMemoryBloomFilter(SMALL)
        expected.add_many_now(new_ids)
        seen: list[bytes | None] = []
        rebuilt = asyncio.Event()

        async def reader() -> None:
            while not rebuilt.is_set():
                seen.append(await client.get(bloom.key))

        async def source() -> AsyncIterator[str]:
            for i, key in enumerate(new_ids):
                if i % 250 == 0:
                    await asyncio.sleep(0)  # let the reader in between the writes
                yield key

        watching = asyncio.create_task(reader())
        await bloom.rebuild(source())
        rebuilt.set()
        await watching
        seen.append(await client.get(bloom.key))

        assert set(seen) == {old_bits, expected.to_bytes()}
        assert seen[0] == old_bits
        assert seen[-1] == expected.to_bytes()

    async def test_an_id_added_while_a_rebuild_runs_survives_it(self, make: Make) -> None:
        bloom = make()
        await bloom.rebuild([])

        async def source() -> AsyncIterator[str]:
            yield "listed"
            # The store committed "late" after the rebuild's query had passed it.
            await bloom.add("late")
            for i in range(1_500):  # the add lands between two chunk writes
                yield f"listed:{i}"

        await bloom.rebuild(source())
        assert await bloom.might_contain("late")
        assert await bloom.might_contain("listed:1499")

    async def test_the_keys_of_a_rebuild_in_progress_expire_if_it_dies(
        self, make: Make, client: Redis
    ) -> None:
        bloom = make(rebuild_ttl_s=30.0)
        gate = Gate(["a", "b"])
        running = asyncio.create_task(bloom.rebuild(gate.source()))
        await gate.reached.wait()
        assert 0 < await client.pttl(f"{bloom.key}:build") <= 30_000
        assert 0 < await client.pttl(f"{bloom.key}:owner") <= 30_000
        gate.open()
        await running
        # RENAME carried the TTL over; the live filter must not expire.
        assert await client.pttl(bloom.key) == -1
        assert not await client.exists(f"{bloom.key}:build", f"{bloom.key}:owner")

    async def test_a_second_rebuild_while_one_runs_is_refused(self, make: Make) -> None:
        bloom = make()
        gate = Gate(["a", "b"])
        first = asyncio.create_task(bloom.rebuild(gate.source()))
        await gate.reached.wait()

        with pytest.raises(BloomFilterRebuildConflictError):
            await make().rebuild(["c"])

        gate.open()
        assert await first == 2
        assert await bloom.might_contain("a")

    async def test_a_failed_rebuild_leaves_the_live_filter_and_no_leftovers(
        self, make: Make, client: Redis
    ) -> None:
        bloom = make()
        await bloom.rebuild(["kept"])
        before = await client.get(bloom.key)

        async def broken() -> AsyncIterator[str]:
            yield "x"
            raise ConnectionError("the database went away")

        with pytest.raises(ConnectionError):
            await bloom.rebuild(broken())

        assert await client.get(bloom.key) == before
        assert not await client.exists(f"{bloom.key}:build", f"{bloom.key}:owner")
        assert await bloom.rebuild(["next"]) == 1  # nothing holds the rebuild
