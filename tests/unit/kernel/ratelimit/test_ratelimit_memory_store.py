"""MemoryRateLimitStore: the LRU bound, idle expiry and the synchronous capability."""

from __future__ import annotations

import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.ratelimit import (
    LocalRateLimitStore,
    MemoryRateLimitStore,
    RateLimit,
    RateLimitStore,
)

WINDOW = RateLimit.parse("fixed_window:3/10")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000.0)


class TestCapabilities:
    def test_offers_both_the_async_port_and_the_synchronous_capability(self) -> None:
        store = MemoryRateLimitStore()
        assert isinstance(store, RateLimitStore)
        assert isinstance(store, LocalRateLimitStore)

    async def test_decide_and_decide_now_share_the_state(self, clock: ManualClock) -> None:
        store = MemoryRateLimitStore(clock)
        assert store.decide_now(WINDOW, "k").remaining == 2
        assert (await store.decide(WINDOW, "k")).remaining == 1

    @pytest.mark.parametrize("max_keys", [0, -5])
    def test_a_bound_below_one_is_refused(self, max_keys: int) -> None:
        with pytest.raises(ConfigurationError) as raised:
            MemoryRateLimitStore(max_keys=max_keys)
        assert raised.value.key == "max_keys"


class TestLruBound:
    def test_forgets_the_least_recently_used_key_past_the_bound(self, clock: ManualClock) -> None:
        store = MemoryRateLimitStore(clock, max_keys=3)
        for key in ("a", "b", "c"):
            store.decide_now(WINDOW, key)
        store.decide_now(WINDOW, "a", 0)  # a peek is a use: "b" is now the oldest
        store.decide_now(WINDOW, "d")
        assert len(store) == 3
        assert store.max_keys == 3
        # "b" comes back fresh; "a" kept its count.
        assert store.decide_now(WINDOW, "a").remaining == 1
        assert store.decide_now(WINDOW, "b").remaining == 2

    def test_a_refusal_counts_as_a_use(self, clock: ManualClock) -> None:
        store = MemoryRateLimitStore(clock, max_keys=2)
        store.decide_now(WINDOW, "full", 3)
        store.decide_now(WINDOW, "other")
        assert not store.decide_now(WINDOW, "full").allowed
        store.decide_now(WINDOW, "new")  # evicts "other", not "full"
        assert not store.decide_now(WINDOW, "full").allowed

    def test_the_same_key_under_two_limits_takes_two_entries(self, clock: ManualClock) -> None:
        store = MemoryRateLimitStore(clock)
        store.decide_now(WINDOW, "k")
        store.decide_now(RateLimit.parse("token_bucket:3/10"), "k")
        assert len(store) == 2


class TestIdleExpiry:
    def test_a_peek_at_an_unknown_key_stores_nothing(self, clock: ManualClock) -> None:
        store = MemoryRateLimitStore(clock)
        assert store.decide_now(WINDOW, "k", 0).remaining == 3
        assert len(store) == 0

    def test_purge_drops_every_state_that_is_fresh_again(self, clock: ManualClock) -> None:
        store = MemoryRateLimitStore(clock)
        long_lived = RateLimit.parse("sliding_log:3/60")
        store.decide_now(WINDOW, "short")
        store.decide_now(long_lived, "long")
        clock.advance(10)  # the window has ended; the log entry has 50 s to go
        assert store.purge_expired() == 1
        assert len(store) == 1
        clock.advance(50)
        assert store.purge_expired() == 1
        assert len(store) == 0

    def test_writes_sweep_expired_entries_from_the_lru_end(self, clock: ManualClock) -> None:
        store = MemoryRateLimitStore(clock)
        for key in range(10):
            store.decide_now(WINDOW, f"idle-{key}")
        clock.advance(10)
        busy = RateLimit.parse("fixed_window:1000/10")
        # The sweep is amortised over writes; a few hundred writes certainly run one.
        for _ in range(300):
            store.decide_now(busy, "busy")
        assert len(store) == 1

    def test_an_expired_entry_read_before_any_sweep_decides_as_fresh(
        self, clock: ManualClock
    ) -> None:
        store = MemoryRateLimitStore(clock)
        store.decide_now(WINDOW, "k", 3)
        clock.advance(10)
        assert store.decide_now(WINDOW, "k").remaining == 2

    async def test_reset_removes_the_entry(self, clock: ManualClock) -> None:
        store = MemoryRateLimitStore(clock)
        store.decide_now(WINDOW, "k")
        await store.reset(WINDOW, "k")
        assert len(store) == 0
