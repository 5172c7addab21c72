"""The contract of ``Broker``: a partitioned, at-least-once log with consumer groups."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Protocol

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from bazaar.kernel.clock import Clock
from bazaar.kernel.messaging.memory import InMemoryBroker
from bazaar.kernel.messaging.ports import Broker, Delivery, Record, partition_for
from bazaar.kernel.messaging.redis_streams import RedisStreamsBroker
from bazaar.kernel.messaging.sqlite_log import SqliteLogBroker

__all__ = [
    "CONTRACT_PARTITIONS",
    "BrokerContract",
    "BrokerHarness",
    "InMemoryHarness",
    "RedisHarness",
    "SqliteHarness",
    "by_key",
    "data_of",
    "drain",
    "key_in",
    "records",
]

# Few partitions: enough to spread keys, few enough that draining every one stays cheap.
CONTRACT_PARTITIONS = 4


class BrokerHarness(Protocol):
    """What the suite needs from an adapter: brokers on one shared log, and their cleanup.

    Every ``broker()`` of one harness sees the same topics, as the processes of one
    deployment do, and has its own connection: closing one and asking for another is a
    process restart. A restarted broker keeps its identity (a Redis consumer name), as a
    restarted worker does. The harness closes what it opened when the test ends.
    """

    async def broker(self) -> Broker:
        """A new broker with ``CONTRACT_PARTITIONS`` partitions on this test's log."""
        ...


class InMemoryHarness:
    """One ``InMemoryBroker`` shared by every "process" of a test (it lives in this one)."""

    def __init__(self) -> None:
        self._broker = InMemoryBroker(partitions=CONTRACT_PARTITIONS)

    async def broker(self) -> Broker:
        return self._broker

    async def aclose(self) -> None:
        return None


class SqliteHarness:
    """``SqliteLogBroker``s on one file; each broker is its own connection, like a process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._brokers: list[SqliteLogBroker] = []

    async def broker(self) -> Broker:
        return self.sqlite_broker()

    def sqlite_broker(
        self,
        *,
        max_length: int | None = None,
        retention_s: float | None = None,
        trim_every: int = 1000,
        clock: Clock | None = None,
    ) -> SqliteLogBroker:
        """A broker on the shared file, with the retention options given."""
        broker = SqliteLogBroker(
            self.path,
            partitions=CONTRACT_PARTITIONS,
            max_length=max_length,
            retention_s=retention_s,
            trim_every=trim_every,
            clock=clock,
        )
        self._brokers.append(broker)
        return broker

    async def aclose(self) -> None:
        for broker in self._brokers:
            await broker.aclose()
        self._brokers.clear()


class RedisHarness:
    """``RedisStreamsBroker``s on one real Redis, under a key prefix unique to the test.

    Each broker has its own client; all share ``consumer_name`` unless told otherwise.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.key_prefix = f"bazaar:test:stream:{uuid.uuid4().hex}:"
        self.consumer_name = "contract-consumer"
        self._clients: list[Redis] = []

    async def broker(self) -> Broker:
        return self.redis_broker()

    def redis_broker(
        self,
        *,
        consumer_name: str | None = None,
        visibility_timeout_s: float = 5.0,
        max_length: int | None = None,
        retention_s: float | None = None,
        clock: Clock | None = None,
        url: str | None = None,
    ) -> RedisStreamsBroker:
        """A broker with a client of its own (on ``url`` when given), with these options."""
        client = Redis.from_url(url or self.url)
        self._clients.append(client)
        return RedisStreamsBroker(
            client,
            partitions=CONTRACT_PARTITIONS,
            consumer_name=consumer_name or self.consumer_name,
            visibility_timeout_s=visibility_timeout_s,
            max_length=max_length,
            retention_s=retention_s,
            key_prefix=self.key_prefix,
            clock=clock,
        )

    async def aclose(self) -> None:
        """Delete this test's streams and close every client."""
        if self._clients:
            async with Redis.from_url(self.url) as client:
                keys = [key async for key in client.scan_iter(match=self.key_prefix + "*")]
                if keys:
                    await client.delete(*keys)
        for client in self._clients:
            await client.aclose()
        self._clients.clear()


def key_in(partition: int, partitions: int = CONTRACT_PARTITIONS, prefix: str = "key") -> str:
    """A key that ``partition_for`` sends to ``partition``."""
    for number in range(10_000):
        key = f"{prefix}-{number}"
        if partition_for(key, partitions) == partition:
            return key
    raise AssertionError(f"no key of {partition} found")  # pragma: no cover


def records(key: str, count: int, start: int = 0) -> list[Record]:
    """``count`` records of ``key`` whose data is ``key:sequence``."""
    return [Record(key, f"{key}:{seq}".encode()) for seq in range(start, start + count)]


async def drain(broker: Broker, topic: str, group: str, *, limit: int = 100) -> list[Delivery]:
    """Fetch and ack every partition until nothing is left; the deliveries in fetch order."""
    deliveries: list[Delivery] = []
    for partition in range(broker.partitions):
        while batch := await broker.fetch(topic, group, partition, limit=limit):
            deliveries.extend(batch)
            await broker.ack(topic, group, partition, [d.offset for d in batch])
    return deliveries


def by_key(deliveries: list[Delivery]) -> dict[str, list[bytes]]:
    """The data of ``deliveries`` per key, in delivery order."""
    grouped: dict[str, list[bytes]] = defaultdict(list)
    for delivery in deliveries:
        grouped[delivery.key].append(delivery.data)
    return dict(grouped)


def data_of(deliveries: list[Delivery]) -> list[bytes]:
    """The data of ``deliveries``, in order."""
    return [d.data for d in deliveries]


# --- the property test's program ---

_KEYS = ("a", "b", "c", "d", "e")
_publish = st.tuples(st.just("publish"), st.lists(st.sampled_from(_KEYS), min_size=1, max_size=4))
_consume = st.tuples(
    st.just("consume"),
    st.integers(0, CONTRACT_PARTITIONS - 1),
    st.integers(1, 4),  # limit
    st.frozensets(st.integers(0, 3)),  # which of the fetched deliveries are acked
)
_crash = st.tuples(st.just("crash"))
_program = st.lists(st.one_of(_publish, _consume, _crash), min_size=1, max_size=25)


class BrokerContract:
    """Subclass and provide a ``broker_harness`` fixture yielding a ``BrokerHarness``.

    Each test uses its own topic and groups, so a harness may be shared between tests.
    """

    @pytest.fixture
    def topic(self) -> str:
        return f"topic{uuid.uuid4().hex[:8]}"

    # --- publish, fetch, ack ---

    async def test_a_published_record_is_fetched_once_then_gone_when_acked(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        broker = await broker_harness.broker()
        key = key_in(2)
        await broker.publish(topic, [Record(key, b"\x00payload\xff")])
        [delivery] = await broker.fetch(topic, "g", 2, limit=10)
        assert (delivery.topic, delivery.partition, delivery.key, delivery.data) == (
            topic,
            2,
            key,
            b"\x00payload\xff",
        )
        assert delivery.redelivered is False
        await broker.ack(topic, "g", 2, [delivery.offset])
        assert await broker.fetch(topic, "g", 2, limit=10) == []
        for other in (0, 1, 3):
            assert await broker.fetch(topic, "g", other, limit=10) == []

    async def test_fetch_returns_the_oldest_first_up_to_the_limit_with_increasing_offsets(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        broker = await broker_harness.broker()
        key = key_in(0)
        await broker.publish(topic, records(key, 3))
        await broker.publish(topic, records(key, 4, start=3))
        first = await broker.fetch(topic, "g", 0, limit=5)
        assert data_of(first) == [f"{key}:{n}".encode() for n in range(5)]
        await broker.ack(topic, "g", 0, [d.offset for d in first])
        second = await broker.fetch(topic, "g", 0, limit=5)
        assert data_of(second) == [f"{key}:{n}".encode() for n in (5, 6)]
        offsets = [d.offset for d in (*first, *second)]
        assert len(set(offsets)) == 7

    async def test_publishing_nothing_is_allowed(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        broker = await broker_harness.broker()
        await broker.publish(topic, [])
        await broker.ack(topic, "g", 0, [])
        assert await drain(broker, topic, "g") == []

    async def test_a_group_starts_at_the_beginning_of_each_partition(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        broker = await broker_harness.broker()
        keys = [key_in(p) for p in range(CONTRACT_PARTITIONS)]
        for key in keys:
            await broker.publish(topic, records(key, 2))
        delivered = by_key(await drain(broker, topic, "late-group"))
        assert delivered == {key: [f"{key}:0".encode(), f"{key}:1".encode()] for key in keys}

    async def test_records_of_a_key_keep_their_order_across_many_keys_and_partitions(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        broker = await broker_harness.broker()
        keys = [f"order-{n}" for n in range(20)]
        sent: dict[str, list[bytes]] = defaultdict(list)
        for round_ in range(10):
            batch = [Record(key, f"{key}:{round_}".encode()) for key in keys]
            await broker.publish(topic, batch)
            for record in batch:
                sent[record.key].append(record.data)
        deliveries = await drain(broker, topic, "g", limit=7)
        assert by_key(deliveries) == sent
        assert {d.partition for d in deliveries} == set(range(CONTRACT_PARTITIONS))
        assert all(d.partition == partition_for(d.key, CONTRACT_PARTITIONS) for d in deliveries)

    # --- redelivery ---

    async def test_unacked_deliveries_come_again_first_and_marked_redelivered(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        broker = await broker_harness.broker()
        key = key_in(1)
        await broker.publish(topic, records(key, 3))
        first = await broker.fetch(topic, "g", 1, limit=10)
        assert [d.redelivered for d in first] == [False] * 3
        await broker.publish(topic, records(key, 2, start=3))
        again = await broker.fetch(topic, "g", 1, limit=10)
        assert data_of(again) == [f"{key}:{n}".encode() for n in range(5)]
        assert [d.offset for d in again[:3]] == [d.offset for d in first]
        assert [d.redelivered for d in again] == [True, True, True, False, False]

    async def test_acked_deliveries_never_come_again_even_when_acked_out_of_order(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        broker = await broker_harness.broker()
        key = key_in(3)
        await broker.publish(topic, records(key, 6))
        first = await broker.fetch(topic, "g", 3, limit=10)
        await broker.ack(topic, "g", 3, [first[4].offset, first[1].offset])
        second = await broker.fetch(topic, "g", 3, limit=10)
        assert [d.offset for d in second] == [first[n].offset for n in (0, 2, 3, 5)]
        assert all(d.redelivered for d in second)
        # Acking again, or acking what was acked, changes nothing.
        await broker.ack(topic, "g", 3, [second[3].offset, second[0].offset, first[1].offset])
        third = await broker.fetch(topic, "g", 3, limit=10)
        assert [d.offset for d in third] == [first[2].offset, first[3].offset]
        await broker.ack(topic, "g", 3, [d.offset for d in third])
        assert await broker.fetch(topic, "g", 3, limit=10) == []

    async def test_every_group_gets_every_message(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        broker = await broker_harness.broker()
        sent = [Record(f"k{n}", f"m{n}".encode()) for n in range(12)]
        await broker.publish(topic, sent)
        billing = await drain(broker, topic, "billing")
        await broker.publish(topic, [Record("k0", b"late")])
        shipping = await drain(broker, topic, "shipping")
        assert sorted(data_of(billing)) == sorted(r.data for r in sent)
        assert sorted(data_of(shipping)) == sorted([*(r.data for r in sent), b"late"])
        assert data_of(await drain(broker, topic, "billing")) == [b"late"]

    # --- backlog ---

    async def test_backlog_counts_unread_and_pending_and_drops_on_ack(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        broker = await broker_harness.broker()
        assert await broker.backlog(topic, "g") == 0
        key0, key1 = key_in(0), key_in(1)
        await broker.publish(topic, [*records(key0, 4), *records(key1, 6)])
        assert await broker.backlog(topic, "g") == 10  # a group not created yet
        fetched = await broker.fetch(topic, "g", 1, limit=4)
        assert await broker.backlog(topic, "g") == 10  # fetched is still pending
        await broker.ack(topic, "g", 1, [fetched[0].offset, fetched[2].offset])
        assert await broker.backlog(topic, "g") == 8
        await drain(broker, topic, "g")
        assert await broker.backlog(topic, "g") == 0
        assert await broker.backlog(topic, "other") == 10

    # --- durability ---

    async def test_nothing_is_lost_when_the_broker_is_reopened(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        broker = await broker_harness.broker()
        keys = [f"durable-{n}" for n in range(8)]
        sent = {key: [f"{key}:{n}".encode() for n in range(5)] for key in keys}
        await broker.publish(topic, [Record(k, d) for k in keys for d in sent[k]])
        acked: list[Delivery] = []
        pending: list[Delivery] = []
        for partition in range(CONTRACT_PARTITIONS):
            batch = await broker.fetch(topic, "g", partition, limit=4)
            await broker.ack(topic, "g", partition, [d.offset for d in batch[:2]])
            acked.extend(batch[:2])
            pending.extend(batch[2:])
        await broker.aclose()

        reopened = await broker_harness.broker()
        rest = await drain(reopened, topic, "g")
        assert sorted(data_of(acked + rest)) == sorted(d for k in keys for d in sent[k])
        assert not set(data_of(acked)) & set(data_of(rest))
        redelivered = {d.data for d in rest if d.redelivered}
        assert redelivered == set(data_of(pending))
        for key, data in by_key(rest).items():
            assert data == [d for d in sent[key] if d not in set(data_of(acked))]

    # --- waiting ---

    @pytest.mark.parametrize("publisher", ["same", "other"])
    async def test_a_blocking_fetch_returns_as_soon_as_a_record_arrives(
        self, broker_harness: BrokerHarness, topic: str, publisher: str
    ) -> None:
        consumer = await broker_harness.broker()
        producer = consumer if publisher == "same" else await broker_harness.broker()
        key = key_in(2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiting = asyncio.create_task(consumer.fetch(topic, "g", 2, limit=10, block_s=20.0))
        await asyncio.sleep(0)  # let the fetch start before the record exists
        await producer.publish(topic, records(key, 1))
        deliveries = await asyncio.wait_for(waiting, timeout=10.0)
        assert data_of(deliveries) == [f"{key}:0".encode()]
        assert loop.time() - started < 10.0

    async def test_a_blocking_fetch_gives_up_after_block_s(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        broker = await broker_harness.broker()
        await broker.publish(topic, records(key_in(0), 1))  # another partition
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await broker.fetch(topic, "g", 1, limit=10, block_s=0.05) == []
        assert loop.time() - started >= 0.04

    # --- concurrency ---

    async def test_concurrent_publishers_lose_nothing(
        self, broker_harness: BrokerHarness, topic: str
    ) -> None:
        brokers = [await broker_harness.broker() for _ in range(2)]

        async def publish_one_by_one(task: int) -> None:
            key = f"task-{task}"
            for record in records(key, 10):
                await brokers[task % 2].publish(topic, [record])

        await asyncio.gather(*(publish_one_by_one(task) for task in range(20)))
        delivered = by_key(await drain(brokers[0], topic, "g"))
        assert delivered == {
            f"task-{t}": [f"task-{t}:{n}".encode() for n in range(10)] for t in range(20)
        }

    # --- the property ---

    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        # The harness is per test, not per example: each example uses a topic of its own.
        # One method, one test class per adapter: "differing executors" by design.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(program=_program)
    async def test_every_message_is_delivered_and_first_deliveries_keep_key_order(
        self, broker_harness: BrokerHarness, program: list[tuple[object, ...]]
    ) -> None:
        topic, group = f"prop{uuid.uuid4().hex[:8]}", "g"
        broker = await broker_harness.broker()
        published: dict[str, list[bytes]] = defaultdict(list)
        # Offsets are unique within a partition only (Redis entry ids repeat across streams).
        seen: set[tuple[int, str]] = set()  # delivered at least once
        first: dict[str, list[bytes]] = defaultdict(list)

        def observe(deliveries: list[Delivery]) -> None:
            for d in deliveries:
                assert d.partition == partition_for(d.key, CONTRACT_PARTITIONS)
                position = (d.partition, d.offset)
                assert d.redelivered == (position in seen), d
                if position not in seen:
                    seen.add(position)
                    first[d.key].append(d.data)

        for step in program:
            if step[0] == "publish":
                keys = step[1]
                assert isinstance(keys, list)
                batch = []
                for key in keys:
                    batch.append(Record(key, f"{key}:{len(published[key])}".encode()))
                    published[key].append(batch[-1].data)
                await broker.publish(topic, batch)
            elif step[0] == "consume":
                _, partition, limit, acks = step
                assert isinstance(partition, int)
                assert isinstance(limit, int)
                assert isinstance(acks, frozenset)
                deliveries = await broker.fetch(topic, group, partition, limit=limit)
                observe(deliveries)
                chosen = [d.offset for n, d in enumerate(deliveries) if n in acks]
                await broker.ack(topic, group, partition, chosen)
            else:  # a crash: whatever was fetched and not acked is forgotten
                await broker.aclose()
                broker = await broker_harness.broker()
        observe(await drain(broker, topic, group, limit=3))
        assert first == published
        assert await broker.backlog(topic, group) == 0
        await broker.aclose()
