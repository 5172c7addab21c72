"""In-process rate-limit store: per-key state in a bounded LRU map, no I/O (the default)."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.ratelimit.algorithms import core_for
from bazaar.kernel.ratelimit.policy import Decision, RateLimit
from bazaar.kernel.ratelimit.ports import RateLimitAlgorithm

__all__ = ["DEFAULT_MAX_KEYS", "MemoryRateLimitStore"]

DEFAULT_MAX_KEYS = 100_000
# Every this many state writes, look at the least recently used entries for expired ones.
_SWEEP_EVERY = 256
# ...and look at no more than this many, so a sweep never stalls the event loop.
_SWEEP_BATCH = 32


class _Entry:
    """One key's state under one limit, with the core that reads it."""

    __slots__ = ("apply", "expires_at", "state")

    def __init__(self, core: RateLimitAlgorithm[Any], state: object, expires_at: float) -> None:
        self.apply = core.apply  # bound once: every decision calls it
        self.state = state
        self.expires_at = expires_at


class MemoryRateLimitStore:
    """Keeps rate-limit state in this process (implements ``RateLimitStore`` and
    ``LocalRateLimitStore``).

    Each decision runs the pure core on the key's state, synchronously, so it is atomic on
    the event loop without a lock; the store is not for sharing between threads. Memory is
    bounded twice over:

    * at most ``max_keys`` entries: past that, the least recently used key is forgotten
      (it comes back fresh: the bound trades exactness for memory under a key flood);
    * state that is as good as fresh (past its ``expires_at``) is dropped: every 256 writes
      the store checks up to 32 of the least recently used entries, stopping at the first
      live one, so the cost is amortised and bounded. ``purge_expired()`` sweeps everything.

    Peeks and rejections write nothing, but count as a use for the LRU order.
    """

    __slots__ = ("_cores", "_entries", "_lookup", "_max_keys", "_now", "_touch", "_writes_to_sweep")

    def __init__(self, clock: Clock | None = None, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        """Create an empty store.

        Args:
            clock: Where ``now`` comes from; the system clock when None (tests pass a
                ``ManualClock``).
            max_keys: How many (limit, key) states to keep at most.

        Raises:
            ConfigurationError: If ``max_keys`` is < 1.
        """
        if max_keys < 1:
            raise ConfigurationError("max_keys", f"must be >= 1, got {max_keys}")
        # The system clock's own function rather than ``SystemClock.now``, which only calls
        # it: one Python frame less on every decision.
        self._now = time.time if clock is None or type(clock) is SystemClock else clock.now
        self._max_keys = max_keys
        # Keyed on (limit.spec, key): two strs, whose hashes Python caches.
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        # Bound once: every decision calls both.
        self._lookup = self._entries.get
        self._touch = self._entries.move_to_end
        self._cores: dict[str, RateLimitAlgorithm[Any]] = {}
        self._writes_to_sweep = _SWEEP_EVERY

    @property
    def max_keys(self) -> int:
        """The bound on the number of states kept."""
        return self._max_keys

    def __len__(self) -> int:
        """How many (limit, key) states are held now, expired ones not yet swept included."""
        return len(self._entries)

    def decide_now(self, limit: RateLimit, key: str, cost: int = 1) -> Decision:
        """See ``RateLimitStore.decide``; synchronous (``LocalRateLimitStore``).

        Raises:
            ValueError: If ``cost`` is negative or greater than ``limit.limit``.
        """
        slot = (limit.spec, key)
        entry = self._lookup(slot)
        if entry is not None:
            self._touch(slot)
            state = entry.state
            decision, new_state, expires_at = entry.apply(state, self._now(), cost)
            if new_state is state:
                return decision
            entry.state = new_state
            entry.expires_at = expires_at
        else:
            core = self._cores.get(limit.spec)
            if core is None:
                core = self._cores[limit.spec] = core_for(limit)
            decision, new_state, expires_at = core.apply(None, self._now(), cost)
            if new_state is None:
                return decision
            entries = self._entries
            entries[slot] = _Entry(core, new_state, expires_at)
            if len(entries) > self._max_keys:
                entries.popitem(last=False)
        # Inline, not a method: this runs on every admission.
        self._writes_to_sweep -= 1
        if not self._writes_to_sweep:
            self._sweep()
        return decision

    async def decide(self, limit: RateLimit, key: str, cost: int = 1) -> Decision:
        """See ``RateLimitStore.decide``.

        Raises:
            ValueError: If ``cost`` is negative or greater than ``limit.limit``.
        """
        return self.decide_now(limit, key, cost)

    async def reset(self, limit: RateLimit, key: str) -> None:
        """See ``RateLimitStore.reset``."""
        self._entries.pop((limit.spec, key), None)

    def purge_expired(self) -> int:
        """Drop every state that is as good as fresh; O(keys), for a periodic task or tests.

        Returns:
            How many states were dropped.
        """
        now = self._now()
        expired = [slot for slot, entry in self._entries.items() if entry.expires_at <= now]
        for slot in expired:
            del self._entries[slot]
        return len(expired)

    def _sweep(self) -> None:
        self._writes_to_sweep = _SWEEP_EVERY
        entries, now = self._entries, self._now()
        for _ in range(_SWEEP_BATCH):
            if not entries:
                return
            slot, entry = next(iter(entries.items()))
            if entry.expires_at > now:
                # Behind a live entry the order says nothing about expiry; stop rather than
                # reorder, which would corrupt the LRU order.
                return
            del entries[slot]
