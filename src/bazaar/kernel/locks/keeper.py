"""``LeaseKeeper``: holds a lease in the background (acquire, renew, notice loss) for leaders."""

from __future__ import annotations

import asyncio
import enum
import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.locks.errors import LeaseLostError
from bazaar.kernel.locks.ports import Lease, LeaseStore, validate_ttl

__all__ = ["KeeperState", "LeaseKeeper"]


class KeeperState(enum.Enum):
    """Where a ``LeaseKeeper`` is."""

    STANDBY = "standby"  # not holding; trying to acquire every ``acquire_every_s``
    HELD = "held"  # holding; renewing every ``renew_every_s``
    CLOSED = "closed"  # stopped; the lease was released


class LeaseKeeper:
    """Keeps one lease for one holder: leader election for a loop (relay, partition, cron).

    A supervisor around a ``LeaseStore``. On entry it tries once to acquire, then a
    background task either renews (HELD) or keeps trying to acquire (STANDBY)::

        STANDBY --acquired--> HELD --renew answered None--------------> STANDBY (lost set)
                               HELD --renew kept failing past expiry--> STANDBY (lost set)
        any --exit--> CLOSED (released)

    A store error while renewing is not a loss by itself: the lease is still ours until its
    expiry, so the keeper keeps trying and declares the loss only once the expiry passes.
    Expiry is judged on this process's monotonic clock from the moment *before* the call that
    granted or renewed the lease, so it errs early, never late, whatever the store's clock.

    The relay's loop::

        async with LeaseKeeper(store, "outbox-relay", holder=instance_id, ttl_s=15.0) as keeper:
            while running:
                lease = keeper.lease
                if lease is None:
                    await keeper.wait_acquired()  # or sleep and check again
                    continue
                await publish_batch(fencing_token=lease.token)

    ``lease``/``held`` go False the moment the expiry passes, even before the background task
    wakes up; ``check()`` raises instead, for use just before a write the lease protects.
    Nothing here makes a paused holder safe on its own: pass ``lease.token`` to whatever the
    lease protects, and have it refuse smaller tokens.
    """

    def __init__(
        self,
        store: LeaseStore,
        name: str,
        holder: str,
        ttl_s: float,
        *,
        clock: Clock | None = None,
        renew_every_s: float | None = None,
        acquire_every_s: float | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        """Prepare a keeper; nothing happens until ``async with`` (or ``start()``).

        Args:
            store: Where the lease lives.
            name: The lease's name, e.g. ``"outbox-relay"``.
            holder: Who this process is, unique per process (host, pid, random suffix).
            ttl_s: The lease's duration; a crashed holder blocks others this long at most.
            clock: For the expiry deadline (``monotonic()``) and, by default, for sleeping.
            renew_every_s: Seconds between renewals; ``ttl_s / 3`` by default, so two
                renewals can fail before the lease lapses.
            acquire_every_s: Seconds between attempts while on standby; ``renew_every_s``
                by default.
            sleep: Waits between attempts; ``clock.sleep`` by default. Tests pass a sleep
                they step through by hand.

        Raises:
            ConfigurationError: If a duration is not a positive number of seconds, or
                ``renew_every_s`` is not shorter than ``ttl_s``.
        """
        self._store = store
        self._name = name
        self._holder = holder
        self._ttl_s = validate_ttl(ttl_s)
        self._renew_every_s = _positive(
            "renew_every_s", self._ttl_s / 3 if renew_every_s is None else renew_every_s
        )
        if self._renew_every_s >= self._ttl_s:
            raise ConfigurationError(
                "renew_every_s",
                f"must be shorter than ttl_s ({self._ttl_s}), got {self._renew_every_s}",
            )
        self._acquire_every_s = _positive(
            "acquire_every_s", self._renew_every_s if acquire_every_s is None else acquire_every_s
        )
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._sleep = sleep if sleep is not None else self._clock.sleep
        self._state = KeeperState.STANDBY
        self._lease: Lease | None = None
        self._deadline = -math.inf
        self._decide = asyncio.Lock()
        self._acquired = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.lost = asyncio.Event()
        """Set when a held lease is lost; cleared when it is acquired again."""
        self.last_error: Exception | None = None
        """The last error the store raised, kept for logs and health checks."""

    @property
    def name(self) -> str:
        """The lease's name."""
        return self._name

    @property
    def holder(self) -> str:
        """Who this keeper holds the lease for."""
        return self._holder

    @property
    def state(self) -> KeeperState:
        """STANDBY, HELD or CLOSED, with an expiry that already passed counted as lost."""
        self._expire_if_due()
        return self._state

    @property
    def held(self) -> bool:
        """Whether the lease is held now (granted and not past its expiry)."""
        return self.state is KeeperState.HELD

    @property
    def lease(self) -> Lease | None:
        """The lease while held; None otherwise."""
        return self._lease if self.held else None

    def check(self) -> Lease:
        """The held lease, to fence a write with its token.

        Raises:
            LeaseLostError: If the lease is not held now.
        """
        lease = self.lease
        if lease is None:
            raise LeaseLostError(self._name, self._holder)
        return lease

    async def try_acquire(self) -> Lease | None:
        """Try once, now, to take the lease (a no-op returning it while already held).

        Returns:
            The lease, or None if another holder has it or the store failed (see
            ``last_error``).
        """
        if self.held:
            return self._lease
        async with self._decide:
            if self._state is KeeperState.STANDBY:
                await self._acquire_once()
        return self.lease

    async def wait_acquired(self) -> Lease:
        """Wait until the background task holds the lease.

        Returns:
            The lease, held at the moment of returning.

        Raises:
            LeaseLostError: If the keeper closes while waiting.
        """
        while True:
            if self._state is KeeperState.CLOSED:
                raise LeaseLostError(self._name, self._holder)
            lease = self.lease
            if lease is not None:
                return lease
            await self._acquired.wait()

    async def start(self) -> None:
        """Try to acquire once, then start the background task (what ``async with`` does)."""
        if self._task is not None or self._state is KeeperState.CLOSED:
            return
        await self.try_acquire()
        self._task = asyncio.create_task(self._run(), name=f"lease-keeper:{self._name}")

    async def aclose(self) -> None:
        """Stop the background task and release the lease if held (best effort)."""
        if self._state is KeeperState.CLOSED:
            return
        # Taking the lock first lets a store call in flight finish: cancelling it could leave
        # a lease granted in the store that nobody here knows to release.
        async with self._decide:
            task, self._task = self._task, None
            if task is not None:
                task.cancel()
            lease, self._lease = self._lease, None
            self._state = KeeperState.CLOSED
            self._deadline = -math.inf
            # Wakes wait_acquired(), which then sees CLOSED.
            self._acquired.set()
            if lease is not None:
                try:
                    await self._store.release(lease)
                except Exception as exc:  # the lease then lapses at its expiry
                    self.last_error = exc
        if task is not None:
            # wait(), not ``await task``: a cancellation of the caller must still propagate.
            await asyncio.wait([task])
            error = None if task.cancelled() else task.exception()
            if isinstance(error, Exception):
                self.last_error = error

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self) -> None:
        while True:
            held = self._state is KeeperState.HELD
            await self._sleep(self._renew_every_s if held else self._acquire_every_s)
            async with self._decide:
                self._expire_if_due()
                if self._state is KeeperState.HELD:
                    await self._renew_once()
                elif self._state is KeeperState.STANDBY:
                    await self._acquire_once()
                else:
                    return

    async def _acquire_once(self) -> None:
        started = self._clock.monotonic()
        try:
            lease = await self._store.acquire(self._name, self._holder, self._ttl_s)
        except Exception as exc:  # a store failure leaves us on standby; the loop retries
            self.last_error = exc
            return
        if lease is not None:
            self._hold(lease, started)

    async def _renew_once(self) -> None:
        lease = self._lease
        assert lease is not None
        started = self._clock.monotonic()
        try:
            renewed = await self._store.renew(lease, self._ttl_s)
        except Exception as exc:  # not lost yet: _expire_if_due decides at the deadline
            self.last_error = exc
            return
        if renewed is None:
            self._lose()
        else:
            self._hold(renewed, started)

    def _hold(self, lease: Lease, started: float) -> None:
        self._lease = lease
        self._deadline = started + self._ttl_s
        self._state = KeeperState.HELD
        self.lost.clear()
        self._acquired.set()

    def _lose(self) -> None:
        self._lease = None
        self._deadline = -math.inf
        self._state = KeeperState.STANDBY
        self._acquired.clear()
        self.lost.set()

    def _expire_if_due(self) -> None:
        if self._state is KeeperState.HELD and self._clock.monotonic() >= self._deadline:
            self._lose()


def _positive(key: str, seconds: float) -> float:
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(key, f"must be a finite number of seconds > 0, got {seconds}")
    return float(seconds)
