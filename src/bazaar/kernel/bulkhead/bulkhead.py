"""A bulkhead: a bounded number of concurrent calls to one dependency, with a bounded queue."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from dataclasses import dataclass
from types import TracebackType

from bazaar.kernel.bulkhead.core import Admission, admit
from bazaar.kernel.bulkhead.errors import (
    BulkheadFullError,
    BulkheadReleaseError,
    BulkheadTimeoutError,
)
from bazaar.kernel.bulkhead.ports import BulkheadListener, BulkheadRejected, BulkheadTimedOut
from bazaar.kernel.clock import Clock
from bazaar.kernel.errors import ConfigurationError

__all__ = ["Bulkhead", "BulkheadSnapshot"]


@dataclass(frozen=True, slots=True)
class BulkheadSnapshot:
    """A bulkhead's limits and counts at one moment (for metrics and the console)."""

    name: str
    max_concurrent: int
    max_queue: int
    in_use: int
    queued: int
    rejected: int
    timed_out: int


class Bulkhead:
    """Bulkhead pattern (Nygard, *Release It!*): one dependency's calls get their own slots.

    At most ``max_concurrent`` callers hold a slot; up to ``max_queue`` more wait, first
    come first served; anyone beyond that is refused at once with ``BulkheadFullError``, so
    a slow dependency ties up at most ``max_concurrent + max_queue`` tasks instead of every
    worker of the process. A waiter that gets no slot within ``queue_timeout_s`` fails with
    ``BulkheadTimeoutError``.

    A released slot is handed straight to the oldest waiter (it never becomes free in
    between), so newcomers cannot overtake the queue. A waiter cancelled after being handed
    a slot but before it resumed passes the slot on, so cancellation never leaks a slot.

    The queue timeout runs on the event loop's clock (``asyncio.timeout``); the injected
    clock only measures ``waited_s``. Not thread-safe: one bulkhead belongs to one loop.
    """

    def __init__(
        self,
        name: str,
        max_concurrent: int,
        max_queue: int,
        queue_timeout_s: float | None,
        clock: Clock,
        *,
        listener: BulkheadListener | None = None,
    ) -> None:
        """Create a bulkhead with every slot free.

        Args:
            name: The dependency it guards (``psp``, ``smtp``, ...), carried by errors/events.
            max_concurrent: Slots, at least 1.
            max_queue: Callers allowed to wait for a slot, 0 for none.
            queue_timeout_s: Longest wait for a slot, in seconds; None to wait indefinitely
                (then bound the wait with the caller's deadline).
            clock: Measures how long waiters waited.
            listener: Receives ``BulkheadRejected`` and ``BulkheadTimedOut``.

        Raises:
            ConfigurationError: If a limit is out of range.
        """
        if max_concurrent < 1:
            raise ConfigurationError("max_concurrent", f"must be at least 1, got {max_concurrent}")
        if max_queue < 0:
            raise ConfigurationError("max_queue", f"must be >= 0, got {max_queue}")
        if queue_timeout_s is not None and not (
            math.isfinite(queue_timeout_s) and queue_timeout_s > 0
        ):
            raise ConfigurationError(
                "queue_timeout_s", f"must be a finite number > 0 or None, got {queue_timeout_s}"
            )
        self._name = name
        self._max_concurrent = max_concurrent
        self._max_queue = max_queue
        self._queue_timeout_s = queue_timeout_s
        self._clock = clock
        self._listener = listener
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._rejected = 0
        self._timed_out = 0

    @property
    def name(self) -> str:
        """The dependency this bulkhead guards."""
        return self._name

    @property
    def in_use(self) -> int:
        """Slots held, including slots handed to waiters that have not resumed yet."""
        return self._in_use

    @property
    def queued(self) -> int:
        """Callers waiting for a slot."""
        return len(self._waiters)

    def snapshot(self) -> BulkheadSnapshot:
        """The limits and the current counts."""
        return BulkheadSnapshot(
            name=self._name,
            max_concurrent=self._max_concurrent,
            max_queue=self._max_queue,
            in_use=self._in_use,
            queued=len(self._waiters),
            rejected=self._rejected,
            timed_out=self._timed_out,
        )

    def slot(self, *, max_wait_s: float | None = None) -> BulkheadSlot:
        """``async with bulkhead.slot():`` holds a slot for the block; see ``acquire``."""
        return BulkheadSlot(self, max_wait_s)

    async def acquire(self, *, max_wait_s: float | None = None) -> None:
        """Take a slot, waiting in line for one if they are all in use.

        Args:
            max_wait_s: A shorter bound on the wait for this call, e.g. the request's
                remaining deadline (``timeout_for(queue_timeout_s)``); the queue timeout
                still applies when it is sooner.

        Raises:
            BulkheadFullError: If every slot is in use and the queue is full.
            BulkheadTimeoutError: If no slot came within the wait bound.
        """
        decision = admit(self._in_use, len(self._waiters), self._max_concurrent, self._max_queue)
        if decision is Admission.ENTER:
            self._in_use += 1
            return
        if decision is Admission.REJECT:
            self._rejected += 1
            if self._listener is not None:
                self._listener.on_event(
                    BulkheadRejected(self._name, self._in_use, len(self._waiters))
                )
            raise BulkheadFullError(self._name, self._max_concurrent, self._max_queue)
        await self._wait(self._wait_bound(max_wait_s))

    def release(self) -> None:
        """Give a slot back: to the oldest waiter if there is one, else to the pool.

        Raises:
            BulkheadReleaseError: If no slot is in use.
        """
        if self._in_use == 0:
            raise BulkheadReleaseError(self._name)
        while self._waiters:
            waiter = self._waiters.popleft()
            # A waiter cancelled since it queued is still in line until its task resumes
            # and removes it; skip it rather than hand it a slot it can no longer take.
            if not waiter.done():
                waiter.set_result(None)  # the slot moves over; in_use does not change
                return
        self._in_use -= 1

    async def _wait(self, timeout_s: float | None) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        started = self._clock.monotonic()
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
        except TimeoutError:
            if self._granted(waiter):
                return  # the slot arrived as the timer fired: keep it
            self._leave_queue(waiter)
            waited_s = self._clock.monotonic() - started
            self._timed_out += 1
            if self._listener is not None:
                self._listener.on_event(BulkheadTimedOut(self._name, waited_s))
            raise BulkheadTimeoutError(self._name, waited_s) from None
        except BaseException:
            # Cancelled (or interrupted) while queued: leave the line, and if a slot was
            # handed over in the meantime, pass it on instead of leaking it.
            if self._granted(waiter):
                self.release()
            else:
                self._leave_queue(waiter)
            raise

    def _wait_bound(self, max_wait_s: float | None) -> float | None:
        if max_wait_s is None:
            return self._queue_timeout_s
        if self._queue_timeout_s is None:
            return max_wait_s
        return min(max_wait_s, self._queue_timeout_s)

    @staticmethod
    def _granted(waiter: asyncio.Future[None]) -> bool:
        return waiter.done() and not waiter.cancelled()

    def _leave_queue(self, waiter: asyncio.Future[None]) -> None:
        # The bounded queue keeps this O(max_queue) removal cheap.
        with contextlib.suppress(ValueError):  # ValueError: release() already skipped it
            self._waiters.remove(waiter)


class BulkheadSlot:
    """The async context manager ``Bulkhead.slot()`` returns: acquire on entry, release on exit."""

    __slots__ = ("_bulkhead", "_max_wait_s")

    def __init__(self, bulkhead: Bulkhead, max_wait_s: float | None) -> None:
        self._bulkhead = bulkhead
        self._max_wait_s = max_wait_s

    async def __aenter__(self) -> None:
        await self._bulkhead.acquire(max_wait_s=self._max_wait_s)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bulkhead.release()
