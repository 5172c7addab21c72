"""An in-process broker for unit tests and single-process demos (not durable)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from bazaar.kernel.messaging.ports import Delivery, Record, partition_for

__all__ = ["InMemoryBroker"]


@dataclass(slots=True)
class _Group:
    acked: set[int] = field(default_factory=set)
    delivered: set[int] = field(default_factory=set)


class InMemoryBroker:
    """``Broker`` over Python lists: same semantics as the durable adapters, lost on exit.

    ``fail_next_publish`` makes the next ``publish`` raise (tests of the relay's retry).
    """

    def __init__(self, partitions: int = 4) -> None:
        self._partitions = partitions
        # (topic, partition) -> records in offset order
        self._log: dict[tuple[str, int], list[Record]] = defaultdict(list)
        self._groups: dict[tuple[str, str, int], _Group] = defaultdict(_Group)
        self._published = asyncio.Condition()
        self.fail_next_publish: Exception | None = None

    @property
    def partitions(self) -> int:
        return self._partitions

    def records(self, topic: str) -> list[Record]:
        """Every record of a topic, partition by partition (for assertions)."""
        return [r for p in range(self._partitions) for r in self._log[(topic, p)]]

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        if self.fail_next_publish is not None:
            error, self.fail_next_publish = self.fail_next_publish, None
            raise error
        for record in records:
            self._log[(topic, partition_for(record.key, self._partitions))].append(record)
        async with self._published:
            self._published.notify_all()

    def _unacked(self, topic: str, group: str, partition: int) -> list[tuple[int, Record]]:
        state = self._groups[(topic, group, partition)]
        return [
            (offset, record)
            for offset, record in enumerate(self._log[(topic, partition)])
            if offset not in state.acked
        ]

    async def fetch(
        self, topic: str, group: str, partition: int, *, limit: int, block_s: float = 0.0
    ) -> list[Delivery]:
        pending = self._unacked(topic, group, partition)
        if not pending and block_s > 0:
            async with self._published:
                try:
                    await asyncio.wait_for(self._published.wait(), block_s)
                except TimeoutError:
                    return []
            pending = self._unacked(topic, group, partition)
        state = self._groups[(topic, group, partition)]
        deliveries = []
        for offset, record in pending[:limit]:
            deliveries.append(
                Delivery(
                    topic=topic,
                    partition=partition,
                    offset=str(offset),
                    key=record.key,
                    data=record.data,
                    redelivered=offset in state.delivered,
                )
            )
            state.delivered.add(offset)
        return deliveries

    async def ack(self, topic: str, group: str, partition: int, offsets: Sequence[str]) -> None:
        self._groups[(topic, group, partition)].acked.update(int(o) for o in offsets)

    async def backlog(self, topic: str, group: str) -> int:
        return sum(len(self._unacked(topic, group, p)) for p in range(self._partitions))

    async def aclose(self) -> None:
        return None
