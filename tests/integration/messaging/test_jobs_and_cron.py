"""Jobs and cron on real engines: each tick runs once across three workers (capabilities §6.6)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping
from typing import Any

from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.jobs import (
    JOBS_TOPIC,
    CronSchedule,
    CronScheduler,
    Job,
    JobQueue,
    jobs_subscription,
)
from bazaar.kernel.jobs.sqlalchemy import SqlCronClaims
from bazaar.kernel.locks.sqlalchemy import SqlLeaseStore
from bazaar.kernel.messaging.consumer import ConsumerConfig, MessageConsumer
from bazaar.kernel.messaging.memory import InMemoryBroker
from bazaar.kernel.messaging.sqlalchemy import SqlDeadLetterStore, SqlInboxStore
from bazaar.testing.messaging import MessagingTables


def worker_consumer(
    database: Database,
    tables: MessagingTables,
    broker: InMemoryBroker,
    clock: ManualClock,
    ids: SnowflakeGenerator,
    jobs: list[Job],
) -> MessageConsumer:
    return MessageConsumer(
        jobs_subscription(jobs),
        broker,
        leases=SqlLeaseStore(database.engine, tables.leases, clock),
        inbox=SqlInboxStore(database.sessions, tables.inbox),
        dead_letters=SqlDeadLetterStore(database.sessions, tables.dead_letters),
        clock=clock,
        ids=ids,
        holder="w",
        config=ConsumerConfig(max_attempts=2, backoff_base_s=0.1),
    )


class TestCron:
    async def test_every_second_runs_once_per_tick_with_three_workers(
        self,
        database: Database,
        tables: MessagingTables,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        broker = InMemoryBroker(partitions=2)
        ran: list[Mapping[str, Any]] = []

        async def record(args: Mapping[str, Any]) -> None:
            ran.append(args)

        schedule = CronSchedule("heartbeat", "* * * * * *", job="heartbeat", args={"n": 1})
        claims = SqlCronClaims(database.sessions, tables.cron_runs)
        workers = [
            CronScheduler([schedule], claims, JobQueue(broker, ids, clock), clock, holder=f"w{n}")
            for n in range(3)
        ]
        rng = random.Random(3)
        won: list[tuple[str, int]] = []
        for _ in range(10):
            clock.advance(1.0)
            for worker in rng.sample(workers, k=3):
                won.extend(await worker.run_once())
        ticks = Counter(tick for _, tick in won)
        assert len(ticks) == 10
        assert set(ticks.values()) == {1}
        consumer = worker_consumer(database, tables, broker, clock, ids, [Job("heartbeat", record)])
        for partition in range(broker.partitions):
            await consumer.drain(JOBS_TOPIC, partition)
        assert len(ran) == 10

    async def test_a_restarted_worker_does_not_replay_missed_ticks(
        self,
        database: Database,
        tables: MessagingTables,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        broker = InMemoryBroker()
        schedule = CronSchedule("heartbeat", "* * * * * *", job="heartbeat")
        claims = SqlCronClaims(database.sessions, tables.cron_runs)
        worker = CronScheduler([schedule], claims, JobQueue(broker, ids, clock), clock, holder="w")
        clock.advance(60.0)  # down for a minute
        assert len(await worker.run_once()) == 1  # fire once, not sixty times


class TestJobs:
    async def test_the_same_job_id_runs_once(
        self,
        database: Database,
        tables: MessagingTables,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        broker = InMemoryBroker(partitions=1)
        runs: list[Mapping[str, Any]] = []

        async def send_reminder(args: Mapping[str, Any]) -> None:
            runs.append(args)

        queue = JobQueue(broker, ids, clock, names=["reminder"])
        await queue.enqueue("reminder", {"order": 1}, job_id="reminder:1")
        await queue.enqueue("reminder", {"order": 1}, job_id="reminder:1")
        await queue.enqueue("reminder", {"order": 2})
        consumer = worker_consumer(
            database, tables, broker, clock, ids, [Job("reminder", send_reminder)]
        )
        await consumer.drain(JOBS_TOPIC, 0)
        assert runs == [{"order": 1}, {"order": 2}]

    async def test_a_job_over_its_timeout_is_retried_then_dead_lettered(
        self,
        database: Database,
        tables: MessagingTables,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        broker = InMemoryBroker(partitions=1)

        async def hangs(args: Mapping[str, Any]) -> None:
            await asyncio.sleep(10)

        await JobQueue(broker, ids, clock).enqueue("hangs", job_id="h1")
        consumer = worker_consumer(
            database, tables, broker, clock, ids, [Job("hangs", hangs, timeout_s=0.01)]
        )
        await consumer.drain(JOBS_TOPIC, 0)
        dead = SqlDeadLetterStore(database.sessions, tables.dead_letters)
        (letter,) = await dead.list()
        assert (letter.reason, letter.attempts, letter.error, letter.message_id) == (
            "exhausted",
            2,
            "timeout",
            "h1",
        )
