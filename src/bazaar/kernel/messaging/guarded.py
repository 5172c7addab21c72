"""A broker behind a dependency guard: timeouts, breaker and fault injection for ``broker``.

Publishing and fetching go through the ``broker`` guard, so an outage injected with
``PUT /api/v1/admin/faults/broker`` (or a real one) looks the same to the relay and the
consumers: the call fails, the outbox keeps the events, consumers back off, and nothing
is lost when the broker returns (capabilities §4.6, §6.1).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from bazaar.kernel.messaging.errors import BrokerError
from bazaar.kernel.messaging.ports import Broker, Delivery, Record
from bazaar.kernel.resilience.errors import DependencyFailureError
from bazaar.kernel.resilience.guard import DependencyGuard

__all__ = ["GuardedBroker"]

T = TypeVar("T")


class GuardedBroker:
    """``Broker`` whose publish, fetch and ack are calls of the guard's dependency."""

    def __init__(self, broker: Broker, guard: DependencyGuard) -> None:
        self.inner = broker
        self.guard = guard

    @property
    def partitions(self) -> int:
        return self.inner.partitions

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        async def attempt(_timeout_s: float) -> T:
            try:
                return await operation()
            except BrokerError as exc:
                # An infrastructure failure, counted by the breaker (not a business answer).
                raise DependencyFailureError(self.guard.name, str(exc)) from exc

        # Publishing twice is safe (consumers dedupe by id), fetching and acking too.
        return await self.guard.call(attempt, retry_safe=True)

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        await self._call(lambda: self.inner.publish(topic, records))

    async def fetch(
        self, topic: str, group: str, partition: int, *, limit: int, block_s: float = 0.0
    ) -> list[Delivery]:
        return await self._call(
            lambda: self.inner.fetch(topic, group, partition, limit=limit, block_s=block_s)
        )

    async def ack(self, topic: str, group: str, partition: int, offsets: Sequence[str]) -> None:
        await self._call(lambda: self.inner.ack(topic, group, partition, offsets))

    async def backlog(self, topic: str, group: str) -> int:
        return await self.inner.backlog(topic, group)

    async def aclose(self) -> None:
        await self.inner.aclose()
