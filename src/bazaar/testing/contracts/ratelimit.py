"""The contract of ``RateLimitStore``: every adapter decides exactly as the pure cores do."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any, Protocol

import pytest
from redis.asyncio import Redis

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ratelimit import (
    Algorithm,
    Decision,
    MemoryRateLimitStore,
    RateLimit,
    RateLimitStore,
    RedisRateLimitStore,
    core_for,
)

__all__ = [
    "CONTRACT_START",
    "MemoryHarness",
    "RateLimitStoreContract",
    "RateLimitStoreHarness",
    "RedisHarness",
]

# An epoch-sized start, as production clocks read: the float arithmetic then runs at the
# magnitudes it must be exact at (a multiple of every period the suite uses, too).
CONTRACT_START = 1_700_000_000.0


class RateLimitStoreHarness(Protocol):
    """What the suite needs from an adapter: stores on one shared state, and their clock.

    Every ``store()`` of one harness sees the same keys, as the API processes of one
    deployment do; an adapter whose state is per process returns the same store each time.
    """

    clock: ManualClock

    def store(self) -> RateLimitStore:
        """A handle on this test's shared state (a new "process" where that exists)."""
        ...


class MemoryHarness:
    """``MemoryRateLimitStore`` on a ``ManualClock``; one store stands for the whole state."""

    def __init__(self) -> None:
        self.clock = ManualClock(start=CONTRACT_START)
        self._store = MemoryRateLimitStore(self.clock)

    def store(self) -> RateLimitStore:
        return self._store


class RedisHarness:
    """``RedisRateLimitStore``s on one real Redis, under a key prefix unique to the test.

    Each ``store()`` has its own client and connection pool, like a separate API process.
    The scripts take their time from the shared ``ManualClock`` instead of the server's
    ``TIME``, so windows pass without sleeping.
    """

    def __init__(self, url: str) -> None:
        self.clock = ManualClock(start=CONTRACT_START)
        self.key_prefix = f"bazaar:test:rl:{uuid.uuid4().hex[:12]}:"
        self.url = url
        self._clients: list[Redis] = []

    def store(self) -> RateLimitStore:
        return self.redis_store()

    def client(self, **options: Any) -> Redis:
        """A new client on the test's Redis, closed by ``aclose``."""
        client = Redis.from_url(self.url, **options)
        self._clients.append(client)
        return client

    def redis_store(self, *, server_time: bool = False) -> RedisRateLimitStore:
        """A store with its own client; on the server's ``TIME`` if ``server_time``."""
        clock = None if server_time else self.clock
        return RedisRateLimitStore(self.client(), key_prefix=self.key_prefix, clock=clock)

    async def aclose(self) -> None:
        """Delete this test's keys and close every client."""
        if self._clients:
            client = self._clients[0]
            keys = [key async for key in client.scan_iter(match=self.key_prefix + "*")]
            if keys:
                await client.delete(*keys)
        for client in self._clients:
            await client.aclose()
        self._clients.clear()


async def decide_all(
    store: RateLimitStore, limit: RateLimit, key: str, costs: list[int]
) -> list[Decision]:
    """Decide one request per cost, in order."""
    return [await store.decide(limit, key, cost) for cost in costs]


class RateLimitStoreContract:
    """Subclass and provide a ``ratelimit_harness`` fixture yielding a
    ``RateLimitStoreHarness``. Every test runs once per algorithm, on keys of its own.
    """

    @pytest.fixture(params=list(Algorithm), ids=[algorithm.value for algorithm in Algorithm])
    def algorithm(self, request: pytest.FixtureRequest) -> Algorithm:
        chosen: Algorithm = request.param
        return chosen

    @pytest.fixture
    def key(self) -> str:
        return f"client-{uuid.uuid4().hex[:8]}"

    async def test_a_fresh_key_admits_up_to_the_limit_then_refuses(
        self, ratelimit_harness: RateLimitStoreHarness, algorithm: Algorithm, key: str
    ) -> None:
        limit = RateLimit(algorithm, 5, 60.0)
        decisions = await decide_all(ratelimit_harness.store(), limit, key, [1] * 6)
        assert [d.allowed for d in decisions] == [True] * 5 + [False]
        assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
        assert {d.limit for d in decisions} == {5}
        assert [d.retry_after_s for d in decisions[:5]] == [0.0] * 5
        assert decisions[5].retry_after_s > 0
        assert all(d.reset_at >= ratelimit_harness.clock.now() for d in decisions)

    async def test_decides_exactly_as_the_pure_core_over_random_sequences(
        self, ratelimit_harness: RateLimitStoreHarness, algorithm: Algorithm, key: str
    ) -> None:
        # Seeded, so a failure replays. Periods that are not binary fractions (0.3 s, 7 s)
        # make the float arithmetic round: the adapter must round exactly as the core does.
        rng = random.Random(20_240_601)
        clock, store = ratelimit_harness.clock, ratelimit_harness.store()
        # The last case keeps hundreds of units live, as a busy caller's sliding log holds.
        cases = [(5, 10.0), (3, 0.3), (7, 7.0), (40, 60.0), (500, 30.0)]
        for case, (count, period) in enumerate(cases):
            limit = RateLimit(algorithm, count, period)
            core, state, name = core_for(limit), None, f"{key}-{case}"
            for step in range(80):
                clock.advance(rng.choice([0.0, 0.0, 0.05, 0.1, period / 3, period, 2.5]))
                cost = rng.choice([0, 1, 1, 1, 2, count])
                expected, state, _ = core.apply(state, clock.now(), cost)
                got = await store.decide(limit, name, cost)
                assert got == expected, f"{limit} step {step}, cost {cost}"

    async def test_a_zero_cost_peek_reports_without_consuming(
        self, ratelimit_harness: RateLimitStoreHarness, algorithm: Algorithm, key: str
    ) -> None:
        store, limit = ratelimit_harness.store(), RateLimit(algorithm, 3, 60.0)
        fresh = await store.decide(limit, key, 0)
        assert (fresh.allowed, fresh.remaining, fresh.retry_after_s) == (True, 3, 0.0)
        await decide_all(store, limit, key, [1, 1])
        peeks = await decide_all(store, limit, key, [0, 0])
        assert peeks[0] == peeks[1]
        assert (peeks[0].allowed, peeks[0].remaining) == (True, 1)
        last = await store.decide(limit, key)
        assert (last.allowed, last.remaining) == (True, 0)
        empty = await store.decide(limit, key, 0)
        assert (empty.allowed, empty.remaining) == (False, 0)
        assert empty.retry_after_s > 0

    async def test_a_request_costing_several_units_takes_them_all_or_none(
        self, ratelimit_harness: RateLimitStoreHarness, algorithm: Algorithm, key: str
    ) -> None:
        store, limit = ratelimit_harness.store(), RateLimit(algorithm, 10, 60.0)
        decisions = await decide_all(store, limit, key, [4, 4, 4, 2])
        assert [(d.allowed, d.remaining) for d in decisions] == [
            (True, 6),
            (True, 2),
            (False, 2),
            (True, 0),
        ]

    async def test_reset_forgets_the_key(
        self, ratelimit_harness: RateLimitStoreHarness, algorithm: Algorithm, key: str
    ) -> None:
        store, limit = ratelimit_harness.store(), RateLimit(algorithm, 2, 60.0)
        assert [d.allowed for d in await decide_all(store, limit, key, [1, 1, 1])] == [
            True,
            True,
            False,
        ]
        await store.reset(limit, key)
        again = await store.decide(limit, key)
        assert (again.allowed, again.remaining) == (True, 1)
        await store.reset(limit, f"{key}-never-seen")  # forgetting nothing is fine

    async def test_keys_are_isolated(
        self, ratelimit_harness: RateLimitStoreHarness, algorithm: Algorithm, key: str
    ) -> None:
        store, limit = ratelimit_harness.store(), RateLimit(algorithm, 2, 60.0)
        await decide_all(store, limit, key, [2])
        assert not (await store.decide(limit, key)).allowed
        other = await store.decide(limit, f"{key}-other")
        assert (other.allowed, other.remaining) == (True, 1)

    async def test_the_same_key_under_two_limits_is_two_counters(
        self, ratelimit_harness: RateLimitStoreHarness, algorithm: Algorithm, key: str
    ) -> None:
        store = ratelimit_harness.store()
        tight, loose = RateLimit(algorithm, 1, 60.0), RateLimit(algorithm, 3, 60.0)
        assert (await store.decide(tight, key)).allowed
        assert not (await store.decide(tight, key)).allowed
        assert (await store.decide(loose, key)).remaining == 2

    async def test_a_cost_outside_zero_to_the_limit_is_a_value_error(
        self, ratelimit_harness: RateLimitStoreHarness, algorithm: Algorithm, key: str
    ) -> None:
        store, limit = ratelimit_harness.store(), RateLimit(algorithm, 3, 60.0)
        with pytest.raises(ValueError, match="cost"):
            await store.decide(limit, key, 4)
        with pytest.raises(ValueError, match="cost"):
            await store.decide(limit, key, -1)
        assert (await store.decide(limit, key, 0)).remaining == 3

    async def test_admits_again_once_retry_after_has_passed(
        self, ratelimit_harness: RateLimitStoreHarness, algorithm: Algorithm, key: str
    ) -> None:
        # Binary fractions throughout (4 per 8 s: one unit every 2 s), so the arithmetic is
        # exact and the boundary falls exactly where retry_after_s says.
        store, clock = ratelimit_harness.store(), ratelimit_harness.clock
        limit = RateLimit(algorithm, 4, 8.0)
        clock.advance(1.5)
        await decide_all(store, limit, key, [1, 1, 1, 1])
        clock.advance(0.5)
        refused = await store.decide(limit, key)
        assert not refused.allowed
        clock.advance(refused.retry_after_s - 0.125)
        assert not (await store.decide(limit, key)).allowed
        clock.advance(0.125)
        assert (await store.decide(limit, key)).allowed

    async def test_concurrent_callers_never_over_admit(
        self, ratelimit_harness: RateLimitStoreHarness, algorithm: Algorithm, key: str
    ) -> None:
        # Four "processes" (their own clients and pools, for Redis) firing 200 requests at
        # once on one key: exactly the limit gets through, whatever the interleaving.
        stores = [ratelimit_harness.store() for _ in range(4)]
        limit = RateLimit(algorithm, 50, 3600.0)
        decisions = await asyncio.gather(*(stores[i % 4].decide(limit, key) for i in range(200)))
        assert sum(d.allowed for d in decisions) == 50
        assert sorted(d.remaining for d in decisions if d.allowed) == list(range(50))
        assert (await stores[0].decide(limit, key, 0)).remaining == 0
