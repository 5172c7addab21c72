"""Cross-process single flight: take a key's load lock, or wait for the holder's result."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from bazaar.kernel.cache.entries import Entry
from bazaar.kernel.cache.errors import CacheStoreError
from bazaar.kernel.cache.events import CacheEvent
from bazaar.kernel.cache.policy import CachePolicy
from bazaar.kernel.cache.ports import LoadLock
from bazaar.kernel.cache.shared import store_failed
from bazaar.kernel.clock import Clock

__all__ = ["LoadCoordinator"]

V = TypeVar("V")


class _Attempt(enum.Enum):
    """What an attempt on the lock came to, when it gave no token."""

    TAKEN_ELSEWHERE = "taken_elsewhere"
    FAILED = "failed"


class LoadCoordinator(Generic[V]):
    """One cache's use of a ``LoadLock``: at most one process loads a key at a time.

    ``take`` answers one of three ways:

    - a token: this process holds the lock and loads (then ``release``);
    - an entry: another process loaded the key meanwhile, found fresh in the L2;
    - None: load without the lock, because the lock failed (reported) or another process
      held it for longer than ``lock_wait_s`` (it may have crashed: the lock only bounds a
      stampede, it never blocks a read for long).

    While another process holds the lock, ``take`` polls the L2 every ``lock_poll_s`` on the
    injected clock and tries the lock again. After winning the lock it looks in the L2 once
    more: the other process may have finished between this process's L2 read and its
    acquire, and its load must not run twice.
    """

    def __init__(
        self,
        cache: str,
        lock: LoadLock,
        policy: CachePolicy,
        clock: Clock,
        *,
        emit: Callable[[CacheEvent], None],
    ) -> None:
        """Create a coordinator.

        Args:
            cache: The cache's name (the events' ``cache``).
            lock: The shared lock table.
            policy: ``lock_ttl_s``, ``lock_wait_s`` and ``lock_poll_s``.
            clock: Times and paces the wait.
            emit: Where lock failures are reported.
        """
        self._cache = cache
        self._lock = lock
        self._policy = policy
        self._clock = clock
        self._emit = emit

    async def take(
        self, name: str, fresh: Callable[[], Awaitable[Entry[V] | None]]
    ) -> str | Entry[V] | None:
        """Take the lock on ``name``, or wait for its holder's result.

        Args:
            name: The lock's name (the key's name in the L2).
            fresh: Reads the key's fresh entry from the L2, None if there is none.

        Returns:
            A token, another process's fresh entry, or None (load without the lock).
        """
        policy = self._policy
        deadline = self._clock.monotonic() + policy.lock_wait_s
        while True:
            held = await self._acquire(name)
            if held is _Attempt.FAILED:
                return None
            if held is not _Attempt.TAKEN_ELSEWHERE:
                found = await fresh()
                if found is None:
                    return held
                await self.release(name, held)
                return found
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0.0:
                return None
            await self._clock.sleep(min(policy.lock_poll_s, remaining))
            found = await fresh()
            if found is not None:
                return found

    async def release(self, name: str, token: str) -> None:
        """Free the lock on ``name`` if ``token`` still holds it; a failure is reported only
        (the lock lapses by itself after ``lock_ttl_s``)."""
        try:
            await self._lock.release(name, token)
        except CacheStoreError as exc:
            self._emit(store_failed(self._cache, "release", exc))

    async def _acquire(self, name: str) -> str | _Attempt:
        try:
            token = await self._lock.acquire(name, self._policy.lock_ttl_s)
        except CacheStoreError as exc:
            self._emit(store_failed(self._cache, "acquire", exc))
            return _Attempt.FAILED
        return _Attempt.TAKEN_ELSEWHERE if token is None else token
