"""In-process adapters: a store, a load lock and an invalidation bus for tests and one-process
deployments."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence

from bazaar.kernel.cache.errors import CacheConfigurationError, CacheStoreError
from bazaar.kernel.cache.ports import validate_ttl
from bazaar.kernel.clock import Clock

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "MemoryCacheStore",
    "MemoryInvalidationBus",
    "MemoryInvalidationHub",
    "MemoryLoadLock",
]

DEFAULT_MAX_ENTRIES = 100_000


class MemoryCacheStore:
    """A ``CacheStore`` in a dict: what Redis would hold, in this process.

    Several ``LayeredCache`` instances sharing one store stand for processes sharing one
    Redis (the contract suite and the unit tests use it so). Values expire on
    ``clock.monotonic()``, lazily; past ``max_entries`` values the oldest written is dropped,
    as Redis does under ``maxmemory`` with an LRU-ish policy. Counters never expire and are
    not counted against the bound.
    """

    def __init__(self, clock: Clock, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        """Create an empty store.

        Args:
            clock: Where expiry times are read.
            max_entries: The bound on values held.

        Raises:
            CacheConfigurationError: If ``max_entries`` is below 1.
        """
        if max_entries < 1:
            raise CacheConfigurationError("max_entries", f"must be >= 1, got {max_entries}")
        self._clock = clock
        self._max = max_entries
        self._values: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._counters: dict[str, int] = {}

    async def get(self, key: str) -> bytes | None:
        """See ``CacheStore.get``."""
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock.monotonic():
            del self._values[key]
            return None
        return entry[0]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """See ``CacheStore.set``."""
        ttl_s = validate_ttl(ttl_s)
        if not isinstance(value, bytes):
            raise TypeError(f"a cache store holds bytes, got {type(value).__name__}")
        self._counters.pop(key, None)
        self._values[key] = (value, self._clock.monotonic() + ttl_s)
        self._values.move_to_end(key)
        while len(self._values) > self._max:
            self._values.popitem(last=False)

    async def delete(self, *keys: str) -> int:
        """See ``CacheStore.delete``."""
        now, removed = self._clock.monotonic(), 0
        for key in set(keys):
            value = self._values.pop(key, None)
            counter = self._counters.pop(key, None)
            if (value is not None and value[1] > now) or counter is not None:
                removed += 1
        return removed

    async def incr(self, key: str) -> int:
        """See ``CacheStore.incr``."""
        if key in self._values and await self.get(key) is not None:
            # As Redis answers INCR on a key that does not hold an integer.
            raise CacheStoreError("incr", "the key holds a value, not a counter")
        value = self._counters.get(key, 0) + 1
        self._counters[key] = value
        return value

    async def get_int(self, key: str) -> int | None:
        """See ``CacheStore.get_int``."""
        if key in self._values and await self.get(key) is not None:
            raise CacheStoreError("get_int", "the key holds a value, not a counter")
        return self._counters.get(key)

    def remaining_ttl_s(self, key: str) -> float | None:
        """Seconds until the value under ``key`` expires, or None if none is held (for tests)."""
        entry = self._values.get(key)
        if entry is None or entry[1] <= self._clock.monotonic():
            return None
        return entry[1] - self._clock.monotonic()

    def __len__(self) -> int:
        """Values and counters held (expired values not yet removed included)."""
        return len(self._values) + len(self._counters)


class MemoryLoadLock:
    """A ``LoadLock`` in a dict, expiring on ``clock.monotonic()``; share one between the
    ``LayeredCache`` instances that stand for processes."""

    def __init__(self, clock: Clock) -> None:
        """Create a lock table with every key free.

        Args:
            clock: Where expiry times are read.
        """
        self._clock = clock
        self._held: dict[str, tuple[str, float]] = {}
        self._tokens = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]

    async def acquire(self, key: str, ttl_s: float) -> str | None:
        """See ``LoadLock.acquire``."""
        ttl_s = validate_ttl(ttl_s)
        now = self._clock.monotonic()
        held = self._held.get(key)
        if held is not None and held[1] > now:
            return None
        token = f"{self._prefix}-{next(self._tokens)}"
        self._held[key] = (token, now + ttl_s)
        return token

    async def release(self, key: str, token: str) -> None:
        """See ``LoadLock.release``."""
        held = self._held.get(key)
        if held is not None and held[0] == token:
            del self._held[key]

    def holder(self, key: str) -> str | None:
        """The token holding ``key`` now, or None (for tests)."""
        held = self._held.get(key)
        return held[0] if held is not None and held[1] > self._clock.monotonic() else None

    def remaining_ttl_s(self, key: str) -> float | None:
        """Seconds until the lock on ``key`` lapses, or None if it is free (for tests)."""
        held = self._held.get(key)
        if held is None or held[1] <= self._clock.monotonic():
            return None
        return held[1] - self._clock.monotonic()


class MemoryInvalidationHub:
    """The "network" between ``MemoryInvalidationBus`` instances: a message published on one
    bus is delivered, synchronously, to the ``run`` of every other bus of the hub.

    ``published`` keeps every message as ``(origin, cache, keys)``, oldest first.
    """

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callable[[str, list[str]], None]]] = {}
        self.published: list[tuple[str, str, list[str]]] = []

    def bus(self) -> MemoryInvalidationBus:
        """A new bus on this hub, with an origin of its own (a new "process")."""
        return MemoryInvalidationBus(self)

    def _subscribe(self, origin: str, on_message: Callable[[str, list[str]], None]) -> None:
        self._subscribers.setdefault(origin, []).append(on_message)

    def _unsubscribe(self, origin: str, on_message: Callable[[str, list[str]], None]) -> None:
        callbacks = self._subscribers.get(origin, [])
        if on_message in callbacks:
            callbacks.remove(on_message)

    def _publish(self, origin: str, cache: str, keys: list[str]) -> None:
        self.published.append((origin, cache, keys))
        for subscriber, callbacks in list(self._subscribers.items()):
            if subscriber != origin:
                for callback in list(callbacks):
                    callback(cache, list(keys))


class MemoryInvalidationBus:
    """An ``InvalidationBus`` on a ``MemoryInvalidationHub`` (its own hub if none is given).

    Delivery is synchronous: when ``publish`` returns, every other bus's ``run`` has been
    called, which keeps tests free of waits.
    """

    def __init__(self, hub: MemoryInvalidationHub | None = None) -> None:
        """Create a bus.

        Args:
            hub: The hub shared with the other "processes"; a private one if None.
        """
        self.hub = hub if hub is not None else MemoryInvalidationHub()
        self.origin = uuid.uuid4().hex
        self._subscribed = asyncio.Event()

    async def publish(self, cache: str, keys: Sequence[str]) -> None:
        """See ``InvalidationBus.publish``."""
        self.hub._publish(self.origin, cache, list(keys))

    async def run(self, on_message: Callable[[str, list[str]], None]) -> None:
        """See ``InvalidationBus.run``: subscribes at once and waits until cancelled."""
        self.hub._subscribe(self.origin, on_message)
        self._subscribed.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.hub._unsubscribe(self.origin, on_message)

    async def wait_subscribed(self) -> None:
        """Return once ``run`` is subscribed (for tests that publish right after starting it)."""
        await self._subscribed.wait()
