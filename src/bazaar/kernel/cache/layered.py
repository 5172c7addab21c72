"""Read-through layered cache: L1 (LRU) → L2 (shared store) → single flight → loader."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

from opentelemetry.trace import Status, StatusCode

from bazaar.kernel.cache.coordination import LoadCoordinator
from bazaar.kernel.cache.entries import Entry
from bazaar.kernel.cache.errors import CacheConfigurationError, CacheStoreError
from bazaar.kernel.cache.events import (
    CacheEvent,
    CacheEvicted,
    CacheHit,
    CacheInvalidated,
    CacheLoaded,
    CacheLoadFailed,
    CacheMiss,
    CacheRefreshedEarly,
    CacheStaleServed,
    Layer,
)
from bazaar.kernel.cache.listeners import CacheListener, NullCacheListener
from bazaar.kernel.cache.lru import LruCache
from bazaar.kernel.cache.policy import CachePolicy, CacheRead, CacheStatus
from bazaar.kernel.cache.ports import CacheStore, Codec, InvalidationBus, LoadLock
from bazaar.kernel.cache.shared import NamespaceVersions, SharedEntries, store_failed
from bazaar.kernel.cache.singleflight import SingleFlight
from bazaar.kernel.cache.xfetch import jittered_ttl, should_refresh_early
from bazaar.kernel.clock import Clock
from bazaar.kernel.observability import tracing

__all__ = [
    "NAMESPACE_BUS_PREFIX",
    "CachePolicy",
    "CacheRead",
    "CacheStatus",
    "LayeredCache",
    "route_invalidations",
]

V = TypeVar("V")

# L2 keys: data at "<name>:<key>", namespace counters at "<name>#ns:<namespace>" (cache
# names hold no "#", so the two never collide). On the bus, a namespace bump travels as the
# key "\x00ns:<namespace>" of its cache, so any subscriber that hands a cache's keys to
# drop_local handles bumps too; no real key starts with a NUL.
NAMESPACE_BUS_PREFIX = "\x00ns:"

Loader = Callable[[], Awaitable[V | None]]


class LayeredCache(Generic[V]):
    """A read-through cache in two layers with stampede protection (capabilities §8).

    A read (``get``) walks: the L1 (this process's ``LruCache``) → the L2 (a ``CacheStore``
    shared by every process) → an in-process ``SingleFlight`` on the key → the cross-process
    ``LoadLock`` → the loader. A fresh copy in a layer is a HIT (an L2 hit fills the L1);
    otherwise the read is a MISS and joins the one load of the key in this process. That
    load takes the lock; if another process holds it, it polls the L2 for that process's
    result for up to ``lock_wait_s`` and then loads anyway (the lock bounds a stampede, it
    never blocks a read for long). The loaded value goes to L2 and L1; ``None`` from the
    loader is remembered as "not found" for ``negative_ttl_s`` and read as ``None``.

    Entry lifecycle: fresh for a jittered TTL (HIT) → stale for ``stale_ttl_s`` (served, as
    STALE, only if the loader raises one of ``stale_on``) → gone. While fresh, XFetch may
    pick a read to reload the key early in the background, through the same single flight;
    readers keep getting the cached copy meanwhile.

    Failures of the L2, the lock or the bus never fail a read: each emits
    ``CacheStoreFailed`` and the read goes on as if that part were absent. Loader errors are
    the caller's: re-raised (after ``CacheLoadFailed``) unless a stale copy can be served.

    Invalidation (``invalidate``) drops keys from L1 and L2 and tells the other processes
    through the bus; their bus loop calls ``drop_local`` (see ``route_invalidations``). A
    load that was running when its key was invalidated still answers its readers but is not
    cached, so an invalidation is never undone by a load that read the old data.
    Versioned keys for lists: embed ``await namespace_version(ns)`` in the key and call
    ``bump_namespace(ns)`` to orphan every key of the namespace at once.
    """

    def __init__(
        self,
        name: str,
        *,
        codec: Codec[V],
        policy: CachePolicy,
        clock: Clock,
        rng: random.Random,
        l1: LruCache[Any, Any] | None,
        l2: CacheStore | None = None,
        lock: LoadLock | None = None,
        bus: InvalidationBus | None = None,
        listener: CacheListener | None = None,
        stale_on: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        """Create a cache.

        Args:
            name: Names the cache in keys, bus messages and events; unique per deployment.
            codec: Turns values into the L2's bytes and back.
            policy: TTLs, jitter, XFetch and lock settings.
            clock: Time for expiry (``monotonic``), L2 timestamps (``now``) and waits.
            rng: Randomness for jitter and XFetch (seeded in tests).
            l1: This cache's own ``LruCache`` (not shared with another cache); None for no
                L1. The cache chains its eviction callback onto ``l1.on_evict``.
            l2: The shared store; None for a cache local to the process.
            lock: The cross-process load lock; None for in-process single flight only.
            bus: Where invalidations are published to other processes.
            listener: Receives the cache's events.
            stale_on: Loader exceptions for which a stale copy is served instead.

        Raises:
            CacheConfigurationError: If ``name`` is empty or holds ``#``.
        """
        if not name or "#" in name:
            raise CacheConfigurationError("name", f"must be non-empty without '#', got {name!r}")
        self._name = name
        self._policy = policy
        self._clock = clock
        self._monotonic = clock.monotonic
        self._rng = rng
        self._l1 = l1
        self._bus = bus
        self._stale_on = stale_on
        # Exactly the null listener (not a subclass): build no per-read events at all.
        self._listener = (
            None if listener is None or type(listener) is NullCacheListener else listener
        )
        self._flight: SingleFlight[str, Entry[V]] = SingleFlight()
        self._background: set[asyncio.Task[Any]] = set()
        # Keys whose load is running -> whether they were invalidated meanwhile.
        self._invalidated_while_loading: dict[str, bool] = {}
        self._l2 = (
            SharedEntries(name, l2, codec, clock, stale_ttl_s=policy.stale_ttl_s, emit=self._emit)
            if l2 is not None
            else None
        )
        self._coordinator: LoadCoordinator[V] | None = (
            LoadCoordinator(name, lock, policy, clock, emit=self._emit)
            if lock is not None
            else None
        )
        self._namespaces = NamespaceVersions(
            name,
            l2,
            clock,
            memo_s=policy.l1_ttl_s or policy.ttl_s,
            memo_entries=l1.max_entries if l1 is not None else None,
            emit=self._emit,
        )
        if l1 is not None:
            chained = l1.on_evict
            l1.on_evict = self._on_evict if chained is None else _both(chained, self._on_evict)

    @property
    def name(self) -> str:
        """The cache's name."""
        return self._name

    @property
    def policy(self) -> CachePolicy:
        """The cache's policy."""
        return self._policy

    async def get(self, key: str, loader: Loader[V]) -> CacheRead[V]:
        """Read ``key`` through the layers, loading it with ``loader`` on a miss.

        Args:
            key: The key, unique within this cache.
            loader: Fetches the value from the source of truth; None means "not found".
                Run at most once per process at a time per key, whoever asked.

        Returns:
            The value (None for "not found") and whether it was a HIT, MISS or STALE.

        Raises:
            Exception: Whatever the loader raised, when no stale copy can be served.
        """
        stale: Entry[V] | None = None
        if self._l1 is not None:
            entry: Entry[V] | None = self._l1.get(key)
            if entry is not None:
                now = self._monotonic()
                if entry.fresh_until > now:
                    if self._listener is not None:
                        self._listener.on_event(CacheHit(self._name, Layer.L1))
                    if entry.delta_s > 0.0 and self._policy.early_beta > 0.0:
                        self._maybe_refresh_early(key, entry, now, loader)
                    return entry.hit
                stale = entry
        if self._l2 is not None:
            entry = await self._l2.read(key)
            if entry is not None:
                now = self._monotonic()
                if entry.fresh_until > now:
                    self._fill_l1(key, entry)
                    self._emit(CacheHit(self._name, Layer.L2))
                    if entry.delta_s > 0.0 and self._policy.early_beta > 0.0:
                        self._maybe_refresh_early(key, entry, now, loader)
                    return entry.hit
                if stale is None or entry.fresh_until > stale.fresh_until:
                    stale = entry
        self._emit(CacheMiss(self._name))
        # A span for the miss (capabilities §10.1): the wait for another loader or the
        # load itself, under whatever trace the caller is in. Hits get none: they are the
        # hot path, and a span would cost more than the hit.
        with tracing.child_span(
            f"cache {self._name} miss", attributes={"bazaar.cache.name": self._name}
        ) as span:
            try:
                loaded, _ = await self._flight.do(key, functools.partial(self._load, key, loader))
            except self._stale_on as exc:
                if stale is None or stale.stale_until <= self._monotonic():
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    raise
                self._emit(CacheStaleServed(self._name, type(exc).__name__))
                span.set_attribute("bazaar.cache.result", "stale")
                return CacheRead(stale.value, CacheStatus.STALE)
            span.set_attribute("bazaar.cache.result", "loaded")
        return CacheRead(loaded.value, CacheStatus.MISS)

    async def put(self, key: str, value: V) -> None:
        """Write ``value`` through to L2 and L1 (and tell other processes to drop their copy).

        A load of ``key`` running meanwhile is not cached: it may have read older data.

        Args:
            key: The key.
            value: The new value.
        """
        self._mark_invalidated(key)
        entry = self._new_entry(value, delta_s=0.0)
        if self._l2 is not None:
            await self._l2.write(key, entry)
        self._fill_l1(key, entry)
        await self._publish(self._name, [key])

    async def invalidate(self, *keys: str) -> None:
        """Drop ``keys`` from L1 and L2 and tell the other processes to drop them from theirs.

        L2 and bus failures are reported (``CacheStoreFailed``), not raised: the keys then
        live on elsewhere until their TTL.

        Args:
            keys: The keys to drop.
        """
        if not keys:
            return
        self._drop_l1(keys)
        if self._l2 is not None:
            await self._l2.delete(*keys)
        await self._publish(self._name, list(keys))
        self._emit(CacheInvalidated(self._name, len(keys), remote=False))

    def drop_local(self, *keys: str) -> None:
        """Drop ``keys`` from this process's L1 only (what the bus subscriber calls).

        A key ``NAMESPACE_BUS_PREFIX + ns`` (another process bumped ``ns``) makes this
        process forget its memoized version of ``ns`` instead.

        Args:
            keys: The keys to drop.
        """
        if not keys:
            return
        data_keys = [key for key in keys if not key.startswith(NAMESPACE_BUS_PREFIX)]
        if len(data_keys) != len(keys):
            self._namespaces.forget(
                key[len(NAMESPACE_BUS_PREFIX) :]
                for key in keys
                if key.startswith(NAMESPACE_BUS_PREFIX)
            )
        self._drop_l1(data_keys)
        self._emit(CacheInvalidated(self._name, len(keys), remote=True))

    def on_bus_message(self, cache: str, keys: list[str]) -> None:
        """An ``InvalidationBus.run`` callback for this cache alone (others' are ignored).

        Args:
            cache: The cache the message is for.
            keys: Its keys.
        """
        if cache == self._name:
            self.drop_local(*keys)

    async def namespace_version(self, namespace: str) -> int:
        """The current version of ``namespace``, to embed in the keys of its entries.

        Read from the L2 counter and memoized in this process for the L1 TTL (``l1_ttl_s``,
        else ``ttl_s``); without an L2, a counter kept in this process. If the L2 fails,
        the last version known here is used (0 if none).

        Args:
            namespace: E.g. ``"products:tenant-42"``.

        Returns:
            The version, 0 until the namespace is first bumped.
        """
        return await self._namespaces.current(namespace)

    async def bump_namespace(self, namespace: str) -> int:
        """Move ``namespace`` to a new version, orphaning every key built on the old one.

        The orphans are never read again and age out by their TTL. Other processes are told
        through the bus to forget their memoized version.

        Args:
            namespace: The namespace.

        Returns:
            The new version.

        Raises:
            CacheStoreError: If the L2 counter cannot be incremented (also reported as
                ``CacheStoreFailed``): no version can be promised, so the caller retries.
        """
        version = await self._namespaces.bump(namespace)
        await self._publish(self._name, [NAMESPACE_BUS_PREFIX + namespace])
        return version

    async def wait_background(self) -> None:
        """Wait for the early refreshes running in the background (for tests and shutdown)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel the early refreshes running in the background and wait for them to end."""
        for task in self._background:
            task.cancel()
        await self.wait_background()

    # --- loading ---

    async def _load(self, key: str, loader: Loader[V]) -> Entry[V]:
        self._invalidated_while_loading[key] = False
        try:
            token: str | None = None
            if self._coordinator is not None:
                held = await self._coordinator.take(
                    self._lock_key(key), functools.partial(self._fresh_l2, key)
                )
                if isinstance(held, Entry):
                    return held
                token = held
            try:
                return await self._run_loader(key, loader)
            finally:
                if self._coordinator is not None and token is not None:
                    await self._coordinator.release(self._lock_key(key), token)
        finally:
            self._invalidated_while_loading.pop(key, None)

    async def _run_loader(self, key: str, loader: Loader[V]) -> Entry[V]:
        started = self._monotonic()
        try:
            value = await loader()
        except Exception as exc:
            self._emit(CacheLoadFailed(self._name, type(exc).__name__))
            raise
        duration_s = self._monotonic() - started
        self._emit(CacheLoaded(self._name, duration_s, found=value is not None))
        entry = self._new_entry(value, delta_s=duration_s)
        if value is None and self._policy.negative_ttl_s <= 0.0:
            return entry  # negative caching is off
        if self._invalidated_while_loading.get(key, False):
            return entry
        if self._l2 is not None:
            await self._l2.write(key, entry)
            if self._invalidated_while_loading.get(key, False):
                # Invalidated while the write was on its way: its delete may have landed
                # first, so take back what was written.
                await self._l2.delete(key)
                return entry
        self._fill_l1(key, entry)
        return entry

    def _maybe_refresh_early(
        self, key: str, entry: Entry[V], now: float, loader: Loader[V]
    ) -> None:
        if self._flight.running(key) or not should_refresh_early(
            now=now,
            expires_at=entry.fresh_until,
            delta_s=entry.delta_s,
            beta=self._policy.early_beta,
            rng=self._rng,
        ):
            return
        self._emit(CacheRefreshedEarly(self._name))
        task = asyncio.get_running_loop().create_task(
            self._flight.do(key, functools.partial(self._load, key, loader))
        )
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # reported already (CacheLoadFailed); the old copy stays

    # --- layers ---

    def _new_entry(self, value: V | None, *, delta_s: float) -> Entry[V]:
        policy = self._policy
        ttl_s = policy.ttl_s if value is not None else policy.negative_ttl_s
        fresh_until = self._monotonic() + jittered_ttl(ttl_s, policy.jitter, self._rng)
        return Entry(
            value,
            fresh_until=fresh_until,
            stale_until=fresh_until + policy.stale_ttl_s,
            delta_s=delta_s,
        )

    def _fill_l1(self, key: str, entry: Entry[V]) -> None:
        if self._l1 is None:
            return
        keep_s = entry.stale_until - self._monotonic()
        if self._policy.l1_ttl_s is not None:
            keep_s = min(keep_s, self._policy.l1_ttl_s)
        if keep_s > 0.0:
            self._l1.put(key, entry, keep_s)

    def _drop_l1(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._mark_invalidated(key)
            if self._l1 is not None:
                self._l1.delete(key)

    def _mark_invalidated(self, key: str) -> None:
        if key in self._invalidated_while_loading:
            self._invalidated_while_loading[key] = True

    async def _fresh_l2(self, key: str) -> Entry[V] | None:
        if self._l2 is None:
            return None
        entry = await self._l2.read(key)
        if entry is None or entry.fresh_until <= self._monotonic():
            return None
        self._fill_l1(key, entry)
        return entry

    async def _publish(self, cache: str, keys: list[str]) -> None:
        if self._bus is None:
            return
        try:
            await self._bus.publish(cache, keys)
        except CacheStoreError as exc:
            self._emit(store_failed(self._name, "publish", exc))

    # --- keys and events ---

    def _lock_key(self, key: str) -> str:
        return f"{self._name}:{key}"

    def _emit(self, event: CacheEvent) -> None:
        if self._listener is not None:
            self._listener.on_event(event)

    def _on_evict(self, count: int) -> None:
        self._emit(CacheEvicted(self._name, count))


def _both(first: Callable[[int], None], second: Callable[[int], None]) -> Callable[[int], None]:
    def both(count: int) -> None:
        first(count)
        second(count)

    return both


def route_invalidations(
    caches: Iterable[LayeredCache[Any]],
) -> Callable[[str, list[str]], None]:
    """One ``InvalidationBus.run`` callback for every cache of a process.

    Args:
        caches: The process's caches.

    Returns:
        ``on_message(cache, keys)``, handing each message to the cache it names.

    Raises:
        CacheConfigurationError: If two caches share a name.
    """
    by_name: dict[str, LayeredCache[Any]] = {}
    for cache in caches:
        if cache.name in by_name:
            raise CacheConfigurationError("name", f"two caches are named {cache.name!r}")
        by_name[cache.name] = cache

    def on_message(cache: str, keys: list[str]) -> None:
        target = by_name.get(cache)
        if target is not None:
            target.on_bus_message(cache, keys)

    return on_message
