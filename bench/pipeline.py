"""Benchmark P4: outbox → broker → consumer, events/s and end-to-end latency, same run.

targets.md P4: the messaging pipeline against "a raw broker write+read loop with the same
client" — at least 50% of the raw loop's events/s, and p99 end-to-end latency ≤ 100 ms at
half the pipeline's own maximum rate. Two configurations, each in one process:

* ``sqlite``: "SQLite embedded" — the application database is a SQLite file (aiosqlite,
  bazaar's writer/reader pools) and the broker is ``SqliteLogBroker`` in the same temp dir;
  leases in the database (``SqlLeaseStore``). Reference: ``raw_sqlite_loop`` (bare
  ``sqlite3``, the log adapter's client).
* ``postgres-redis``: PostgreSQL (asyncpg) from ``bazaar.testing.servers.PostgresServer``
  and ``RedisStreamsBroker`` on a private ``redis-server``; leases in Redis
  (``RedisLeaseStore``, as ``bootstrap.build_messaging`` does when Redis is configured).
  Reference: ``raw_redis_loop`` (XADD pipeline, XREADGROUP, XACK) on the same
  ``redis.asyncio`` client.

The pipeline is the real one: producer tasks append ``PaymentSucceeded`` events to a
``SqlAlchemyUnitOfWork`` and commit (the events become outbox rows in that transaction);
``OutboxRelay`` publishes them (woken by the commit); ``MessageConsumer`` leases the 8
partitions, fetches, runs the handler, records the inbox row (``record_inbox=True``, "the
consumer effect") and acks. Keys (``payment_id``) cycle over 64 values, so every partition
works.

Per configuration, alternating subject and reference, medians of ``--runs``:

1. max throughput: ``--producers`` tasks commit ``--per-tx`` events per transaction as fast
   as they can until ``--events`` are committed (or ``--max-produce-s`` passed); events/s =
   events ÷ (first commit start → last inbox record). The reference loops run between these
   runs, with the relay and consumer stopped.
2. latency: one paced producer commits at 0.5 × the median max rate for ``--latency-s``;
   end-to-end latency of an event = the handler's ``perf_counter()`` − the producer's
   ``perf_counter()`` just before the commit that wrote it; p50/p95/p99/max.
3. costs: each operation of the path timed on its own, sequentially (wall and CPU time per
   call), so the table says what one event costs where (see docs/benchmarks.md, P4).

Duplicates: the handler counts ids it sees twice (double effects), the consumer's listener
counts redeliveries its inbox absorbed; both should be 0 in a clean run.

Usage: ``python bench/pipeline.py [--configs sqlite,postgres-redis] [--runs 5] [--quick]``
(``--quick``: 2 runs, fewer events, 4 s latency phase; does not overwrite the recorded
results unless ``--output`` is given). Writes ``bench/results/pipeline.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from bazaar.contexts.payments.domain.events import PaymentSucceeded
from bazaar.infra.db import Database, SqlAlchemyUnitOfWork, create_database, messaging_tables
from bazaar.infra.db.migrate import upgrade
from bazaar.kernel.clock import SystemClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.locks.ports import LeaseStore
from bazaar.kernel.locks.redis import RedisLeaseStore
from bazaar.kernel.locks.sqlalchemy import SqlLeaseStore
from bazaar.kernel.messaging import (
    Broker,
    ConsumerConfig,
    Envelope,
    MessageConsumer,
    OutboxRelay,
    RelayConfig,
    SqlDeadLetterStore,
    SqlInboxStore,
    SqlOutbox,
    Subscription,
)
from bazaar.kernel.messaging.redis_streams import RedisStreamsBroker
from bazaar.kernel.messaging.sqlite_log import SqliteLogBroker
from bazaar.kernel.money import Money
from bazaar.testing.servers import PostgresServer, RedisServer, find_postgres_bin_dir

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from http_baseline import machine_info, versions  # noqa: E402
from raw_broker import broker_loop, raw_redis_loop, raw_sqlite_loop  # noqa: E402

console = Console()
RESULTS = BENCH_DIR / "results" / "pipeline.json"
CONFIGS = ("sqlite", "postgres-redis")
TOPIC = "payments"
EVENT_TYPE = PaymentSucceeded.type
CONSUMER = "bench"
PARTITIONS = 8
KEYS = 64
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
AMOUNT = Money.of("1.00", "EUR")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (as the other benchmarks)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


@dataclass(frozen=True, slots=True)
class Tuning:
    """What the benchmark sets; the defaults of bazaar are in ``DEFAULTS`` below."""

    relay_batch: int = 200
    relay_idle_s: float = 0.05
    consumer_batch: int = 100
    poll_min_s: float = 0.05
    poll_max_s: float = 0.25
    producers: int = 4
    per_tx: int = 10


# bazaar's own defaults (settings.MessagingSettings: relay_batch_size, relay_interval_s;
# ConsumerConfig: batch_size, poll_interval_s), recorded next to what was run.
DEFAULT_TUNING = Tuning()
DEFAULTS = {
    "relay_batch": 200,
    "relay_idle_s": 0.05,
    "consumer_batch": 50,
    "poll_min_s": 0.05,
    "poll_max_s": 0.25,
}


# --- what one run observes ------------------------------------------------------------------


class Probe:
    """Timestamps of one run: commit start, handler and inbox record per message id."""

    def __init__(self) -> None:
        self.commit_started: dict[str, float] = {}
        self.handled_at: dict[str, float] = {}
        self.effect_at: dict[str, float] = {}
        self.handler_duplicates = 0
        self.results: Counter[str] = Counter()
        self.handle_s = 0.0
        self.ops: Counter[str] = Counter()
        self.expected: int | None = None
        self.done = asyncio.Event()

    def expect(self, count: int) -> None:
        self.expected = count
        self._check()

    def _check(self) -> None:
        if self.expected is not None and len(self.effect_at) >= self.expected:
            self.done.set()

    # the handler
    async def handler(self, envelope: Envelope) -> None:
        now = time.perf_counter()
        if envelope.id in self.handled_at:
            self.handler_duplicates += 1
        else:
            self.handled_at[envelope.id] = now

    # ConsumerListener
    def handled(self, consumer: str, result: str, duration_s: float) -> None:
        self.results[result] += 1
        self.handle_s += duration_s

    def retried(self, consumer: str, attempt: int, error: BaseException) -> None:
        self.results["retried"] += 1

    def paused(self, consumer: str, dependency: str, seconds: float) -> None:
        self.results["paused"] += 1

    # RelayListener
    def published(self, count: int, oldest_age_s: float) -> None:
        self.ops["relay_batches"] += 1
        self.ops["relay_rows"] += count

    def failed(self, error: BaseException) -> None:
        self.ops["relay_failures"] += 1


class ProbedInbox:
    """``SqlInboxStore`` that stamps the moment each record (the consumer effect) is done."""

    def __init__(self, inner: SqlInboxStore, probe: Probe) -> None:
        self.inner = inner
        self.probe = probe

    async def record(self, consumer: str, message_id: str, at: datetime) -> bool:
        fresh = await self.inner.record(consumer, message_id, at)
        self.probe.ops["inbox_records"] += 1
        if fresh:
            self.probe.effect_at.setdefault(message_id, time.perf_counter())
            self.probe._check()
        return fresh

    async def contains(self, consumer: str, message_id: str) -> bool:
        self.probe.ops["inbox_lookups"] += 1
        return await self.inner.contains(consumer, message_id)


class CountingBroker:
    """The broker, counting the calls the relay and the consumer make (not timing them)."""

    def __init__(self, inner: Broker, probe: Probe) -> None:
        self.inner = inner
        self.probe = probe

    @property
    def partitions(self) -> int:
        return self.inner.partitions

    async def publish(self, topic: str, records: Any) -> None:
        self.probe.ops["publishes"] += 1
        await self.inner.publish(topic, records)

    async def fetch(
        self, topic: str, group: str, partition: int, *, limit: int, block_s: float = 0.0
    ) -> Any:
        deliveries = await self.inner.fetch(topic, group, partition, limit=limit, block_s=block_s)
        self.probe.ops["fetches" if deliveries else "empty_fetches"] += 1
        self.probe.ops["fetched"] += len(deliveries)
        return deliveries

    async def ack(self, topic: str, group: str, partition: int, offsets: Any) -> None:
        self.probe.ops["acks"] += 1
        await self.inner.ack(topic, group, partition, offsets)

    async def backlog(self, topic: str, group: str) -> int:
        return await self.inner.backlog(topic, group)

    async def aclose(self) -> None:
        return None


# --- one configuration ----------------------------------------------------------------------


@dataclass
class Engine:
    """One configuration's database, broker, leases and raw reference loops."""

    name: str
    label: str
    database: Database
    broker: Broker
    leases: LeaseStore
    raw: Callable[[int], Awaitable[float]]
    adapter: Callable[[int], Awaitable[float]]
    raw_label: str
    details: dict[str, Any] = field(default_factory=dict)


class Pipeline:
    """The producer side, the relay and the consumer of one configuration."""

    def __init__(self, engine: Engine, tuning: Tuning) -> None:
        self.engine = engine
        self.tuning = tuning
        self.clock = SystemClock()
        self.ids = SnowflakeGenerator(1, self.clock)
        self.keys = itertools.count()
        db = engine.database
        self.outbox = SqlOutbox(db.sessions, messaging_tables.outbox, db.read_sessions)
        self.inbox = SqlInboxStore(db.sessions, messaging_tables.inbox)
        self.dead_letters = SqlDeadLetterStore(
            db.sessions, messaging_tables.dead_letters, db.read_sessions
        )

    def events(self, count: int) -> list[PaymentSucceeded]:
        occurred_at = datetime.now(UTC)
        return [
            PaymentSucceeded(
                id=self.ids.next_id(),
                occurred_at=occurred_at,
                tenant_id=1,
                payment_id=next(self.keys) % KEYS + 1,
                user_id=1,
                amount=AMOUNT,
            )
            for _ in range(count)
        ]

    async def commit(self, probe: Probe, count: int) -> None:
        """One producer transaction of ``count`` events; stamps each id before the commit."""
        events = self.events(count)
        async with SqlAlchemyUnitOfWork(self.engine.database.sessions) as uow:
            uow.events.extend(events)
            started = time.perf_counter()
            for event in events:
                probe.commit_started[str(event.id)] = started
            await uow.commit()

    def consumer_config(self) -> ConsumerConfig:
        t = self.tuning
        return ConsumerConfig(
            batch_size=t.consumer_batch, poll_interval_s=(t.poll_min_s, t.poll_max_s)
        )

    @contextlib.asynccontextmanager
    async def running(self, probe: Probe) -> AsyncIterator[None]:
        """Relay and consumer running, every partition leased; stopped on exit."""
        broker = CountingBroker(self.engine.broker, probe)
        relay = OutboxRelay(
            self.outbox,
            broker,
            self.engine.leases,
            self.clock,
            holder=CONSUMER,
            config=RelayConfig(
                batch_size=self.tuning.relay_batch, idle_interval_s=self.tuning.relay_idle_s
            ),
            listener=probe,
        )
        consumer = MessageConsumer(
            Subscription(consumer=CONSUMER, topics=(TOPIC,), handlers={EVENT_TYPE: probe.handler}),
            broker,
            leases=self.engine.leases,
            inbox=ProbedInbox(self.inbox, probe),
            dead_letters=self.dead_letters,
            clock=self.clock,
            ids=self.ids,
            holder=CONSUMER,
            config=self.consumer_config(),
            listener=probe,
        )
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(relay.run(stop), name="bench-relay"),
            asyncio.create_task(consumer.run(stop), name="bench-consumer"),
        ]
        try:
            deadline = time.monotonic() + 15
            while len(consumer.owned) < PARTITIONS or not relay.leading:
                if time.monotonic() > deadline:
                    raise RuntimeError("the consumer or relay did not get its leases")
                if any(task.done() for task in tasks):
                    await asyncio.gather(*tasks)  # surfaces the error
                await asyncio.sleep(0.01)
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def max_run(self, events: int, max_produce_s: float, drain_timeout_s: float) -> dict:
        """Produce as fast as ``producers`` tasks can; events/s until the last inbox record."""
        probe = Probe()
        per_tx = self.tuning.per_tx
        async with self.running(probe):
            gc.collect()
            batches = itertools.count()
            total_batches = events // per_tx
            produced = 0
            cpu0 = time.process_time()
            started = time.perf_counter()
            stop_producing_at = started + max_produce_s

            async def producer() -> None:
                nonlocal produced
                while next(batches) < total_batches and time.perf_counter() < stop_producing_at:
                    await self.commit(probe, per_tx)
                    produced += per_tx

            await asyncio.gather(*(producer() for _ in range(self.tuning.producers)))
            produced_at = time.perf_counter()
            probe.expect(produced)
            try:
                await asyncio.wait_for(probe.done.wait(), drain_timeout_s)
            except TimeoutError:
                raise RuntimeError(
                    f"{self.engine.name}: {len(probe.effect_at)}/{produced} events handled "
                    f"{drain_timeout_s:.0f} s after the last commit"
                ) from None
            cpu = time.process_time() - cpu0
        first = min(probe.commit_started.values())
        last = max(probe.effect_at.values())
        elapsed = last - first
        latencies = [
            (probe.handled_at[i] - probe.commit_started[i]) * 1000 for i in probe.commit_started
        ]
        ops = dict(probe.ops)
        return {
            "events": produced,
            "elapsed_s": elapsed,
            "events_per_s": produced / elapsed,
            "producer_events_per_s": produced / (produced_at - started),
            "cpu_s": cpu,
            "cpu_us_per_event": cpu / produced * 1e6,
            "cpu_utilisation": cpu / elapsed,
            "p50_ms_at_max": percentile(latencies, 50),
            "p99_ms_at_max": percentile(latencies, 99),
            "handler_duplicates": probe.handler_duplicates,
            "inbox_absorbed_duplicates": probe.results.get("duplicate", 0),
            "dead_lettered": probe.results.get("dead_lettered", 0),
            "results": dict(probe.results),
            "mean_handle_ms": probe.handle_s / max(1, sum(probe.results.values())) * 1000,
            "ops": ops,
            "events_per_fetch": ops.get("fetched", 0) / max(1, ops.get("fetches", 0)),
            "events_per_relay_batch": ops.get("relay_rows", 0)
            / max(1, ops.get("relay_batches", 0)),
        }

    async def paced_run(self, rate: float, duration_s: float, drain_timeout_s: float) -> dict:
        """Commit ``per_tx`` events every ``per_tx / rate`` seconds for ``duration_s``."""
        probe = Probe()
        per_tx = self.tuning.per_tx
        interval = per_tx / rate
        pending: set[asyncio.Task[None]] = set()
        async with self.running(probe):
            gc.collect()
            started = time.perf_counter()
            for i in itertools.count():
                due = started + i * interval
                if due - started >= duration_s:
                    break
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(self.commit(probe, per_tx))
                pending.add(task)
                task.add_done_callback(pending.discard)
            offered_for = time.perf_counter() - started
            await asyncio.gather(*pending)
            produced = len(probe.commit_started)
            probe.expect(produced)
            try:
                await asyncio.wait_for(probe.done.wait(), drain_timeout_s)
            except TimeoutError:
                raise RuntimeError(
                    f"{self.engine.name}: {len(probe.effect_at)}/{produced} paced events handled"
                ) from None
        latencies = [
            (probe.handled_at[i] - probe.commit_started[i]) * 1000 for i in probe.commit_started
        ]
        effect = [
            (probe.effect_at[i] - probe.commit_started[i]) * 1000 for i in probe.commit_started
        ]
        return {
            "target_rate": rate,
            "offered_rate": produced / offered_for,
            "events": produced,
            "duration_s": offered_for,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies),
            "mean_ms": statistics.fmean(latencies),
            "effect_p50_ms": percentile(effect, 50),
            "effect_p99_ms": percentile(effect, 99),
            "handler_duplicates": probe.handler_duplicates,
            "inbox_absorbed_duplicates": probe.results.get("duplicate", 0),
            "ops": dict(probe.ops),
        }

    # --- costs, one operation at a time ---

    async def costs(self, repeat: int = 200) -> dict[str, dict[str, float]]:
        """Wall and CPU time of each step of the path, sequential, nothing else running."""
        probe = Probe()
        t = self.tuning
        db = self.engine.database
        found: dict[str, dict[str, float]] = {}

        async def timed(
            name: str, calls: int, per: int, step: Callable[[int], Awaitable[Any]]
        ) -> None:
            gc.collect()
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for i in range(calls):
                await step(i)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            found[name] = {
                "calls": calls,
                "events_per_call": per,
                "wall_ms_per_call": wall / calls * 1000,
                "cpu_ms_per_call": cpu / calls * 1000,
                "wall_us_per_event": wall / calls / per * 1e6,
                "cpu_us_per_event": cpu / calls / per * 1e6,
            }

        # Producer: one unit of work with per_tx events (outbox INSERT + commit).
        await timed("producer commit", repeat, t.per_tx, lambda _: self.commit(probe, t.per_tx))

        # Relay: read a batch of unpublished rows and mark them (publish is a no-op here),
        # then the broker publish of a batch of the same size on its own.
        await self._publish_backlog(probe)  # start from an empty outbox
        batches = 20
        for _ in range(batches * t.relay_batch // t.per_tx):
            await self.commit(probe, t.per_tx)

        async def no_publish(rows: Any) -> None:
            return None

        clock = self.clock
        await timed(
            "relay read+mark (outbox)",
            batches,
            t.relay_batch,
            lambda _: self.outbox.relay_batch(t.relay_batch, no_publish, clock.now),
        )
        topic = f"costs{time.monotonic_ns()}"
        payload = self.events(1)[0]
        from bazaar.kernel.messaging import Record, envelope_of

        data = envelope_of(payload).encode()
        broker = self.engine.broker
        records = [Record(str(k % KEYS + 1), data) for k in range(t.relay_batch)]
        await timed(
            "broker publish", batches, t.relay_batch, lambda _: broker.publish(topic, records)
        )

        # Consumer: fetch a batch of one partition and ack it (the messages just published).
        per_partition = [0] * PARTITIONS
        from bazaar.kernel.messaging import partition_for

        for record in records:
            per_partition[partition_for(record.key, PARTITIONS)] += 1
        busiest = max(range(PARTITIONS), key=per_partition.__getitem__)
        fetch_limit = min(t.consumer_batch, per_partition[busiest])
        fetched: list[Any] = []

        async def fetch(_: int) -> None:
            fetched.append(
                await broker.fetch(topic, "costs", busiest, limit=fetch_limit, block_s=0)
            )

        async def ack(i: int) -> None:
            await broker.ack(topic, "costs", busiest, [d.offset for d in fetched[i]])

        # fetch re-reads the same unacked batch each time: the cost of one fetch.
        await timed("broker fetch", batches, fetch_limit, fetch)
        # each ack acks that batch again (a no-op after the first): the first is the real one
        await timed("broker ack (first of batch)", 1, fetch_limit, ack)

        # Consumer, per message: the inbox lookup and the inbox record (its own transaction).
        ids = [str(self.ids.next_id()) for _ in range(repeat)]
        now = datetime.now(UTC)
        await timed(
            "inbox lookup (contains)", repeat, 1, lambda i: self.inbox.contains(CONSUMER, ids[i])
        )
        await timed("inbox record", repeat, 1, lambda i: self.inbox.record(CONSUMER, ids[i], now))
        # Everything the consumer does per message: decode, lookup, handler, record.
        consumer = MessageConsumer(
            Subscription(consumer="costs", topics=(TOPIC,), handlers={EVENT_TYPE: probe.handler}),
            broker,
            leases=self.engine.leases,
            inbox=self.inbox,
            dead_letters=self.dead_letters,
            clock=self.clock,
            ids=self.ids,
            holder="costs",
            config=self.consumer_config(),
        )
        from bazaar.kernel.messaging import Delivery

        deliveries = [
            Delivery(TOPIC, 0, str(i), "1", envelope_of(event).encode())
            for i, event in enumerate(self.events(repeat))
        ]
        await timed(
            "consumer handle (per message)", repeat, 1, lambda i: consumer.handle(deliveries[i])
        )
        # A bare round trip of the database driver for scale.
        async with db.engine.connect() as conn:
            await timed(
                "db SELECT 1 (one connection)", repeat, 1, lambda _: conn.execute(text("SELECT 1"))
            )
        return found

    async def _publish_backlog(self, probe: Probe) -> None:
        async def no_publish(rows: Any) -> None:
            return None

        while await self.outbox.relay_batch(1000, no_publish, self.clock.now):
            pass


# --- engines ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def sqlite_engine(directory: Path, raw_events: int) -> AsyncIterator[Engine]:
    database = create_database(f"sqlite+aiosqlite:///{directory / 'bazaar.db'}")
    await upgrade(database.engine)
    broker = SqliteLogBroker(directory / "broker.db", partitions=PARTITIONS)
    adapter_broker = SqliteLogBroker(directory / "adapter.db", partitions=PARTITIONS)
    runs = itertools.count()

    async def raw(n: int) -> float:
        return raw_sqlite_loop(directory / f"raw{next(runs)}.db", n)

    try:
        yield Engine(
            name="sqlite",
            label="SQLite embedded (aiosqlite database + SqliteLogBroker)",
            database=database,
            broker=broker,
            leases=SqlLeaseStore(database.engine, messaging_tables.leases, SystemClock()),
            raw=raw,
            adapter=lambda n: broker_loop(adapter_broker, n),
            raw_label="raw_sqlite_loop: sqlite3, batches of 100: INSERT tx, SELECT, offset tx",
            details={"sqlite_version": __import__("sqlite3").sqlite_version},
        )
    finally:
        await broker.aclose()
        await adapter_broker.aclose()
        await database.dispose()


@contextlib.asynccontextmanager
async def postgres_redis_engine(raw_events: int) -> AsyncIterator[Engine]:
    postgres = PostgresServer(find_postgres_bin_dir())
    redis_server = RedisServer()
    try:
        await asyncio.to_thread(postgres.start)
        url = await asyncio.to_thread(postgres.create_database, "bench")
        redis_server.start()
        database = create_database(url)
        redis = Redis.from_url(redis_server.url)
        try:
            await upgrade(database.engine)
            async with database.engine.connect() as conn:
                pg_version = (await conn.execute(text("SHOW server_version"))).scalar_one()
            redis_version = (await redis.info("server"))["redis_version"]
            adapter_broker = RedisStreamsBroker(
                redis, partitions=PARTITIONS, consumer_name="adapter", key_prefix="bench:adapter:"
            )
            yield Engine(
                name="postgres-redis",
                label="PostgreSQL (asyncpg) + RedisStreamsBroker",
                database=database,
                broker=RedisStreamsBroker(redis, partitions=PARTITIONS, consumer_name=CONSUMER),
                leases=RedisLeaseStore(redis),
                raw=lambda n: raw_redis_loop(redis, n),
                adapter=lambda n: broker_loop(adapter_broker, n),
                raw_label="raw_redis_loop: redis.asyncio, batches of 100: XADD pipeline, "
                "XREADGROUP, XACK",
                details={
                    "postgres_version": pg_version,
                    "postgres_settings": "bazaar.testing.servers defaults: fsync=off, "
                    "synchronous_commit=off, full_page_writes=off",
                    "redis_version": str(redis_version),
                    "redis_persistence": "none (RedisServer default)",
                },
            )
        finally:
            await redis.aclose()
            await database.dispose()
    finally:
        redis_server.stop()
        await asyncio.to_thread(postgres.stop)


# --- measuring --------------------------------------------------------------------------------


async def measure(engine: Engine, args: argparse.Namespace, tuning: Tuning) -> dict[str, Any]:
    pipeline = Pipeline(engine, tuning)
    drain = args.drain_timeout
    console.print(f"[bold]{engine.name}[/]: warm-up")
    await pipeline.max_run(min(args.events, 1000), args.max_produce_s, drain)
    await engine.raw(min(args.raw_events, 2000))
    await engine.adapter(min(args.raw_events, 2000))
    runs: dict[str, list[Any]] = {"pipeline": [], "raw": [], "adapter": []}
    for run in range(args.runs):
        runs["pipeline"].append(await pipeline.max_run(args.events, args.max_produce_s, drain))
        runs["raw"].append(await engine.raw(args.raw_events))
        runs["adapter"].append(await engine.adapter(args.raw_events))
        console.print(
            f"  run {run + 1}/{args.runs}: pipeline {runs['pipeline'][-1]['events_per_s']:,.0f}"
            f" events/s, raw {runs['raw'][-1]:,.0f}/s, adapter {runs['adapter'][-1]:,.0f}/s"
        )
    pipeline_rates = [r["events_per_s"] for r in runs["pipeline"]]
    max_rate = statistics.median(pipeline_rates)
    raw_rate = statistics.median(runs["raw"])
    half = max_rate / 2
    console.print(f"  latency at {half:,.0f} events/s for {args.latency_s:.0f} s")
    latency = await pipeline.paced_run(half, args.latency_s, drain)
    console.print("  costs per operation")
    costs = await pipeline.costs()
    paired = [p / r for p, r in zip(pipeline_rates, runs["raw"], strict=True)]
    return {
        "label": engine.label,
        "reference": engine.raw_label,
        "details": engine.details,
        "pipeline_events_per_s": spread(pipeline_rates),
        "raw_events_per_s": spread(runs["raw"]),
        "adapter_loop_events_per_s": spread(runs["adapter"]),
        "ratio": max_rate / raw_rate,
        "ratio_paired_median": statistics.median(paired),
        "adapter_over_raw": statistics.median(runs["adapter"]) / raw_rate,
        "cpu_us_per_event": statistics.median(r["cpu_us_per_event"] for r in runs["pipeline"]),
        "duplicates": {
            "handler": sum(r["handler_duplicates"] for r in runs["pipeline"])
            + latency["handler_duplicates"],
            "inbox_absorbed": sum(r["inbox_absorbed_duplicates"] for r in runs["pipeline"])
            + latency["inbox_absorbed_duplicates"],
        },
        "latency_at_half_rate": latency,
        "costs": costs,
        "ratio_met": max_rate / raw_rate >= TARGET_RATIO,
        "p99_met": latency["p99_ms"] <= TARGET_P99_MS,
        "runs": runs,
    }


def print_results(results: dict[str, Any]) -> None:
    table = Table(title="P4 — outbox → broker → consumer (medians, min–max)")
    for column in (
        "configuration",
        "pipeline events/s",
        "raw events/s",
        "ratio",
        "adapter loop/s",
        "half-rate p50 / p95 / p99 / max ms",
        "dup",
    ):
        table.add_column(column)
    for name, r in results.items():
        p, raw, a, lat = (
            r["pipeline_events_per_s"],
            r["raw_events_per_s"],
            r["adapter_loop_events_per_s"],
            r["latency_at_half_rate"],
        )
        table.add_row(
            name,
            f"{p['median']:,.0f} ({p['min']:,.0f}–{p['max']:,.0f})",
            f"{raw['median']:,.0f} ({raw['min']:,.0f}–{raw['max']:,.0f})",
            f"{r['ratio']:.3f}",
            f"{a['median']:,.0f}",
            f"{lat['p50_ms']:.1f} / {lat['p95_ms']:.1f} / {lat['p99_ms']:.1f} / "
            f"{lat['max_ms']:.1f} @ {lat['offered_rate']:,.0f}/s",
            f"{r['duplicates']['handler']}+{r['duplicates']['inbox_absorbed']}",
        )
    console.print(table)
    for name, r in results.items():
        costs = Table(title=f"{name}: cost per operation, sequential (nothing else running)")
        for column in ("operation", "events/call", "wall ms/call", "CPU ms/call", "wall µs/event"):
            costs.add_column(column)
        for op, c in r["costs"].items():
            costs.add_row(
                op,
                str(c["events_per_call"]),
                f"{c['wall_ms_per_call']:.3f}",
                f"{c['cpu_ms_per_call']:.3f}",
                f"{c['wall_us_per_event']:.1f}",
            )
        console.print(costs)
        lat = r["latency_at_half_rate"]
        console.print(
            f"{name}: pipeline ÷ raw = {r['ratio']:.3f} (target ≥ {TARGET_RATIO:.2f}: "
            f"{'met' if r['ratio_met'] else 'NOT met'}); p99 at half rate {lat['p99_ms']:.1f} ms "
            f"(target ≤ {TARGET_P99_MS:.0f} ms: {'met' if r['p99_met'] else 'NOT met'}); "
            f"CPU {r['cpu_us_per_event']:.0f} µs/event; duplicates: handler "
            f"{r['duplicates']['handler']}, absorbed by the inbox {r['duplicates']['inbox_absorbed']}"
        )


async def run(args: argparse.Namespace, tuning: Tuning) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in args.configs:
        began = time.perf_counter()
        if name == "sqlite":
            with tempfile.TemporaryDirectory(prefix="bazaar-p4-") as directory:
                async with sqlite_engine(Path(directory), args.raw_events) as engine:
                    results[name] = await measure(engine, args, tuning)
        else:
            async with postgres_redis_engine(args.raw_events) as engine:
                results[name] = await measure(engine, args, tuning)
        results[name]["wall_s"] = time.perf_counter() - began
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="sqlite,postgres-redis")
    parser.add_argument("--runs", type=int, default=5, help="alternating runs per configuration")
    parser.add_argument("--events", type=int, default=6000, help="events per max-throughput run")
    parser.add_argument(
        "--max-produce-s", type=float, default=6.0, help="bound of a run's producing"
    )
    parser.add_argument("--raw-events", type=int, default=10_000, help="events per raw loop run")
    parser.add_argument("--latency-s", type=float, default=10.0, help="paced phase length")
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--relay-batch", type=int, default=DEFAULT_TUNING.relay_batch)
    parser.add_argument("--relay-idle", type=float, default=DEFAULT_TUNING.relay_idle_s)
    parser.add_argument("--consumer-batch", type=int, default=DEFAULT_TUNING.consumer_batch)
    parser.add_argument("--poll-min", type=float, default=DEFAULT_TUNING.poll_min_s)
    parser.add_argument("--poll-max", type=float, default=DEFAULT_TUNING.poll_max_s)
    parser.add_argument("--producers", type=int, default=DEFAULT_TUNING.producers)
    parser.add_argument("--per-tx", type=int, default=DEFAULT_TUNING.per_tx)
    parser.add_argument("--quick", action="store_true", help="2 runs, 2,000 events, 4 s latency")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = set(args.configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations {sorted(unknown)}; known: {', '.join(CONFIGS)}")
    if args.quick:
        args.runs, args.events, args.latency_s, args.raw_events = 2, 2000, 4.0, 5000
    output = args.output or (None if args.quick else RESULTS)
    tuning = Tuning(
        relay_batch=args.relay_batch,
        relay_idle_s=args.relay_idle,
        consumer_batch=args.consumer_batch,
        poll_min_s=args.poll_min,
        poll_max_s=args.poll_max,
        producers=args.producers,
        per_tx=args.per_tx,
    )
    began = time.perf_counter()
    machine = machine_info()
    results = asyncio.run(run(args, tuning))
    print_results(results)
    report = {
        "benchmark": "pipeline",
        "target": "P4: outbox → broker → consumer ≥ 50% of the raw broker write+read loop's "
        "events/s; p99 end-to-end ≤ 100 ms at half the max rate",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "versions": {
            **versions(),
            **{name: _version(name) for name in ("redis", "asyncpg", "hiredis")},
        },
        "parameters": {
            "runs": args.runs,
            "events_per_run": args.events,
            "max_produce_s": args.max_produce_s,
            "raw_events_per_run": args.raw_events,
            "latency_s": args.latency_s,
            "partitions": PARTITIONS,
            "keys": KEYS,
            "tuning": asdict(tuning),
            "bazaar_defaults": DEFAULTS,
        },
        "configs": results,
        "wall_s": time.perf_counter() - began,
    }
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        console.print(f"written to {output} ({report['wall_s']:.0f} s)")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
