"""SIGKILL between commit and publish, and between effect and ack: nothing lost, nothing twice.

Real child processes (``crash_child.py``) on real SQLite / PostgreSQL and the embedded
broker file are killed with SIGKILL at an arbitrary point; a fresh relay or consumer in
this process then finishes the work (capabilities §6.1, §6.3; targets R3).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import MetaData, text

from bazaar.infra.db import Database, create_database
from bazaar.kernel.clock import SystemClock
from bazaar.kernel.locks.sqlalchemy import SqlLeaseStore, lease_table
from bazaar.kernel.messaging import Envelope, OutboxRelay, RelayConfig, SqlOutbox
from bazaar.kernel.messaging.sqlalchemy import outbox_table
from bazaar.kernel.messaging.sqlite_log import SqliteLogBroker

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("crash_child.py")
PARTITIONS = 2


@dataclass
class Setup:
    url: str
    broker_path: str
    suffix: str

    def child(self, mode: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(CHILD), mode, self.url, self.broker_path, self.suffix],
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, mode: str) -> None:
        subprocess.run(
            [sys.executable, str(CHILD), mode, self.url, self.broker_path, self.suffix],
            check=True,
            timeout=60,
        )


@pytest.fixture
def setup(database_url: str, tmp_path: Path) -> Iterator[Setup]:
    made = Setup(database_url, str(tmp_path / "broker.db"), uuid.uuid4().hex[:10])
    made.run("setup")
    try:
        yield made
    finally:
        made.run("teardown")


@pytest.fixture
async def database(setup: Setup) -> AsyncIterator[Database]:
    db = create_database(setup.url)
    try:
        yield db
    finally:
        await db.dispose()


def kill(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", f"child said {line!r} (exit {process.poll()})"


async def scalar(database: Database, sql: str) -> int:
    async with database.read_sessions() as session:
        return int((await session.execute(text(sql))).scalar_one())


async def read_everything(broker_path: str, group: str) -> list[Envelope]:
    broker = SqliteLogBroker(broker_path, partitions=PARTITIONS)
    try:
        messages = []
        for partition in range(PARTITIONS):
            while batch := await broker.fetch("payments", group, partition, limit=500):
                messages.extend(Envelope.decode(d.data) for d in batch)
                await broker.ack("payments", group, partition, [d.offset for d in batch])
        return messages
    finally:
        await broker.aclose()


class TestKilledProducer:
    async def test_every_committed_event_is_published_after_a_sigkill(
        self, setup: Setup, database: Database
    ) -> None:
        child = setup.child("produce")
        try:
            wait_ready(child)
            deadline = time.monotonic() + 20
            outbox = f"outbox_{setup.suffix}"
            while await scalar(database, f"SELECT count(*) FROM {outbox}") < 60:
                assert time.monotonic() < deadline, "the child committed too little"
                await asyncio.sleep(0.02)
        finally:
            kill(child)
        assert child.returncode == -9
        committed = await scalar(database, f"SELECT count(*) FROM {outbox}")
        unpublished = await scalar(
            database,
            f"SELECT count(*) FROM {outbox} WHERE published_at IS NULL",
        )

        # A new relay (another process after the crash) finishes what the dead one left.
        metadata = MetaData()
        broker = SqliteLogBroker(setup.broker_path, partitions=PARTITIONS)
        clock = SystemClock()
        relay = OutboxRelay(
            SqlOutbox(database.sessions, outbox_table(metadata, outbox), database.read_sessions),
            broker,
            SqlLeaseStore(database.engine, lease_table(metadata, f"leases_{setup.suffix}"), clock),
            clock,
            holder="successor",
            config=RelayConfig(batch_size=50, lease_ttl_s=0.5),
        )
        deadline = time.monotonic() + 20
        while await scalar(database, f"SELECT count(*) FROM {outbox} WHERE published_at IS NULL"):
            assert time.monotonic() < deadline, "the successor never took the relay over"
            await relay.run_once()
            await asyncio.sleep(0.05)
        await broker.aclose()

        async with database.read_sessions() as session:
            rows = (
                await session.execute(text(f"SELECT message_id, seq FROM {outbox} ORDER BY seq"))
            ).all()
        delivered = await read_everything(setup.broker_path, "check")
        delivered_ids = {m.id for m in delivered}
        assert {r.message_id for r in rows} <= delivered_ids, "an event committed was lost"
        assert len(rows) == committed
        # Order per key of first deliveries follows commit order (duplicates may repeat one).
        first_seen: dict[str, list[str]] = defaultdict(list)
        seen: set[str] = set()
        for message in delivered:
            if message.id not in seen:
                seen.add(message.id)
                first_seen[message.key].append(message.id)
        order = {r.message_id: r.seq for r in rows}
        for ids in first_seen.values():
            assert [order[i] for i in ids] == sorted(order[i] for i in ids)
        print(f"committed {committed}, unpublished at the kill {unpublished}")


class TestKilledConsumer:
    async def test_each_effect_happens_once_after_a_sigkill(
        self, setup: Setup, database: Database
    ) -> None:
        # Produce 90 events (the child relays them), then stop the producer.
        producer = setup.child("produce")
        outbox = f"outbox_{setup.suffix}"
        try:
            wait_ready(producer)
            deadline = time.monotonic() + 20
            while (
                await scalar(
                    database,
                    f"SELECT count(*) FROM {outbox} WHERE published_at IS NOT NULL",
                )
                < 90
            ):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
        finally:
            kill(producer)
        published = await scalar(
            database, f"SELECT count(*) FROM {outbox} WHERE published_at IS NOT NULL"
        )

        effects = f"effects_{setup.suffix}"
        for _ in range(2):  # two consumers killed mid-stream, one after the other
            consumer = setup.child("consume")
            try:
                wait_ready(consumer)
                before = await scalar(database, f"SELECT count(*) FROM {effects}")
                deadline = time.monotonic() + 20
                while await scalar(database, f"SELECT count(*) FROM {effects}") < min(
                    published, before + 20
                ):
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.005)
            finally:
                kill(consumer)

        last = setup.child("consume")
        try:
            wait_ready(last)
            deadline = time.monotonic() + 30
            while (
                await scalar(database, f"SELECT count(DISTINCT message_id) FROM {effects}")
                < published
            ):
                assert time.monotonic() < deadline, "the consumer did not finish"
                await asyncio.sleep(0.05)
        finally:
            kill(last)
        total = await scalar(database, f"SELECT count(*) FROM {effects}")
        distinct = await scalar(database, f"SELECT count(DISTINCT message_id) FROM {effects}")
        assert total == distinct, f"{total - distinct} effects applied twice"
        assert distinct >= published
