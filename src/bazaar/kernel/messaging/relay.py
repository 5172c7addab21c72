"""The outbox relay: moves committed events from the outbox table to the broker (§6.1).

One relay is active per deployment: it holds the ``outbox-relay`` lease (capabilities §7.8)
and publishes in batches, oldest first, so events of one aggregate reach the broker in the
order they committed. A relay that loses the lease stops after its current batch; the
overlap can publish a batch twice, which consumers absorb through their inbox.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bazaar.kernel.clock import Clock
from bazaar.kernel.locks.ports import Lease, LeaseStore
from bazaar.kernel.messaging.context import on_outbox_written
from bazaar.kernel.messaging.ports import Broker, Record
from bazaar.kernel.messaging.sqlalchemy import OutboxRow

__all__ = ["OutboxRelay", "OutboxSource", "RelayConfig", "RelayListener"]

log = logging.getLogger(__name__)

RELAY_LEASE = "outbox-relay"


class OutboxSource(Protocol):
    """Where the relay reads the outbox (``SqlOutbox``)."""

    async def relay_batch(
        self,
        limit: int,
        publish: Callable[[Sequence[OutboxRow]], Awaitable[None]],
        now: Callable[[], float],
    ) -> list[OutboxRow]: ...

    async def pending(self) -> tuple[int, float | None]: ...


class RelayListener(Protocol):
    """What the relay reports (metrics): batches published and failures."""

    def published(self, count: int, oldest_age_s: float) -> None: ...

    def failed(self, error: BaseException) -> None: ...


class _NullListener:
    def published(self, count: int, oldest_age_s: float) -> None:
        pass

    def failed(self, error: BaseException) -> None:
        pass


@dataclass(frozen=True, slots=True)
class RelayConfig:
    batch_size: int = 200
    # How long an idle relay waits before looking again (unless woken by ``notify``).
    idle_interval_s: float = 0.05
    lease_ttl_s: float = 10.0
    # Back-off after a failed publish (the broker is down): no hot loop against it.
    error_backoff_s: float = 1.0


class OutboxRelay:
    """Polls the outbox while holding the relay lease; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        source: OutboxSource,
        broker: Broker,
        leases: LeaseStore,
        clock: Clock,
        *,
        holder: str,
        config: RelayConfig | None = None,
        listener: RelayListener | None = None,
    ) -> None:
        self.source = source
        self.broker = broker
        self.leases = leases
        self.clock = clock
        self.holder = holder
        self.config = config or RelayConfig()
        self.listener: RelayListener = listener or _NullListener()
        self._lease: Lease | None = None
        self._lease_checked_at = float("-inf")
        self._wake = asyncio.Event()

    @property
    def leading(self) -> bool:
        return self._lease is not None

    def notify(self) -> None:
        """Wake an idle relay now (a unit of work in this process wrote outbox rows)."""
        self._wake.set()

    async def _hold_lease(self) -> bool:
        now = self.clock.monotonic()
        # Acquire (or renew: the same holder acquiring again renews) a few times per TTL.
        if now - self._lease_checked_at >= self.config.lease_ttl_s / 3:
            self._lease_checked_at = now
            self._lease = await self.leases.acquire(
                RELAY_LEASE, self.holder, self.config.lease_ttl_s
            )
        return self._lease is not None

    async def _publish(self, rows: Sequence[OutboxRow]) -> None:
        # Rows are in commit order; grouping by topic keeps each topic's (and key's) order.
        ordered = sorted(rows, key=lambda row: row.topic)  # stable: seq order within a topic
        for topic, group in itertools.groupby(ordered, key=lambda row: row.topic):
            await self.broker.publish(topic, [Record(row.key, row.data) for row in group])

    async def run_once(self) -> int:
        """Publish one batch if this relay leads; returns how many events it published."""
        if not await self._hold_lease():
            return 0
        rows = await self.source.relay_batch(self.config.batch_size, self._publish, self.clock.now)
        if rows:
            oldest_age = max(0.0, self.clock.now() - min(row.created_at for row in rows))
            self.listener.published(len(rows), oldest_age)
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; a failing broker or database is retried, never fatal."""
        unregister = on_outbox_written(self.notify)
        try:
            while not stop.is_set():
                # Cleared before the pass, not before the wait: a commit that notifies while
                # a batch is being published is seen by the next wait, not lost.
                self._wake.clear()
                try:
                    published = await self.run_once()
                except Exception as exc:  # the relay must outlive any outage; it is reported
                    log.warning("outbox relay failed: %s", exc, exc_info=exc)
                    self.listener.failed(exc)
                    self._lease_checked_at = float("-inf")
                    await self._idle(stop, self.config.error_backoff_s)
                    continue
                if published < self.config.batch_size:
                    await self._idle(stop, self.config.idle_interval_s)

        finally:
            unregister()
            if self._lease is not None:
                try:
                    await self.leases.release(self._lease)
                except Exception as exc:  # expiry releases it anyway
                    log.info("relay lease not released: %s", exc)
                self._lease = None

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait([*waits, sleeper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*waits, sleeper):
                task.cancel()
