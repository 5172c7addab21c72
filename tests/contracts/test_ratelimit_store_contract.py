"""The rate-limit store contract over every adapter (memory, Redis), plus Redis-only behaviour."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest
import redis.exceptions
from redis.asyncio import Redis

import bazaar.kernel.ratelimit.redis as redis_ratelimit
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.ratelimit import (
    Algorithm,
    FailureMode,
    RateLimit,
    RateLimiter,
    RateLimitStoreError,
    RecordingListener,
    RedisRateLimitStore,
    StoreFailed,
)
from bazaar.testing.contracts.ratelimit import (
    MemoryHarness,
    RateLimitStoreContract,
    RedisHarness,
)
from bazaar.testing.servers import RedisServer, find_free_port

ALGORITHMS = pytest.mark.parametrize(
    "algorithm", list(Algorithm), ids=[algorithm.value for algorithm in Algorithm]
)


@pytest.fixture
async def redis_harness(redis_url: str) -> AsyncIterator[RedisHarness]:
    harness = RedisHarness(redis_url)
    yield harness
    await harness.aclose()


class TestMemoryRateLimitStoreContract(RateLimitStoreContract):
    @pytest.fixture
    def ratelimit_harness(self) -> MemoryHarness:
        return MemoryHarness()


class TestRedisRateLimitStoreContract(RateLimitStoreContract):
    @pytest.fixture
    def ratelimit_harness(self, redis_harness: RedisHarness) -> RedisHarness:
        return redis_harness


class TestRedisRateLimitStore:
    @ALGORITHMS
    async def test_without_a_clock_the_scripts_run_on_the_server_time(
        self, redis_harness: RedisHarness, algorithm: Algorithm
    ) -> None:
        store = redis_harness.redis_store(server_time=True)
        client = redis_harness.client()
        limit = RateLimit(algorithm, 3, 60.0)
        seconds, micros = await client.time()
        before = seconds + micros / 1e6
        decisions = [await store.decide(limit, "server-time") for _ in range(4)]
        seconds, micros = await client.time()
        after = seconds + micros / 1e6
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert [d.remaining for d in decisions] == [2, 1, 0, 0]
        for decision in decisions:
            assert before < decision.reset_at <= after + 2 * 60.0
        assert 0 < decisions[3].retry_after_s <= 2 * 60.0

    async def test_a_redis_that_is_down_is_a_store_error(self) -> None:
        client = Redis.from_url(f"redis://127.0.0.1:{find_free_port()}/0")
        try:
            store = RedisRateLimitStore(client, clock=ManualClock())
            limit = RateLimit.parse("token_bucket:10/60")
            with pytest.raises(RateLimitStoreError) as raised:
                await store.decide(limit, "anyone")
            assert (raised.value.operation, raised.value.limit) == ("decide", str(limit))
            assert isinstance(raised.value.__cause__, redis.exceptions.ConnectionError)
            with pytest.raises(RateLimitStoreError) as raised:
                await store.reset(limit, "anyone")
            assert raised.value.operation == "reset"
        finally:
            await client.aclose()

    async def test_the_limiter_fails_open_or_closed_when_redis_is_down(self) -> None:
        client = Redis.from_url(f"redis://127.0.0.1:{find_free_port()}/0")
        try:
            clock, listener = ManualClock(), RecordingListener()
            store = RedisRateLimitStore(client, clock=clock)
            limit = RateLimit.parse("sliding_window:5/60")
            opened = RateLimiter("api", limit, store, listener=listener, clock=clock)
            closed = RateLimiter(
                "login", limit, store, failure_mode=FailureMode.CLOSED, clock=clock
            )
            admitted = await opened.decide("anyone")
            assert (admitted.allowed, admitted.store_failed) == (True, True)
            refused = await closed.decide("anyone")
            assert (refused.allowed, refused.retry_after_s, refused.store_failed) == (
                False,
                1.0,
                True,
            )
            assert listener.events == [StoreFailed("api", "ConnectionError", FailureMode.OPEN)]
        finally:
            await client.aclose()

    @ALGORITHMS
    async def test_a_flushed_script_is_loaded_again_and_the_state_kept(
        self, redis_harness: RedisHarness, algorithm: Algorithm
    ) -> None:
        store, limit = redis_harness.redis_store(), RateLimit(algorithm, 3, 60.0)
        assert (await store.decide(limit, "flushed")).remaining == 2
        await redis_harness.client().script_flush()
        assert (await store.decide(limit, "flushed")).remaining == 1
        assert (await store.decide(limit, "flushed")).remaining == 0

    @ALGORITHMS
    async def test_keys_are_short_hashes_that_expire_once_fresh_again(
        self, redis_harness: RedisHarness, algorithm: Algorithm
    ) -> None:
        store, client = redis_harness.redis_store(), redis_harness.client()
        limit = RateLimit(algorithm, 3, 60.0)
        raw_key = "someone@example.com"
        await store.decide(limit, raw_key)
        name = store.redis_key(limit, raw_key)
        assert name.startswith(redis_harness.key_prefix)
        assert raw_key not in name
        assert len(name) - len(redis_harness.key_prefix) == len("xx:") + 24  # 96-bit hex
        assert name != store.redis_key(RateLimit(algorithm, 4, 60.0), raw_key)
        # A second past the moment the state would be fresh again: at most two periods.
        assert 0 < await client.pttl(name) <= 2 * 60_000 + 1000

    async def test_remembered_key_names_are_bounded_and_name_the_same_state(
        self, redis_harness: RedisHarness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Names are hashed once per caller and remembered, up to a bound; forgetting them
        (the bound reached) changes nothing about the state they address."""
        monkeypatch.setattr(redis_ratelimit, "_MAX_NAMES", 3)
        store, limit = redis_harness.redis_store(), RateLimit.parse("fixed_window:2/60")
        assert (await store.decide(limit, "first")).remaining == 1
        for n in range(5):  # past the bound: the memory is emptied and refilled
            await store.decide(limit, f"other-{n}")
        plan = store._plans[limit.spec]
        assert 0 < len(plan.names) <= 3
        assert "first" not in plan.names
        assert (await store.decide(limit, "first")).remaining == 0
        name = store.redis_key(limit, "first").encode()
        assert plan.names["first"] == b"$%d\r\n%b\r\n" % (len(name), name)  # as sent

    async def test_a_key_that_is_not_valid_unicode_is_still_a_key(
        self, redis_harness: RedisHarness
    ) -> None:
        store, limit = redis_harness.redis_store(), RateLimit.parse("fixed_window:1/60")
        assert (await store.decide(limit, "bad\udcff")).allowed
        assert not (await store.decide(limit, "bad\udcff")).allowed
        assert (await store.decide(limit, "bad")).allowed

    async def test_a_peek_or_a_refusal_writes_nothing(self, redis_harness: RedisHarness) -> None:
        store, client = redis_harness.redis_store(), redis_harness.client()
        limit = RateLimit.parse("token_bucket:1/60")
        await store.decide(limit, "quiet", 0)
        assert await client.exists(store.redis_key(limit, "quiet")) == 0
        await store.decide(limit, "quiet")
        before = await client.get(store.redis_key(limit, "quiet"))
        await store.decide(limit, "quiet")
        assert await client.get(store.redis_key(limit, "quiet")) == before

    async def test_concurrent_callers_on_server_time_never_over_admit(
        self, redis_harness: RedisHarness
    ) -> None:
        # Real time passes between the calls here; the slow rate keeps refills negligible.
        stores = [redis_harness.redis_store(server_time=True) for _ in range(4)]
        limit = RateLimit.parse("token_bucket:50/86400")
        decisions = await asyncio.gather(
            *(stores[i % 4].decide(limit, "crowd") for i in range(200))
        )
        assert sum(d.allowed for d in decisions) == 50

    async def test_a_client_decoding_responses_is_refused(self, redis_url: str) -> None:
        async with Redis.from_url(redis_url, decode_responses=True) as client:
            with pytest.raises(ConfigurationError) as raised:
                RedisRateLimitStore(client)
        assert raised.value.key == "redis"

    async def test_a_client_of_one_connection_is_refused(self, redis_url: str) -> None:
        async with Redis.from_url(redis_url, single_connection_client=True) as client:
            with pytest.raises(ConfigurationError, match="pool") as raised:
                RedisRateLimitStore(client)
        assert raised.value.key == "redis"

    async def test_decisions_go_on_across_a_redis_restart(self, redis_server: RedisServer) -> None:
        """Decisions use the client's pooled connections directly: after a restart every
        pooled connection is dead and the scripts are gone, and the next decisions must
        still be answered (the pool reconnects, the store loads the script again)."""
        # A private server: restarting the session one would wipe other tests' data.
        with RedisServer(redis_server.executable) as server:
            client = Redis.from_url(server.url)
            try:
                # Server time; a refill this slow leaves the counts whole (no window edge).
                store = RedisRateLimitStore(client)
                limit = RateLimit.parse("token_bucket:50/86400")
                first = await asyncio.gather(*(store.decide(limit, "k") for _ in range(8)))
                assert [d.allowed for d in first] == [True] * 8
                assert len(client.connection_pool._available_connections) > 1
                server.restart()  # the state is lost with the data: a full bucket
                again = await asyncio.gather(*(store.decide(limit, "k") for _ in range(8)))
                assert sorted(d.remaining for d in again) == list(range(42, 50))
            finally:
                await client.aclose()

    @ALGORITHMS
    async def test_a_key_holding_something_else_is_a_store_error(
        self, redis_harness: RedisHarness, algorithm: Algorithm
    ) -> None:
        store, client = redis_harness.redis_store(), redis_harness.client()
        limit = RateLimit(algorithm, 3, 60.0)
        await client.rpush(store.redis_key(limit, "squatted"), "not a state")
        with pytest.raises(RateLimitStoreError) as raised:
            await store.decide(limit, "squatted")
        assert isinstance(raised.value.__cause__, redis.exceptions.ResponseError)

    async def test_a_sliding_log_of_a_length_no_log_has_is_a_store_error(
        self, redis_harness: RedisHarness
    ) -> None:
        store, client = redis_harness.redis_store(), redis_harness.client()
        limit = RateLimit.parse("sliding_log:3/60")
        await client.set(store.redis_key(limit, "squatted"), "not a log")
        with pytest.raises(RateLimitStoreError) as raised:
            await store.decide(limit, "squatted")
        assert "sliding log state of 9 bytes" in str(raised.value.__cause__)

    async def test_a_sliding_log_keeps_only_its_live_admission_times(
        self, redis_harness: RedisHarness
    ) -> None:
        store, client, clock = (
            redis_harness.redis_store(),
            redis_harness.client(),
            redis_harness.clock,
        )
        limit, start = RateLimit.parse("sliding_log:3/10"), redis_harness.clock.now()
        for _ in range(3):
            await store.decide(limit, "logged")
            clock.advance(1.0)
        clock.advance(start + 10.5 - clock.now())  # the first admission has left the window
        assert (await store.decide(limit, "logged")).remaining == 0
        state = await client.get(store.redis_key(limit, "logged"))
        assert struct.unpack("<3d", state) == (start + 1.0, start + 2.0, start + 10.5)

    @ALGORITHMS
    async def test_a_write_keeps_the_expiry_while_it_still_covers_the_state(
        self, redis_harness: RedisHarness, algorithm: Algorithm
    ) -> None:
        """Setting an expiry is the costliest part of a write: a window's later writes and
        a bucket's writes within a period of its last expiry keep the one the key has (the
        sliding log sets one on every write). Shortening the expiry by hand shows which."""
        store, client, clock = (
            redis_harness.redis_store(),
            redis_harness.client(),
            redis_harness.clock,
        )
        limit = RateLimit(algorithm, 3, 60.0)
        clock.advance(-clock.now() % 60.0)  # at the start of a window
        name = store.redis_key(limit, "expiring")
        await store.decide(limit, "expiring")
        assert 59_000 < await client.pttl(name) <= 2 * 60_000 + 1000
        await client.pexpire(name, 5_000)
        clock.advance(1.0)  # the same window; a bucket's state needs far less than a period
        await store.decide(limit, "expiring")
        kept = await client.pttl(name)
        if algorithm is Algorithm.SLIDING_LOG:
            assert kept > 59_000
        else:
            assert 0 < kept <= 5_000
        await client.pexpire(name, 5_000)
        clock.advance(60.0)  # the next window; the buckets' deadline no longer covers
        await store.decide(limit, "expiring")
        assert 59_000 < await client.pttl(name) <= 2 * 60_000 + 1000

    @pytest.mark.parametrize(
        ("algorithm", "level"),
        [(Algorithm.TOKEN_BUCKET, 1.0), (Algorithm.LEAKY_BUCKET, 2.0)],
        ids=["token_bucket", "leaky_bucket"],
    )
    async def test_a_bucket_written_without_a_deadline_is_read_and_given_one(
        self, redis_harness: RedisHarness, algorithm: Algorithm, level: float
    ) -> None:
        # States written before they carried their deadline (the previous scripts) are two
        # doubles; a process of either version reads what the other wrote.
        store, client = redis_harness.redis_store(), redis_harness.client()
        limit, now = RateLimit(algorithm, 3, 60.0), redis_harness.clock.now()
        name = store.redis_key(limit, "upgraded")
        # One token left; one unit of room left in the queue.
        await client.set(name, struct.pack("<2d", level, now), px=30_000)
        decision = await store.decide(limit, "upgraded")
        assert (decision.allowed, decision.remaining) == (True, 0)
        state = await client.get(name)
        assert struct.unpack("<3d", state)[2] == now + 61.0
        assert 59_000 < await client.pttl(name) <= 61_000
