"""LruCache against a reference model (an OrderedDict replayed by hand), TTL included."""

from __future__ import annotations

from collections import OrderedDict

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from bazaar.kernel.cache import LruCache
from bazaar.kernel.clock import ManualClock

BOUND = 4
keys = st.sampled_from(["a", "b", "c", "d", "e", "f"])
# Multiples of 1/4 s: exact in binary, so "expired" is never a rounding question.
ttls = st.integers(-1, 12).map(lambda quarters: quarters / 4)
steps = st.integers(0, 8).map(lambda quarters: quarters / 4)


class LruModel(RuleBasedStateMachine):
    """The model keeps ``key -> (value, expires_at)`` in recency order, oldest first."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.evictions: list[int] = []
        self.cache: LruCache[str, int] = LruCache(BOUND, self.clock, on_evict=self.evictions.append)
        self.model: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self.model_evictions = 0
        self.writes = 0

    def fresh(self, key: str) -> bool:
        return key in self.model and self.model[key][1] > self.clock.monotonic()

    @rule(key=keys, ttl_s=ttls)
    def put(self, key: str, ttl_s: float) -> None:
        self.writes += 1
        self.cache.put(key, self.writes, ttl_s)
        if ttl_s <= 0:
            self.model.pop(key, None)
            return
        now = self.clock.monotonic()
        self.model[key] = (self.writes, now + ttl_s)
        self.model.move_to_end(key)
        if len(self.model) > BOUND:
            _, (_, expires_at) = self.model.popitem(last=False)
            if expires_at > now:
                self.model_evictions += 1

    @rule(key=keys)
    def get(self, key: str) -> None:
        expected = None
        if key in self.model:
            if self.fresh(key):
                self.model.move_to_end(key)
                expected = self.model[key][0]
            else:
                del self.model[key]
        assert self.cache.get(key) == expected

    @rule(key=keys)
    def delete(self, key: str) -> None:
        expected = self.fresh(key)
        self.model.pop(key, None)
        assert self.cache.delete(key) is expected

    @rule(key=keys)
    def contains(self, key: str) -> None:
        assert (key in self.cache) is self.fresh(key)

    @rule(seconds=steps)
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @invariant()
    def agrees_with_the_model(self) -> None:
        now = self.clock.monotonic()
        assert self.cache.keys_lru_order() == [k for k, (_, e) in self.model.items() if e > now]
        assert len(self.cache) == len(self.model) <= BOUND
        assert sum(self.evictions) == self.model_evictions


TestLruCacheAgainstTheModel = LruModel.TestCase
TestLruCacheAgainstTheModel.settings = settings(
    max_examples=300, stateful_step_count=60, deadline=None
)
