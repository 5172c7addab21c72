"""LruCache: the size bound in LRU order, TTL on the injected clock, eviction reports."""

from __future__ import annotations

import pytest

from bazaar.kernel.cache import CacheConfigurationError, LruCache
from bazaar.kernel.clock import ManualClock, SystemClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


class TestSizeBound:
    def test_evicts_the_least_recently_written_at_the_bound(self, clock: ManualClock) -> None:
        cache: LruCache[str, int] = LruCache(3, clock)
        for i, key in enumerate("abcd"):
            cache.put(key, i, 60.0)
        assert cache.keys_lru_order() == ["b", "c", "d"]
        assert cache.get("a") is None
        assert len(cache) == 3

    def test_a_read_makes_a_key_the_most_recently_used(self, clock: ManualClock) -> None:
        cache: LruCache[str, int] = LruCache(3, clock)
        for i, key in enumerate("abc"):
            cache.put(key, i, 60.0)
        assert cache.get("a") == 0
        cache.put("d", 3, 60.0)
        assert cache.keys_lru_order() == ["c", "a", "d"]
        assert "b" not in cache

    def test_overwriting_a_key_refreshes_it_without_evicting(self, clock: ManualClock) -> None:
        evicted: list[int] = []
        cache: LruCache[str, int] = LruCache(2, clock, on_evict=evicted.append)
        cache.put("a", 1, 60.0)
        cache.put("b", 2, 60.0)
        cache.put("a", 10, 60.0)
        assert cache.keys_lru_order() == ["b", "a"]
        assert cache.get("a") == 10
        assert evicted == []
        cache.put("c", 3, 60.0)
        assert cache.keys_lru_order() == ["a", "c"]
        assert evicted == [1]

    def test_dropping_an_expired_entry_for_room_is_not_an_eviction(
        self, clock: ManualClock
    ) -> None:
        evicted: list[int] = []
        cache: LruCache[str, int] = LruCache(2, clock, on_evict=evicted.append)
        cache.put("short", 1, 1.0)
        cache.put("long", 2, 60.0)
        clock.advance(2.0)
        cache.put("new", 3, 60.0)
        assert evicted == []
        cache.put("newer", 4, 60.0)
        assert evicted == [1]
        assert cache.keys_lru_order() == ["new", "newer"]

    def test_a_contains_check_changes_neither_order_nor_content(self, clock: ManualClock) -> None:
        cache: LruCache[str, int] = LruCache(2, clock)
        cache.put("a", 1, 60.0)
        cache.put("b", 2, 60.0)
        assert "a" in cache
        assert 42 not in cache
        cache.put("c", 3, 60.0)
        assert cache.keys_lru_order() == ["b", "c"]

    @pytest.mark.parametrize("bound", [0, -1, 1.5, True])
    def test_a_bound_below_one_is_refused(self, clock: ManualClock, bound: object) -> None:
        with pytest.raises(CacheConfigurationError) as raised:
            LruCache(bound, clock)  # type: ignore[arg-type]
        assert raised.value.key == "max_entries"


class TestTtl:
    def test_an_entry_is_fresh_until_its_ttl_has_passed(self, clock: ManualClock) -> None:
        cache: LruCache[str, str] = LruCache(10, clock)
        cache.put("k", "v", 5.0)
        clock.advance(4.999)
        assert cache.get("k") == "v"
        clock.advance(0.001)
        assert cache.get("k") is None
        assert len(cache) == 0  # removed by the read that found it expired

    def test_expired_entries_count_until_removed_but_are_never_served(
        self, clock: ManualClock
    ) -> None:
        cache: LruCache[str, str] = LruCache(10, clock)
        cache.put("a", "1", 1.0)
        cache.put("b", "2", 10.0)
        clock.advance(1.0)
        assert len(cache) == 2
        assert "a" not in cache
        assert cache.keys_lru_order() == ["b"]
        assert cache.delete("a") is False  # expired: nothing fresh was removed
        assert len(cache) == 1

    def test_a_write_restarts_the_ttl(self, clock: ManualClock) -> None:
        cache: LruCache[str, str] = LruCache(10, clock)
        cache.put("k", "old", 2.0)
        clock.advance(1.5)
        cache.put("k", "new", 2.0)
        clock.advance(1.5)
        assert cache.get("k") == "new"

    @pytest.mark.parametrize("ttl_s", [0.0, -3.0])
    def test_a_ttl_of_zero_or_less_removes_the_key(self, clock: ManualClock, ttl_s: float) -> None:
        cache: LruCache[str, str] = LruCache(10, clock)
        cache.put("k", "v", 60.0)
        cache.put("k", "gone", ttl_s)
        assert cache.get("k") is None
        assert len(cache) == 0

    def test_runs_on_the_system_clock(self) -> None:
        cache: LruCache[str, str] = LruCache(10, SystemClock())
        cache.put("k", "v", 60.0)
        cache.put("gone", "v", 1e-9)
        assert cache.get("k") == "v"
        assert "gone" not in cache


class TestHousekeeping:
    def test_delete_and_clear(self, clock: ManualClock) -> None:
        cache: LruCache[str, int] = LruCache(10, clock)
        cache.put("a", 1, 60.0)
        cache.put("b", 2, 60.0)
        assert cache.delete("a") is True
        assert cache.delete("a") is False
        cache.clear()
        assert len(cache) == 0
        assert cache.keys_lru_order() == []

    def test_values_are_stored_as_given(self, clock: ManualClock) -> None:
        value = {"mutable": [1]}
        cache: LruCache[str, dict[str, list[int]]] = LruCache(10, clock)
        cache.put("k", value, 60.0)
        assert cache.get("k") is value
        assert cache.max_entries == 10
