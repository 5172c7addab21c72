"""In-process single flight: one call per key at a time, its outcome shared by every caller."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Collapses concurrent calls for one key into one (Go's ``singleflight.Group``).

    The first caller for a key starts ``fn()`` as a task of its own and registers it; callers
    arriving while it runs await that same task. Every caller gets its value, or its
    exception, and the key is free again the moment the call ends, so the next caller starts
    a new call (single flight deduplicates concurrent work; it is not a cache).

    Callers wait through ``asyncio.shield``: a caller that is cancelled (a client hung up, a
    deadline passed) stops waiting, but the call goes on for the others, and when every
    caller has gone it still finishes, so its result can still be cached. A call that fails
    with no caller left has its exception marked retrieved: the owner of ``fn`` reports it.

    ``fn`` must not itself call ``do`` for the same key: it would wait on itself.
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Task[V]] = {}

    async def do(self, key: K, fn: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """Run ``fn`` for ``key`` unless a call for it is already running, then await it.

        Args:
            key: What the call is for.
            fn: Makes the call; invoked only if no call for ``key`` is running.

        Returns:
            The call's value, and whether this caller joined a call another caller started.

        Raises:
            BaseException: Whatever the call raised, to every caller.
            asyncio.CancelledError: If this caller is cancelled; the call goes on.
        """
        task = self._calls.get(key)
        if task is not None:
            return await asyncio.shield(task), True
        task = asyncio.get_running_loop().create_task(self._run(key, fn))
        self._calls[key] = task
        # A task cancelled before its first step never enters _run's finally; this frees
        # the key then (and is a no-op otherwise).
        task.add_done_callback(self._done_callback(key))
        return await asyncio.shield(task), False

    def in_flight(self) -> int:
        """The number of keys with a call running."""
        return len(self._calls)

    def running(self, key: K) -> bool:
        """Whether a call for ``key`` is running."""
        return key in self._calls

    async def _run(self, key: K, fn: Callable[[], Awaitable[V]]) -> V:
        try:
            return await fn()
        finally:
            # Freed before the task's outcome is set, so no caller woken by it can find the
            # finished call still registered and join it.
            self._forget(key, asyncio.current_task())

    def _done_callback(self, key: K) -> Callable[[asyncio.Task[V]], None]:
        def done(task: asyncio.Task[V]) -> None:
            self._forget(key, task)
            if not task.cancelled():
                task.exception()  # retrieved: no "exception was never retrieved" log

        return done

    def _forget(self, key: K, task: object) -> None:
        if self._calls.get(key) is task:
            del self._calls[key]
