"""The broker contract over both adapters (SQLite log, Redis Streams), plus each one's own
behaviour: retention, reclaiming a crashed consumer's entries, a Redis restart (R8)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.exceptions
from redis.asyncio import Redis

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.messaging.errors import BrokerError
from bazaar.kernel.messaging.ports import Record
from bazaar.kernel.messaging.redis_streams import RedisStreamsBroker
from bazaar.kernel.messaging.sqlite_log import OFFSET_DIGITS, SqliteLogBroker
from bazaar.testing.contracts.broker import (
    CONTRACT_PARTITIONS,
    BrokerContract,
    InMemoryHarness,
    RedisHarness,
    SqliteHarness,
    by_key,
    data_of,
    drain,
    key_in,
    records,
)
from bazaar.testing.servers import (
    RedisServer,
    find_free_port,
    find_redis_server,
    required_engines,
)


@pytest.fixture
async def sqlite_harness(tmp_path: Path) -> AsyncIterator[SqliteHarness]:
    harness = SqliteHarness(str(tmp_path / "broker.db"))
    yield harness
    await harness.aclose()


@pytest.fixture
async def redis_harness(redis_url: str) -> AsyncIterator[RedisHarness]:
    harness = RedisHarness(redis_url)
    yield harness
    await harness.aclose()


class TestInMemoryBrokerContract(BrokerContract):
    @pytest.fixture
    def broker_harness(self) -> InMemoryHarness:
        return InMemoryHarness()


class TestSqliteLogBrokerContract(BrokerContract):
    @pytest.fixture
    def broker_harness(self, sqlite_harness: SqliteHarness) -> SqliteHarness:
        return sqlite_harness


class TestRedisStreamsBrokerContract(BrokerContract):
    @pytest.fixture
    def broker_harness(self, redis_harness: RedisHarness) -> RedisHarness:
        return redis_harness


# --- both adapters, beyond the port's contract ---


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def either_harness(request: pytest.FixtureRequest) -> SqliteHarness | RedisHarness:
    harness: SqliteHarness | RedisHarness = request.getfixturevalue(f"{request.param}_harness")
    return harness


class TestBothAdapters:
    """What both adapters do although the port does not promise it (an in-memory fake may not)."""

    async def test_a_closed_broker_refuses_to_work(
        self, either_harness: SqliteHarness | RedisHarness
    ) -> None:
        broker = await either_harness.broker()
        await broker.aclose()
        with pytest.raises(BrokerError):
            await broker.publish("t", [Record("k", b"x")])
        with pytest.raises(BrokerError):
            await broker.fetch("t", "g", 0, limit=1)

    async def test_a_partition_out_of_range_or_a_limit_below_one_is_refused(
        self, either_harness: SqliteHarness | RedisHarness
    ) -> None:
        broker = await either_harness.broker()
        with pytest.raises(ValueError, match="partition"):
            await broker.fetch("t", "g", CONTRACT_PARTITIONS, limit=1)
        with pytest.raises(ValueError, match="partition"):
            await broker.ack("t", "g", -1, ["1"])
        with pytest.raises(ValueError, match="limit"):
            await broker.fetch("t", "g", 0, limit=0)


# --- SQLite only ---


class TestSqliteLogBroker:
    async def test_offsets_are_zero_padded_decimals_so_they_compare_as_strings(
        self, sqlite_harness: SqliteHarness
    ) -> None:
        broker = sqlite_harness.sqlite_broker()
        key = key_in(0)
        await broker.publish("t", records(key, 12))
        offsets = [d.offset for d in await broker.fetch("t", "g", 0, limit=20)]
        assert all(len(o) == OFFSET_DIGITS and o.isdigit() for o in offsets)
        assert offsets == sorted(offsets)
        assert [int(o) for o in offsets] == sorted(int(o) for o in offsets)

    async def test_trim_keeps_max_length_but_never_what_a_group_has_not_acked(
        self, sqlite_harness: SqliteHarness
    ) -> None:
        broker = sqlite_harness.sqlite_broker(max_length=2)
        key = key_in(1)
        await broker.publish("t", records(key, 10))
        fetched = await broker.fetch("t", "g", 1, limit=10)
        await broker.ack("t", "g", 1, [d.offset for d in fetched[:6]])
        assert await broker.trim() == 6  # 8 are over the bound, but g acked only 6
        assert data_of(await broker.fetch("t", "g", 1, limit=10)) == data_of(fetched[6:])
        await broker.ack("t", "g", 1, [d.offset for d in fetched[6:]])
        assert await broker.trim() == 2
        assert await broker.backlog("t", "g") == 0
        # A group arriving now starts at what is left.
        assert data_of(await broker.fetch("t", "new", 1, limit=10)) == data_of(fetched[8:])

    async def test_a_group_known_on_the_topic_protects_partitions_it_has_not_read(
        self, sqlite_harness: SqliteHarness
    ) -> None:
        broker = sqlite_harness.sqlite_broker(max_length=1)
        await broker.publish("t", records(key_in(0), 3) + records(key_in(1), 3))
        await drain_partition(broker, "t", "g", 0)
        assert await broker.trim() == 2  # partition 0 only; partition 1 is unread by g
        assert len(await broker.fetch("t", "g", 1, limit=10)) == 3

    async def test_retention_deletes_old_messages_once_acked(
        self, sqlite_harness: SqliteHarness
    ) -> None:
        clock = ManualClock()
        broker = sqlite_harness.sqlite_broker(retention_s=60.0, clock=clock)
        key = key_in(2)
        await broker.publish("t", records(key, 3))
        clock.advance(30.0)
        await broker.publish("t", records(key, 2, start=3))
        clock.advance(31.0)
        assert await broker.trim() == 3  # no group yet: nothing to protect
        assert await broker.fetch("t", "g", 2, limit=10) != []
        clock.advance(60.0)
        assert await broker.trim() == 0  # g has not acked the last two
        await drain_partition(broker, "t", "g", 2)
        assert await broker.trim() == 2

    async def test_publishing_trims_every_trim_every_publishes(
        self, sqlite_harness: SqliteHarness
    ) -> None:
        broker = sqlite_harness.sqlite_broker(max_length=1, trim_every=3)
        key = key_in(3)
        for n in range(2):
            await broker.publish("t", records(key, 1, start=n))
        assert await broker.backlog("t", "g") == 2
        await broker.publish("t", records(key, 1, start=2))  # the third: trims
        assert data_of(await broker.fetch("t", "g", 3, limit=10)) == [f"{key}:2".encode()]

    async def test_a_file_that_cannot_be_created_is_a_broker_error(self, tmp_path: Path) -> None:
        (tmp_path / "not-a-dir").write_text("")
        broker = SqliteLogBroker(tmp_path / "not-a-dir" / "broker.db")
        try:
            with pytest.raises(BrokerError) as raised:
                await broker.publish("t", [Record("k", b"x")])
            assert isinstance(raised.value.__cause__, OSError)
        finally:
            await broker.aclose()

    async def test_an_offset_it_never_returned_is_refused(
        self, sqlite_harness: SqliteHarness
    ) -> None:
        broker = sqlite_harness.sqlite_broker()
        with pytest.raises(BrokerError):
            await broker.ack("t", "g", 0, ["1700000000000-0"])

    @pytest.mark.parametrize(
        ("name", "value"), [("partitions", 0), ("max_length", 0), ("retention_s", -1.0)]
    )
    def test_a_bound_that_is_not_positive_is_refused(
        self, tmp_path: Path, name: str, value: float
    ) -> None:
        with pytest.raises(ConfigurationError) as raised:
            SqliteLogBroker(tmp_path / "b.db", **{name: value})  # type: ignore[arg-type]
        assert raised.value.key == name


async def drain_partition(broker: SqliteLogBroker, topic: str, group: str, partition: int) -> None:
    while batch := await broker.fetch(topic, group, partition, limit=100):
        await broker.ack(topic, group, partition, [d.offset for d in batch])


# --- Redis only ---


class TestRedisStreamsBroker:
    async def test_a_crashed_consumers_entries_move_to_another_only_after_the_visibility_timeout(
        self, redis_harness: RedisHarness
    ) -> None:
        crashed = redis_harness.redis_broker(consumer_name="a", visibility_timeout_s=0.2)
        successor = redis_harness.redis_broker(consumer_name="b", visibility_timeout_s=0.2)
        key = key_in(0)
        await crashed.publish("t", records(key, 5))
        taken = await crashed.fetch("t", "g", 0, limit=3)  # then "crashes": no ack
        await crashed.publish("t", records(key, 2, start=5))
        # Entries after the crashed consumer's are there, but reading them would overtake it.
        assert await successor.fetch("t", "g", 0, limit=10) == []
        # Idle time is Redis server time: the one real wait of this suite.
        await asyncio.sleep(0.25)
        deliveries = await successor.fetch("t", "g", 0, limit=10)
        assert data_of(deliveries) == [f"{key}:{n}".encode() for n in range(7)]
        assert [d.offset for d in deliveries[:3]] == [d.offset for d in taken]
        assert [d.redelivered for d in deliveries] == [True] * 3 + [False] * 4
        await successor.ack("t", "g", 0, [d.offset for d in deliveries])
        assert await successor.backlog("t", "g") == 0

    async def test_a_restarted_consumer_with_the_same_name_gets_its_entries_at_once(
        self, redis_harness: RedisHarness
    ) -> None:
        before = redis_harness.redis_broker(consumer_name="stable")
        await before.publish("t", records(key_in(1), 3))
        taken = await before.fetch("t", "g", 1, limit=2)
        after = redis_harness.redis_broker(consumer_name="stable")
        again = await after.fetch("t", "g", 1, limit=10)
        assert [d.offset for d in again[:2]] == [d.offset for d in taken]
        assert [d.redelivered for d in again] == [True, True, False]

    async def test_a_group_that_disappears_is_created_again(
        self, redis_harness: RedisHarness
    ) -> None:
        broker = redis_harness.redis_broker()
        key = key_in(2)
        await broker.publish("t", records(key, 1))
        await drain(broker, "t", "g")
        async with Redis.from_url(redis_harness.url) as client:
            await client.delete(broker.stream("t", 2))  # as a restart without persistence
        await broker.publish("t", records(key, 1, start=1))
        assert data_of(await broker.fetch("t", "g", 2, limit=10)) == [f"{key}:1".encode()]

    async def test_max_length_bounds_each_stream_approximately(
        self, redis_harness: RedisHarness
    ) -> None:
        broker = redis_harness.redis_broker(max_length=10)
        await broker.publish("t", records(key_in(3), 500))
        async with Redis.from_url(redis_harness.url) as client:
            length = await client.xlen(broker.stream("t", 3))
        # MAXLEN ~ trims whole radix-tree nodes (stream-node-max-entries, 100 by default).
        assert 10 <= length <= 110

    async def test_retention_trims_entries_older_than_retention_s(
        self, redis_harness: RedisHarness
    ) -> None:
        clock = ManualClock(start=0.0)  # 1970: every entry looks young
        broker = redis_harness.redis_broker(retention_s=60.0, clock=clock)
        key = key_in(0)
        await broker.publish("t", records(key, 300))
        clock.advance(4_000_000_000.0)  # year 2096: every entry is older than a minute
        await broker.publish("t", records(key, 1, start=300))
        async with Redis.from_url(redis_harness.url) as client:
            length = await client.xlen(broker.stream("t", 0))
        assert length <= 101  # whole nodes went; MINID ~ keeps the last, partial one

    async def test_backlog_counts_after_the_group_position_when_redis_reports_no_lag(
        self, redis_harness: RedisHarness
    ) -> None:
        broker = redis_harness.redis_broker()
        await broker.publish("t", records(key_in(1), 5))
        first = await broker.fetch("t", "g", 1, limit=1)
        async with Redis.from_url(redis_harness.url) as client:
            entries = await client.xrange(broker.stream("t", 1))
            assert entries is not None
            third = entries[2][0]
            assert third is not None
            await client.xdel(broker.stream("t", 1), third)  # lag is now unknown
            [info] = await client.xinfo_groups(broker.stream("t", 1))
        assert info["lag"] is None
        assert await broker.backlog("t", "g") == 4  # 1 pending + 3 unread
        await broker.ack("t", "g", 1, [first[0].offset])
        assert await broker.backlog("t", "g") == 3

    async def test_an_unreachable_redis_is_a_broker_error(self) -> None:
        client = Redis.from_url(f"redis://127.0.0.1:{find_free_port()}/0")
        try:
            broker = RedisStreamsBroker(client)
            for operation in (
                broker.publish("t", [Record("k", b"x")]),
                broker.fetch("t", "g", 0, limit=1),
                broker.ack("t", "g", 0, ["1-0"]),
                broker.backlog("t", "g"),
            ):
                with pytest.raises(BrokerError) as raised:
                    await operation
                assert isinstance(raised.value.__cause__, redis.exceptions.ConnectionError)
        finally:
            await client.aclose()

    async def test_a_client_that_decodes_responses_is_refused(self, redis_url: str) -> None:
        async with Redis.from_url(redis_url, decode_responses=True) as client:
            with pytest.raises(ConfigurationError) as raised:
                RedisStreamsBroker(client)
        assert raised.value.key == "redis"


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    """A Redis of the test's own with ``appendfsync always``, to be restarted."""
    executable = find_redis_server()
    if executable is None:
        reason = "redis-server not found on PATH; install redis-server or set BAZAAR_REDIS_SERVER"
        # As tests/conftest.py: CI requires the engine, a laptop may skip.
        if "redis" in required_engines():
            pytest.fail(f"{reason} (required by BAZAAR_TEST_REQUIRE)", pytrace=False)
        pytest.skip(reason)
    with RedisServer(executable, appendonly=True) as server:
        yield server


@pytest.mark.redis
async def test_a_redis_restart_mid_stream_loses_nothing_with_persistence(
    durable_redis: RedisServer,
) -> None:
    """R8: publish, consume part, restart Redis, and every unacked message still arrives."""
    harness = RedisHarness(durable_redis.url)
    try:
        broker = harness.redis_broker()
        keys = [f"order-{n}" for n in range(10)]
        sent = {key: [f"{key}:{n}".encode() for n in range(10)] for key in keys}
        for n in range(5):
            await broker.publish("orders", [Record(k, sent[k][n]) for k in keys])
        acked = []
        for partition in range(broker.partitions):
            batch = await broker.fetch("orders", "g", partition, limit=8)
            await broker.ack("orders", "g", partition, [d.offset for d in batch[:5]])
            acked.extend(batch[:5])

        await asyncio.to_thread(durable_redis.restart)

        # A new client: the process of the consumer survived, its connections did not.
        broker = harness.redis_broker()
        for n in range(5, 10):
            await broker.publish("orders", [Record(k, sent[k][n]) for k in keys])
        rest = await drain(broker, "orders", "g")
        assert sorted(data_of(acked + rest)) == sorted(d for k in keys for d in sent[k])
        assert not set(data_of(acked)) & set(data_of(rest))
        acked_data = set(data_of(acked))
        assert by_key(rest) == {
            k: [d for d in sent[k] if d not in acked_data]
            for k in keys
            if any(d not in acked_data for d in sent[k])
        }
    finally:
        await harness.aclose()
