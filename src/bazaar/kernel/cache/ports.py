"""The cache's ports: the shared store (L2), the cross-process load lock, the invalidation bus
and the codec between values and bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["CacheStore", "Codec", "InvalidationBus", "LoadLock", "validate_ttl"]

V = TypeVar("V")


@runtime_checkable
class CacheStore(Protocol):
    """The L2: bytes under string keys with a TTL, shared by every process of a deployment.

    Every operation either succeeds or raises ``CacheStoreError`` (the driver's error
    chained). The contract suite (``bazaar.testing.contracts.cache``) holds adapters to it.
    """

    async def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or None if absent or expired.

        Raises:
            CacheStoreError: If the store fails.
        """
        ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds, replacing what was there.

        Raises:
            ValueError: If ``ttl_s`` is not a finite number above 0.
            CacheStoreError: If the store fails.
        """
        ...

    async def delete(self, *keys: str) -> int:
        """Remove ``keys`` (values and counters alike).

        Returns:
            How many of them existed.

        Raises:
            CacheStoreError: If the store fails.
        """
        ...

    async def incr(self, key: str) -> int:
        """Add one to the counter under ``key`` (absent counts as 0), atomically; no expiry.

        Namespace versions live in such counters.

        Returns:
            The new value.

        Raises:
            CacheStoreError: If the store fails or ``key`` holds something else.
        """
        ...

    async def get_int(self, key: str) -> int | None:
        """The counter under ``key``, or None if absent.

        Raises:
            CacheStoreError: If the store fails or ``key`` holds something else.
        """
        ...


@runtime_checkable
class LoadLock(Protocol):
    """A short lock per key, so one process of a deployment runs a loader at a time.

    A best-effort single-instance lock (``SET NX PX``): it bounds stampedes, it does not
    guarantee mutual exclusion (a holder slower than the TTL loses it), so loaders must be
    safe to run twice.
    """

    async def acquire(self, key: str, ttl_s: float) -> str | None:
        """Take the lock on ``key`` for ``ttl_s`` seconds.

        Returns:
            A token proving ownership, or None if another holder has it.

        Raises:
            ValueError: If ``ttl_s`` is not a finite number above 0.
            CacheStoreError: If the store fails.
        """
        ...

    async def release(self, key: str, token: str) -> None:
        """Free the lock on ``key`` if ``token`` still holds it; otherwise do nothing.

        Raises:
            CacheStoreError: If the store fails.
        """
        ...


@runtime_checkable
class InvalidationBus(Protocol):
    """Tells the other processes of a deployment to drop keys from their L1.

    Delivery is at most once: a process that is disconnected when a message is published
    misses it, so L1 TTLs (``CachePolicy.l1_ttl_s``) bound how stale an L1 can get.
    Every bus has an origin id: the messages it publishes are not delivered to its own
    ``run`` (the publisher has dropped the keys already).
    """

    async def publish(self, cache: str, keys: Sequence[str]) -> None:
        """Ask the other processes to drop ``keys`` of the cache named ``cache``.

        Raises:
            CacheStoreError: If the message could not be sent.
        """
        ...

    async def run(self, on_message: Callable[[str, list[str]], None]) -> None:
        """Deliver other processes' messages to ``on_message(cache, keys)`` until cancelled.

        Connection failures are reported (see the adapter) and retried with a bounded
        backoff; they never end the loop. ``on_message`` must not raise.
        """
        ...


class Codec(Protocol[V]):
    """Turns values into bytes for the L2 and back."""

    def encode(self, value: V) -> bytes: ...

    def decode(self, data: bytes) -> V: ...


def validate_ttl(ttl_s: float) -> float:
    """Check a store TTL; adapters call it so every store refuses the same values.

    Args:
        ttl_s: Seconds.

    Returns:
        ``ttl_s`` as a float.

    Raises:
        ValueError: If ``ttl_s`` is not a finite number above 0.
    """
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float):
        raise ValueError(f"ttl_s must be a number of seconds, got {ttl_s!r}")
    if not (ttl_s > 0 and ttl_s != float("inf")):
        raise ValueError(f"ttl_s must be a finite number of seconds above 0, got {ttl_s!r}")
    return float(ttl_s)
