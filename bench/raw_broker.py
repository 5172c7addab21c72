"""Benchmark P4 reference: a raw broker write+read loop on the same clients as the adapters.

P4 compares outbox → broker → consumer against "a raw broker write+read loop with the same
client" (targets.md). Raw means the least work that moves an event through the engine and
back with at-least-once bookkeeping, written straight against the driver:

- SQLite (stdlib ``sqlite3``, the adapter's client; same table and index, WAL, same
  ``synchronous``), synchronously, with no thread hop: per batch, one transaction inserting
  the batch, one ``SELECT`` of the partition's rows after the consumer's position, one
  transaction storing the new position.
- Redis (``redis.asyncio``, the adapter's client): per batch, one pipeline of ``XADD``s to
  the partition's stream, one ``XREADGROUP >`` and one ``XACK``: three round trips.

Every batch has one key, so it lands in one partition, in the raw loops as in the adapters'.

The adapters' loop (``broker_loop``) does the same through the ``Broker`` port. Run
``python bench/raw_broker.py`` for both engines (it starts its own redis-server).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from bazaar.kernel.messaging.ports import Broker, Record, partition_for
from bazaar.kernel.messaging.redis_streams import RedisStreamsBroker
from bazaar.kernel.messaging.sqlite_log import SqliteLogBroker
from bazaar.testing.servers import RedisServer

__all__ = ["broker_loop", "raw_redis_loop", "raw_sqlite_loop"]

BATCH = 100
PAYLOAD = b'{"id":"01J0000000000000000000","type":"orders.order_placed","payload":{}}' * 3


def raw_sqlite_loop(
    path: str | Path, n: int, *, batch: int = BATCH, synchronous: str = "FULL"
) -> float:
    """Write ``n`` events and read them back in batches with bare ``sqlite3``; events/s."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        # The adapter's table and index: reading a partition needs (topic, partition, id).
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "topic TEXT NOT NULL, partition INTEGER NOT NULL, key TEXT NOT NULL, "
            "data BLOB NOT NULL, published_at REAL NOT NULL)"
        )
        conn.execute(
            "CREATE INDEX IF NOT EXISTS raw_position ON raw_messages (topic, partition, id)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_offsets (partition INTEGER PRIMARY KEY, acked INTEGER)"
        )
        conn.executemany(
            "INSERT OR REPLACE INTO raw_offsets VALUES (?, 0)", [(p,) for p in range(8)]
        )
        positions = dict.fromkeys(range(8), 0)
        started = time.perf_counter()
        for first in range(0, n, batch):
            key = f"key-{first // batch}"
            partition = partition_for(key, 8)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO raw_messages (topic, partition, key, data, published_at) "
                "VALUES ('t', ?, ?, ?, ?)",
                [
                    (partition, key, PAYLOAD, time.time())
                    for _ in range(first, min(first + batch, n))
                ],
            )
            conn.execute("COMMIT")
            rows = conn.execute(
                "SELECT id, key, data FROM raw_messages WHERE topic = 't' AND partition = ? "
                "AND id > ? ORDER BY id LIMIT ?",
                (partition, positions[partition], batch),
            ).fetchall()
            positions[partition] = rows[-1][0]
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "UPDATE raw_offsets SET acked = ? WHERE partition = ?",
                (positions[partition], partition),
            )
            conn.execute("COMMIT")
        return n / (time.perf_counter() - started)
    finally:
        conn.close()


async def raw_redis_loop(redis: Redis, n: int, *, batch: int = BATCH) -> float:
    """Write ``n`` events and read them back in batches with bare stream commands; events/s."""
    prefix = f"bench:raw:{time.monotonic_ns()}:"
    streams = [f"{prefix}{p}" for p in range(8)]
    for stream in streams:
        await redis.xgroup_create(stream, "g", id="0", mkstream=True)
    try:
        started = time.perf_counter()
        for first in range(0, n, batch):
            key = f"key-{first // batch}"
            stream = streams[partition_for(key, 8)]
            pipe = redis.pipeline(transaction=False)
            for _ in range(first, min(first + batch, n)):
                pipe.xadd(stream, {b"k": key.encode(), b"d": PAYLOAD})
            await pipe.execute()
            reply = await redis.xreadgroup("g", "c", {stream: ">"}, count=batch)
            ids = [entry_id for entry_id, _ in reply[0][1]]
            await redis.xack(stream, "g", *ids)
        return n / (time.perf_counter() - started)
    finally:
        await redis.delete(*streams)


async def broker_loop(broker: Broker, n: int, *, batch: int = BATCH) -> float:
    """The same loop through the ``Broker`` port: publish a batch, fetch and ack it; events/s."""
    topic = f"bench{time.monotonic_ns()}"
    # One key per batch: the whole batch lands in one partition, as the raw loops read one
    # stream/table position; spreading keys would measure partition fan-out instead.
    started = time.perf_counter()
    for first in range(0, n, batch):
        key = f"key-{first // batch}"
        partition = partition_for(key, broker.partitions)
        await broker.publish(
            topic, [Record(key, PAYLOAD) for _ in range(first, min(first + batch, n))]
        )
        deliveries = await broker.fetch(topic, "g", partition, limit=batch)
        await broker.ack(topic, "g", partition, [d.offset for d in deliveries])
    return n / (time.perf_counter() - started)


async def main(n: int = 20_000) -> None:
    with tempfile.TemporaryDirectory(prefix="bazaar-bench-") as directory:
        raw = raw_sqlite_loop(Path(directory) / "raw.db", n)
        broker = SqliteLogBroker(Path(directory) / "broker.db")
        try:
            ours = await broker_loop(broker, n)
        finally:
            await broker.aclose()
        print(f"sqlite: raw {raw:,.0f}/s, SqliteLogBroker {ours:,.0f}/s ({ours / raw:.0%})")
    with RedisServer() as server:
        async with Redis.from_url(server.url) as redis:
            raw = await raw_redis_loop(redis, n)
            ours = await broker_loop(RedisStreamsBroker(redis), n)
        print(f"redis: raw {raw:,.0f}/s, RedisStreamsBroker {ours:,.0f}/s ({ours / raw:.0%})")


if __name__ == "__main__":
    asyncio.run(main())
