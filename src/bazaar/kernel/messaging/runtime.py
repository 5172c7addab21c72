"""The worker runtime: the outbox relay, the consumers, the cron scheduler and the autoscaler.

``bazaar worker`` runs one ``MessagingRuntime``; ``bazaar up`` runs one beside the API in the
same process. Everything in it is safe to run in many processes at once: the relay and each
partition are leased, cron ticks are claimed.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bazaar.kernel.clock import Clock
from bazaar.kernel.messaging.consumer import MessageConsumer
from bazaar.kernel.messaging.ports import Broker

__all__ = ["AutoscalePolicy", "Autoscaler", "MessagingRuntime", "Runnable"]

log = logging.getLogger(__name__)


class Runnable(Protocol):
    async def run(self, stop: asyncio.Event) -> None: ...


@dataclass(frozen=True, slots=True)
class AutoscalePolicy:
    """Partitions a process serves at once, per consumer: ``minimum``..``maximum``.

    The target is one partition task per ``backlog_per_task`` waiting messages, moved one
    step per evaluation (no flapping): up at once when the backlog grows, down only after
    ``idle_evaluations`` evaluations in a row wanted fewer.
    """

    minimum: int = 1
    maximum: int = 8
    backlog_per_task: int = 100
    interval_s: float = 2.0
    idle_evaluations: int = 3


class Autoscaler:
    """Scales each consumer's partition tasks between the policy's bounds by backlog."""

    def __init__(
        self,
        consumers: Sequence[MessageConsumer],
        broker: Broker,
        clock: Clock,
        policy: AutoscalePolicy,
    ) -> None:
        self.consumers = tuple(consumers)
        self.broker = broker
        self.clock = clock
        self.policy = policy
        self._wanting_less = {c.name: 0 for c in consumers}
        for consumer in consumers:
            consumer.max_owned = self._bounded(consumer, policy.minimum)

    def _bounded(self, consumer: MessageConsumer, value: int) -> int:
        total = len(consumer.subscription.topics) * self.broker.partitions
        return max(1, min(total, max(self.policy.minimum, min(self.policy.maximum, value))))

    async def backlog(self, consumer: MessageConsumer) -> int:
        return sum(
            [await self.broker.backlog(t, consumer.name) for t in consumer.subscription.topics]
        )

    async def evaluate(self) -> dict[str, int]:
        """One step for every consumer; returns the new task counts by consumer."""
        result = {}
        for consumer in self.consumers:
            backlog = await self.backlog(consumer)
            target = self._bounded(consumer, math.ceil(backlog / self.policy.backlog_per_task))
            current = consumer.max_owned
            if target > current:
                consumer.max_owned = current + 1
                self._wanting_less[consumer.name] = 0
            elif target < current:
                self._wanting_less[consumer.name] += 1
                if self._wanting_less[consumer.name] >= self.policy.idle_evaluations:
                    consumer.max_owned = current - 1
                    self._wanting_less[consumer.name] = 0
            else:
                self._wanting_less[consumer.name] = 0
            result[consumer.name] = consumer.max_owned
        return result

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.evaluate()
            except Exception as exc:  # the broker is down: keep the current sizes
                log.warning("autoscaler could not read the backlog: %s", exc)
            await self.clock.sleep(self.policy.interval_s)


class MessagingRuntime:
    """Runs its parts until ``stop``; a part that crashes is logged and restarted."""

    def __init__(
        self,
        parts: Sequence[tuple[str, Runnable]],
        *,
        restart_delay_s: float = 1.0,
        on_stopped: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.parts = tuple(parts)
        self.restart_delay_s = restart_delay_s
        self.on_stopped = on_stopped

    async def _supervise(self, name: str, part: Runnable, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await part.run(stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a supervisor keeps the worker alive; the crash is logged
                log.error("worker part %s crashed; restarting", name, exc_info=exc)
                await asyncio.sleep(self.restart_delay_s)

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [
            asyncio.create_task(self._supervise(name, part, stop), name=f"worker:{name}")
            for name, part in self.parts
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.on_stopped is not None:
                await self.on_stopped()
