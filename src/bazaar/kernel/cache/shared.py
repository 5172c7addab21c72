"""The shared layer as ``LayeredCache`` uses it: entries to and from the L2, namespace versions.

Both report a failing store (``CacheStoreFailed``) instead of raising, so that a read goes on
without the L2; ``NamespaceVersions.bump`` is the one exception (see there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from bazaar.kernel.cache.entries import HEADER, Entry, pack_header, unpack_header
from bazaar.kernel.cache.errors import CacheStoreError
from bazaar.kernel.cache.events import CacheEvent, CacheStoreFailed
from bazaar.kernel.cache.lru import LruCache
from bazaar.kernel.cache.ports import CacheStore, Codec
from bazaar.kernel.clock import Clock

__all__ = ["NamespaceVersions", "SharedEntries", "store_failed"]

V = TypeVar("V")

Emit = Callable[[CacheEvent], None]


def store_failed(cache: str, operation: str, exc: CacheStoreError) -> CacheStoreFailed:
    """The event for a failed store operation, naming the driver's error where one is chained.

    Args:
        cache: The cache's name.
        operation: What failed (``get``, ``set``, ``acquire``, ...).
        exc: The error the adapter raised.

    Returns:
        The event.
    """
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return CacheStoreFailed(cache, operation, type(cause).__name__)


class SharedEntries(Generic[V]):
    """Entries of one cache in a ``CacheStore``, under ``"<cache>:<key>"``.

    A payload is a header (``entries.HEADER``: the expiry as epoch seconds, the load time,
    the negative flag) then the codec's bytes; it lives ``ttl + stale_ttl_s`` in the store.
    Expiry crosses processes on ``clock.now()`` and is turned back into this process's
    ``monotonic()`` on the way in. A payload that cannot be read (another format, a codec
    that refuses it after a schema change) is reported (``operation="decode"``) and is a
    miss, never an error.
    """

    def __init__(
        self,
        cache: str,
        store: CacheStore,
        codec: Codec[V],
        clock: Clock,
        *,
        stale_ttl_s: float,
        emit: Emit,
    ) -> None:
        """Create the view.

        Args:
            cache: The cache's name (the key prefix, the events' ``cache``).
            store: The L2.
            codec: Values to bytes and back.
            clock: ``now()`` for the payload's expiry, ``monotonic()`` for the entry's.
            stale_ttl_s: How long past expiry an entry read back is kept for STALE reads.
            emit: Where failures are reported.
        """
        self._cache = cache
        self._store = store
        self._codec = codec
        self._clock = clock
        self._stale_ttl_s = stale_ttl_s
        self._emit = emit

    def key(self, key: str) -> str:
        """The store key of ``key`` (also the load lock's name for it)."""
        return f"{self._cache}:{key}"

    async def read(self, key: str) -> Entry[V] | None:
        """The entry under ``key``, fresh or not, or None if absent, unreadable or unreachable."""
        try:
            payload = await self._store.get(self.key(key))
        except CacheStoreError as exc:
            self._emit(store_failed(self._cache, "get", exc))
            return None
        if payload is None:
            return None
        header = unpack_header(payload)
        if header is None:
            self._emit(CacheStoreFailed(self._cache, "decode", "UnknownPayloadFormat"))
            return None
        negative, fresh_until_epoch, delta_s = header
        value: V | None = None
        if not negative:
            try:
                value = self._codec.decode(payload[HEADER.size :])
            except Exception as exc:
                # A copy this version cannot read (a changed schema) is a miss, not an error.
                self._emit(CacheStoreFailed(self._cache, "decode", type(exc).__name__))
                return None
        fresh_until = self._clock.monotonic() + (fresh_until_epoch - self._clock.now())
        return Entry(
            value,
            fresh_until=fresh_until,
            stale_until=fresh_until + self._stale_ttl_s,
            delta_s=delta_s,
        )

    async def write(self, key: str, entry: Entry[V]) -> None:
        """Store ``entry`` for as long as it can be served (fresh, then stale)."""
        ttl_s = entry.stale_until - self._clock.monotonic()
        if ttl_s <= 0.0:
            return
        try:
            body = b"" if entry.value is None else self._codec.encode(entry.value)
        except Exception as exc:
            self._emit(CacheStoreFailed(self._cache, "encode", type(exc).__name__))
            return
        header = pack_header(
            negative=entry.negative,
            fresh_until_epoch=self._clock.now() + (entry.fresh_until - self._clock.monotonic()),
            delta_s=entry.delta_s,
        )
        try:
            await self._store.set(self.key(key), header + body, ttl_s)
        except CacheStoreError as exc:
            self._emit(store_failed(self._cache, "set", exc))

    async def delete(self, *keys: str) -> None:
        """Remove ``keys``' entries."""
        try:
            await self._store.delete(*(self.key(key) for key in keys))
        except CacheStoreError as exc:
            self._emit(store_failed(self._cache, "delete", exc))


class NamespaceVersions:
    """Version counters of one cache's namespaces, for versioned keys.

    With a store, a version is the counter ``"<cache>#ns:<namespace>"`` (``incr`` to bump),
    memoized in this process for ``memo_s`` and kept twice as long as the fallback while the
    store is unreachable; ``forget`` drops a memo when another process bumps. Without a
    store, the versions live here, and a bump elsewhere (``forget``) is a bump here: the
    numbers then differ between processes, but every bump still orphans the old keys.
    """

    def __init__(
        self,
        cache: str,
        store: CacheStore | None,
        clock: Clock,
        *,
        memo_s: float,
        memo_entries: int | None,
        emit: Emit,
    ) -> None:
        """Create the counters.

        Args:
            cache: The cache's name.
            store: Where the counters live; None to keep them in this process.
            clock: Whose ``monotonic()`` times the memos.
            memo_s: How long a version read from the store is trusted.
            memo_entries: How many memos to keep; None keeps none (every read asks the store).
            emit: Where failures are reported.
        """
        self._cache = cache
        self._store = store
        self._clock = clock
        self._memo_s = memo_s
        self._memo: LruCache[str, tuple[int, float]] | None = (
            LruCache(memo_entries, clock) if memo_entries else None
        )
        self._local: dict[str, int] = {}
        self._emit = emit

    async def current(self, namespace: str) -> int:
        """``namespace``'s version: 0 until first bumped; the last known one if the store fails."""
        if self._store is None:
            return self._local.get(namespace, 0)
        memo = self._memo.get(namespace) if self._memo is not None else None
        if memo is not None and memo[1] > self._clock.monotonic():
            return memo[0]
        try:
            version = await self._store.get_int(self._key(namespace)) or 0
        except CacheStoreError as exc:
            self._emit(store_failed(self._cache, "get_int", exc))
            return memo[0] if memo is not None else 0
        self._remember(namespace, version)
        return version

    async def bump(self, namespace: str) -> int:
        """Move ``namespace`` to its next version and return it.

        Raises:
            CacheStoreError: If the store cannot increment the counter (also reported): a
                version that was not stored cannot be promised, so the caller retries.
        """
        if self._store is None:
            version = self._local[namespace] = self._local.get(namespace, 0) + 1
            return version
        try:
            version = await self._store.incr(self._key(namespace))
        except CacheStoreError as exc:
            self._emit(store_failed(self._cache, "incr", exc))
            raise
        self._remember(namespace, version)
        return version

    def forget(self, namespaces: Iterable[str]) -> None:
        """Another process bumped ``namespaces``: stop trusting what this one knows of them."""
        for namespace in namespaces:
            if self._store is None:
                self._local[namespace] = self._local.get(namespace, 0) + 1
            elif self._memo is not None:
                self._memo.delete(namespace)

    def _remember(self, namespace: str, version: int) -> None:
        if self._memo is not None:
            fresh_until = self._clock.monotonic() + self._memo_s
            self._memo.put(namespace, (version, fresh_until), 2 * self._memo_s)

    def _key(self, namespace: str) -> str:
        return f"{self._cache}#ns:{namespace}"
