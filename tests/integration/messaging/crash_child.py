"""A child process for the crash tests: commits events and relays them, or consumes them.

Run as ``python crash_child.py <mode> <database_url> <broker_path> <table_suffix>``; it prints
``ready`` once working and runs until killed. Modes:
- ``produce``: commit events in small transactions while a relay publishes them;
- ``consume``: handle messages, each effect and its inbox record in one transaction.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from bazaar.contexts.payments.domain.events import PaymentSucceeded
from bazaar.infra.db import SqlAlchemyUnitOfWork, create_database
from bazaar.kernel.clock import SystemClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.jobs.sqlalchemy import cron_run_table
from bazaar.kernel.locks.sqlalchemy import SqlLeaseStore, lease_table
from bazaar.kernel.messaging import (
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
from bazaar.kernel.messaging.sqlalchemy import dead_letter_table, inbox_table, outbox_table
from bazaar.kernel.messaging.sqlite_log import SqliteLogBroker
from bazaar.kernel.money import Money

PARTITIONS = 2
LEASE_TTL_S = 0.5


def tables(suffix: str) -> dict[str, Table]:
    metadata = MetaData()
    return {
        "outbox": outbox_table(metadata, f"outbox_{suffix}"),
        "inbox": inbox_table(metadata, f"inbox_{suffix}"),
        "dead_letters": dead_letter_table(metadata, f"dead_letters_{suffix}"),
        "leases": lease_table(metadata, f"leases_{suffix}"),
        "cron_runs": cron_run_table(metadata, f"cron_runs_{suffix}"),
        "effects": Table(
            f"effects_{suffix}",
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("message_id", String(64), nullable=False),
        ),
    }


async def produce(url: str, broker_path: str, suffix: str) -> None:
    t = tables(suffix)
    clock = SystemClock()
    database = create_database(url)
    broker = SqliteLogBroker(broker_path, partitions=PARTITIONS)
    ids = SnowflakeGenerator(901, clock)
    relay = OutboxRelay(
        SqlOutbox(database.sessions, t["outbox"], database.read_sessions),
        broker,
        SqlLeaseStore(database.engine, t["leases"], clock),
        clock,
        holder="child",
        config=RelayConfig(batch_size=7, idle_interval_s=0.005, lease_ttl_s=LEASE_TTL_S),
    )
    stop = asyncio.Event()
    relaying = asyncio.create_task(relay.run(stop))
    print("ready", flush=True)
    n = 0
    while True:
        uow: SqlAlchemyUnitOfWork[PaymentSucceeded] = SqlAlchemyUnitOfWork(
            database.sessions, outbox=t["outbox"], inbox=t["inbox"]
        )
        async with uow:
            for _ in range(3):
                n += 1
                uow.events.append(
                    PaymentSucceeded(
                        id=ids.next_id(),
                        occurred_at=datetime.now(tz=UTC),
                        tenant_id=1,
                        payment_id=n % 5,
                        user_id=1,
                        amount=Money.of("1.00", "EUR"),
                    )
                )
            await uow.commit()
        await asyncio.sleep(0.002)
    await relaying  # never reached: the parent kills this process


async def consume(url: str, broker_path: str, suffix: str) -> None:
    t = tables(suffix)
    clock = SystemClock()
    database = create_database(url)
    broker = SqliteLogBroker(broker_path, partitions=PARTITIONS)

    async def apply(envelope: Envelope) -> None:
        # The effect and the inbox record commit together: exactly once.
        uow: SqlAlchemyUnitOfWork[Any] = SqlAlchemyUnitOfWork(
            database.sessions, outbox=t["outbox"], inbox=t["inbox"]
        )
        async with uow:
            if not await uow.inbox.record("effects", envelope.id, datetime.now(tz=UTC)):
                return
            await uow.session.execute(insert(t["effects"]).values(message_id=envelope.id))
            await uow.commit()
        await asyncio.sleep(0.003)  # widen the window between effect and ack

    consumer = MessageConsumer(
        Subscription(
            consumer="effects", topics=("payments",), handlers={"payments.payment_succeeded": apply}
        ),
        broker,
        leases=SqlLeaseStore(database.engine, t["leases"], clock),
        inbox=SqlInboxStore(database.sessions, t["inbox"]),
        dead_letters=SqlDeadLetterStore(database.sessions, t["dead_letters"]),
        clock=clock,
        ids=SnowflakeGenerator(902, clock),
        holder="child",
        config=ConsumerConfig(lease_ttl_s=LEASE_TTL_S, batch_size=20, record_inbox=False),
    )
    print("ready", flush=True)
    await consumer.run(asyncio.Event())


async def setup(url: str, broker_path: str, suffix: str) -> None:
    database = create_database(url)
    metadata = next(iter(tables(suffix).values())).metadata
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await database.dispose()


async def teardown(url: str, broker_path: str, suffix: str) -> None:
    database = create_database(url)
    metadata = next(iter(tables(suffix).values())).metadata
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
    await database.dispose()


MODES = {"produce": produce, "consume": consume, "setup": setup, "teardown": teardown}

if __name__ == "__main__":
    mode, url, broker_path, suffix = sys.argv[1:5]
    asyncio.run(MODES[mode](url, broker_path, suffix))
