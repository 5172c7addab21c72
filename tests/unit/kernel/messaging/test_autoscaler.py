"""The autoscaler sizes a consumer's partition tasks by backlog, one step at a time."""

from __future__ import annotations

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.locks.memory import InMemoryLeaseStore
from bazaar.kernel.messaging import (
    AutoscalePolicy,
    Autoscaler,
    InMemoryBroker,
    MessageConsumer,
    Record,
    Subscription,
)
from bazaar.kernel.messaging.sqlalchemy import DeadLetter


class NoInbox:
    async def record(self, consumer: str, message_id: str, at: object) -> bool:
        return True

    async def contains(self, consumer: str, message_id: str) -> bool:
        return False

    async def seen(self, consumer: str, message_ids: object) -> set[str]:
        return set()

    async def record_all(self, consumer: str, message_ids: object, at: object) -> None:
        return None


class NoDeadLetters:
    async def add(self, letter: DeadLetter) -> None:
        raise AssertionError("nothing is dead-lettered here")


class Ids:
    def next_id(self) -> int:
        return 1


def a_consumer(broker: InMemoryBroker, clock: ManualClock) -> MessageConsumer:
    return MessageConsumer(
        Subscription(consumer="c", topics=("orders",), handlers={}),
        broker,
        leases=InMemoryLeaseStore(clock),
        inbox=NoInbox(),
        dead_letters=NoDeadLetters(),
        clock=clock,
        ids=Ids(),
        holder="w",
    )


async def test_scales_up_with_the_backlog_and_down_only_after_idle_evaluations() -> None:
    clock = ManualClock()
    broker = InMemoryBroker(partitions=8)
    consumer = a_consumer(broker, clock)
    policy = AutoscalePolicy(minimum=1, maximum=4, backlog_per_task=10, idle_evaluations=2)
    scaler = Autoscaler([consumer], broker, clock, policy)
    assert consumer.max_owned == 1

    await broker.publish("orders", [Record(f"k{n}", b"x") for n in range(35)])
    sizes = [(await scaler.evaluate())["c"] for _ in range(5)]
    assert sizes == [2, 3, 4, 4, 4]  # one step per evaluation, capped at the maximum

    for partition in range(8):
        deliveries = await broker.fetch("orders", "c", partition, limit=100)
        await broker.ack("orders", "c", partition, [d.offset for d in deliveries])
    sizes = [(await scaler.evaluate())["c"] for _ in range(6)]
    assert sizes == [4, 3, 3, 2, 2, 1]  # down after two evaluations in a row wanted fewer


async def test_never_exceeds_the_partitions_there_are() -> None:
    clock = ManualClock()
    broker = InMemoryBroker(partitions=2)
    consumer = a_consumer(broker, clock)
    scaler = Autoscaler(
        [consumer], broker, clock, AutoscalePolicy(minimum=1, maximum=16, backlog_per_task=1)
    )
    await broker.publish("orders", [Record(f"k{n}", b"x") for n in range(50)])
    for _ in range(5):
        await scaler.evaluate()
    assert consumer.max_owned == 2
