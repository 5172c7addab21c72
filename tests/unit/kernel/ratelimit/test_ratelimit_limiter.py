"""RateLimiter: decisions through a store, failure modes when the store fails, and events."""

from __future__ import annotations

import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ratelimit import (
    FAIL_CLOSED_RETRY_CAP_S,
    Decision,
    FailureMode,
    MemoryRateLimitStore,
    NullListener,
    RateLimit,
    RateLimiter,
    RateLimitStoreError,
    RecordingListener,
    RequestAdmitted,
    RequestLimited,
    StoreFailed,
)

LOGIN = RateLimit.parse("fixed_window:2/900")


class DownStore:
    """A shared store whose backend is unreachable: every call raises, chained."""

    def __init__(self) -> None:
        self.calls = 0

    async def decide(self, limit: RateLimit, key: str, cost: int = 1) -> Decision:
        self.calls += 1
        try:
            raise ConnectionError("connection refused")
        except ConnectionError as exc:
            raise RateLimitStoreError("decide", str(limit)) from exc

    async def reset(self, limit: RateLimit, key: str) -> None:
        raise RateLimitStoreError("reset", str(limit))


class AwaitedStore:
    """A store offering only the async port, delegating to an in-memory one."""

    def __init__(self, inner: MemoryRateLimitStore) -> None:
        self.inner = inner
        self.awaited = 0

    async def decide(self, limit: RateLimit, key: str, cost: int = 1) -> Decision:
        self.awaited += 1
        return await self.inner.decide(limit, key, cost)

    async def reset(self, limit: RateLimit, key: str) -> None:
        await self.inner.reset(limit, key)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000.0)


class TestDecide:
    async def test_admits_then_limits_and_reports_both(self, clock: ManualClock) -> None:
        listener = RecordingListener()
        limiter = RateLimiter("login", LOGIN, MemoryRateLimitStore(clock), listener=listener)
        decisions = [await limiter.decide("ada@example.com") for _ in range(3)]
        assert [d.allowed for d in decisions] == [True, True, False]
        assert not any(d.store_failed for d in decisions)
        assert listener.events == [
            RequestAdmitted("login", "ada@example.com"),
            RequestAdmitted("login", "ada@example.com"),
            RequestLimited("login", "ada@example.com", decisions[2].retry_after_s),
        ]
        # Fixed windows are aligned to the epoch: [900, 1800) ends 800 s after t=1000.
        assert listener.of_type(RequestLimited)[0].retry_after_s == 800.0

    async def test_a_peek_reports_the_standing_but_emits_no_event(self, clock: ManualClock) -> None:
        listener = RecordingListener()
        limiter = RateLimiter("login", LOGIN, MemoryRateLimitStore(clock), listener=listener)
        await limiter.decide("k", cost=2)
        peek = await limiter.decide("k", cost=0)
        assert (peek.allowed, peek.remaining) == (False, 0)
        assert listener.events == [RequestAdmitted("login", "k")]

    async def test_a_store_with_only_the_async_port_is_awaited(self, clock: ManualClock) -> None:
        store = AwaitedStore(MemoryRateLimitStore(clock))
        limiter = RateLimiter("api", LOGIN, store)
        assert (await limiter.decide("k")).remaining == 1
        assert store.awaited == 1

    async def test_a_bad_cost_is_a_value_error_not_a_failure(self, clock: ManualClock) -> None:
        listener = RecordingListener()
        limiter = RateLimiter(
            "login", LOGIN, MemoryRateLimitStore(clock), listener=listener, clock=clock
        )
        with pytest.raises(ValueError, match="cost"):
            await limiter.decide("k", cost=3)
        assert listener.events == []

    async def test_reset_lets_the_key_start_over(self, clock: ManualClock) -> None:
        limiter = RateLimiter("login", LOGIN, MemoryRateLimitStore(clock))
        await limiter.decide("k", cost=2)
        await limiter.reset("k")
        assert (await limiter.decide("k")).remaining == 1

    async def test_exposes_its_configuration(self, clock: ManualClock) -> None:
        store = MemoryRateLimitStore(clock)
        limiter = RateLimiter("login", LOGIN, store, failure_mode=FailureMode.CLOSED)
        assert (limiter.name, limiter.limit, limiter.store, limiter.failure_mode) == (
            "login",
            LOGIN,
            store,
            FailureMode.CLOSED,
        )


class TestFailureModes:
    async def test_fails_open_by_default_admitting_with_the_whole_limit(
        self, clock: ManualClock
    ) -> None:
        listener = RecordingListener()
        limiter = RateLimiter("api", LOGIN, DownStore(), listener=listener, clock=clock)
        decision = await limiter.decide("k")
        assert decision == Decision(True, 2, 2, clock.now(), 0.0, store_failed=True)
        assert listener.events == [StoreFailed("api", "ConnectionError", FailureMode.OPEN)]

    async def test_fails_closed_refusing_for_a_second_at_most(self, clock: ManualClock) -> None:
        listener = RecordingListener()
        limiter = RateLimiter(
            "login",
            LOGIN,
            DownStore(),
            failure_mode=FailureMode.CLOSED,
            listener=listener,
            clock=clock,
        )
        decision = await limiter.decide("k")
        assert decision == Decision(
            False, 2, 0, clock.now() + 1.0, FAIL_CLOSED_RETRY_CAP_S, store_failed=True
        )
        assert listener.events == [StoreFailed("login", "ConnectionError", FailureMode.CLOSED)]

    async def test_a_short_period_caps_the_fail_closed_retry(self, clock: ManualClock) -> None:
        limit = RateLimit.parse("token_bucket:10/0.25")
        limiter = RateLimiter(
            "burst", limit, DownStore(), failure_mode=FailureMode.CLOSED, clock=clock
        )
        assert (await limiter.decide("k")).retry_after_s == 0.25

    async def test_every_call_asks_the_store_again(self, clock: ManualClock) -> None:
        store = DownStore()
        limiter = RateLimiter("api", LOGIN, store, clock=clock)
        for _ in range(3):
            await limiter.decide("k")
        assert store.calls == 3

    async def test_a_failed_reset_is_raised(self, clock: ManualClock) -> None:
        limiter = RateLimiter("login", LOGIN, DownStore(), clock=clock)
        with pytest.raises(RateLimitStoreError) as raised:
            await limiter.reset("k")
        assert raised.value.operation == "reset"

    async def test_the_error_type_falls_back_to_the_store_error_itself(
        self, clock: ManualClock
    ) -> None:
        class BareFailure(DownStore):
            async def decide(self, limit: RateLimit, key: str, cost: int = 1) -> Decision:
                raise RateLimitStoreError("decide", str(limit))

        listener = RecordingListener()
        limiter = RateLimiter("api", LOGIN, BareFailure(), listener=listener, clock=clock)
        await limiter.decide("k")
        assert listener.events == [StoreFailed("api", "RateLimitStoreError", FailureMode.OPEN)]


class TestListeners:
    def test_the_null_listener_drops_events(self) -> None:
        NullListener().on_event(RequestAdmitted("api", "k"))

    def test_the_recording_listener_filters_and_clears(self) -> None:
        listener = RecordingListener()
        listener.on_event(RequestAdmitted("api", "a"))
        listener.on_event(RequestLimited("api", "b", 1.5))
        assert listener.of_type(RequestLimited) == [RequestLimited("api", "b", 1.5)]
        listener.clear()
        assert listener.events == []
