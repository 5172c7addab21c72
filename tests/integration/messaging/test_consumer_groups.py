"""Several consumers of one group on real brokers: per-key order, poison, a Redis restart.

Two ``MessageConsumer``s (two "processes") share one group: each leases half the
partitions; per key, messages are handled in publish order; a poison message goes to the
dead letters without blocking its partition. With Redis restarted mid-stream (AOF on), no
event is lost and redeliveries are absorbed by the inbox (targets R8).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bazaar.infra.db import Database
from bazaar.kernel.clock import SystemClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.locks.sqlalchemy import SqlLeaseStore
from bazaar.kernel.messaging import (
    Broker,
    BrokerError,
    ConsumerConfig,
    Envelope,
    MessageConsumer,
    Record,
    SqlDeadLetterStore,
    SqlInboxStore,
    Subscription,
)
from bazaar.kernel.messaging.redis_streams import RedisStreamsBroker
from bazaar.kernel.messaging.sqlite_log import SqliteLogBroker
from bazaar.testing.messaging import MessagingTables
from bazaar.testing.servers import RedisServer, find_redis_server, required_engines

pytestmark = pytest.mark.slow

KEYS = [f"order-{n}" for n in range(20)]
PER_KEY = 20
PARTITIONS = 8


def envelope(key: str, seq: int) -> Envelope:
    return Envelope(
        id=f"{key}:{seq}",
        type="orders.order_placed",
        version=1,
        key=key,
        occurred_at=datetime.now(tz=UTC),
        payload={"seq": seq},
    )


class Recorder:
    """The handlers' effect: (key, seq) in the order handled."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, int]] = []

    async def handle(self, message: Envelope) -> None:
        await asyncio.sleep(0)  # let the other consumer's partitions interleave
        self.handled.append((message.key, int(message.payload["seq"])))


def consumers(
    broker_for: list[Broker], database: Database, tables: MessagingTables, recorder: Recorder
) -> list[MessageConsumer]:
    clock = SystemClock()
    made = []
    for n, broker in enumerate(broker_for):
        consumer = MessageConsumer(
            Subscription(
                consumer="orders-projection",
                topics=("orders",),
                handlers={"orders.order_placed": recorder.handle},
            ),
            broker,
            leases=SqlLeaseStore(database.engine, tables.leases, clock),
            inbox=SqlInboxStore(database.sessions, tables.inbox),
            dead_letters=SqlDeadLetterStore(database.sessions, tables.dead_letters),
            clock=clock,
            ids=SnowflakeGenerator(800 + n, clock),
            holder=f"process-{n}",
            config=ConsumerConfig(max_attempts=2, backoff_base_s=0.01, batch_size=25),
        )
        consumer.max_owned = PARTITIONS // 2
        made.append(consumer)
    return made


async def publish_with_retries(broker: Broker, records: list[Record]) -> None:
    """As the relay does: a failed publish is tried again (duplicates are fine)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            await broker.publish("orders", records)
            return
        except BrokerError:
            assert time.monotonic() < deadline, "the broker never came back"
            await asyncio.sleep(0.1)


async def until(condition: object, within_s: float = 40.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not done in time"
        await asyncio.sleep(0.02)


def assert_per_key_order(handled: list[tuple[str, int]]) -> None:
    first: dict[str, list[int]] = defaultdict(list)
    seen: set[tuple[str, int]] = set()
    for key, seq in handled:
        if (key, seq) not in seen:
            seen.add((key, seq))
            first[key].append(seq)
    assert set(first) == set(KEYS)
    for key, seqs in first.items():
        assert seqs == list(range(PER_KEY)), f"{key} out of order: {seqs}"


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    executable = find_redis_server()
    if executable is None:
        reason = "redis-server not found on PATH; install redis-server or set BAZAAR_REDIS_SERVER"
        if "redis" in required_engines():
            pytest.fail(f"{reason} (required by BAZAAR_TEST_REQUIRE)", pytrace=False)
        pytest.skip(reason)
    with RedisServer(executable, appendonly=True) as server:
        yield server


@pytest.fixture
async def redis_client(durable_redis: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(durable_redis.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def two_brokers(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[list[Broker]]:
    """Two handles on one broker, as two processes would have."""
    if request.param == "sqlite":
        yield [SqliteLogBroker(tmp_path / "broker.db", partitions=PARTITIONS) for _ in range(2)]
        return
    server: RedisServer = request.getfixturevalue("durable_redis")
    client = Redis.from_url(server.url)
    try:
        yield [
            RedisStreamsBroker(client, partitions=PARTITIONS, consumer_name=f"p{n}")
            for n in range(2)
        ]
    finally:
        await client.aclose()


class TestTwoConsumersOneGroup:
    async def test_per_key_order_and_a_poison_message_does_not_block(
        self, two_brokers: list[Broker], database: Database, tables: MessagingTables
    ) -> None:
        brokers = two_brokers
        recorder = Recorder()
        group = consumers(brokers, database, tables, recorder)
        stop = asyncio.Event()
        running = [asyncio.create_task(c.run(stop)) for c in group]
        try:
            for seq in range(PER_KEY):
                await brokers[0].publish(
                    "orders", [Record(k, envelope(k, seq).encode()) for k in KEYS]
                )
                if seq == 7:
                    await brokers[0].publish("orders", [Record(KEYS[3], b"\x00 poison")])
            await until(lambda: len(recorder.handled) >= len(KEYS) * PER_KEY)
        finally:
            stop.set()
            await asyncio.gather(*running)
            for broker in brokers:
                await broker.aclose()
        owned = [set(c.owned) for c in group]
        assert_per_key_order(recorder.handled)
        assert len(recorder.handled) == len(KEYS) * PER_KEY  # no crash: nothing twice
        letters = await SqlDeadLetterStore(database.sessions, tables.dead_letters).list()
        assert [(d.reason, d.key) for d in letters] == [("malformed", KEYS[3])]
        assert owned == [set(), set()]  # both released their partitions on stop

    async def test_redis_restarted_mid_stream_loses_nothing(
        self,
        database: Database,
        tables: MessagingTables,
        durable_redis: RedisServer,
        redis_client: Redis,
    ) -> None:
        brokers: list[Broker] = [
            RedisStreamsBroker(
                redis_client, partitions=PARTITIONS, consumer_name=f"p{n}", visibility_timeout_s=1.0
            )
            for n in range(2)
        ]
        recorder = Recorder()
        group = consumers(brokers, database, tables, recorder)
        stop = asyncio.Event()
        running = [asyncio.create_task(c.run(stop)) for c in group]
        try:
            for seq in range(PER_KEY // 2):
                await publish_with_retries(
                    brokers[0], [Record(k, envelope(k, seq).encode()) for k in KEYS]
                )
            await until(lambda: len(recorder.handled) >= 60)
            await asyncio.to_thread(durable_redis.restart)
            for seq in range(PER_KEY // 2, PER_KEY):
                await publish_with_retries(
                    brokers[0], [Record(k, envelope(k, seq).encode()) for k in KEYS]
                )
            await until(lambda: len(set(recorder.handled)) >= len(KEYS) * PER_KEY)
        finally:
            stop.set()
            await asyncio.gather(*running)
        assert_per_key_order(recorder.handled)
        inbox = SqlInboxStore(database.sessions, tables.inbox)
        for key in KEYS:
            for seq in range(PER_KEY):
                assert await inbox.contains("orders-projection", f"{key}:{seq}")
