"""The transactional outbox and its relay on real SQLite and PostgreSQL (capabilities §6.1)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bazaar.contexts.payments.domain.events import PaymentSucceeded
from bazaar.infra.db import Database, SqlAlchemyUnitOfWork
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.locks.sqlalchemy import SqlLeaseStore
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.messaging.memory import InMemoryBroker
from bazaar.kernel.messaging.relay import OutboxRelay, RelayConfig
from bazaar.kernel.messaging.sqlalchemy import SqlOutbox
from bazaar.kernel.money import Money
from bazaar.testing.messaging import MessagingTables


class Boom(Exception):
    pass


def an_event(ids: SnowflakeGenerator, payment_id: int) -> PaymentSucceeded:
    return PaymentSucceeded(
        id=ids.next_id(),
        occurred_at=datetime.now(tz=UTC),
        tenant_id=1,
        payment_id=payment_id,
        user_id=7,
        amount=Money.of("1.00", "EUR"),
    )


def unit_of_work(
    database: Database, tables: MessagingTables, clock: ManualClock
) -> SqlAlchemyUnitOfWork[PaymentSucceeded]:
    return SqlAlchemyUnitOfWork(
        database.sessions, clock=clock, outbox=tables.outbox, inbox=tables.inbox
    )


async def outbox_rows(
    database: Database, tables: MessagingTables, *, unpublished: bool = False
) -> int:
    query = select(func.count()).select_from(tables.outbox)
    if unpublished:
        query = query.where(tables.outbox.c.published_at.is_(None))
    async with database.read_sessions() as session:
        return int((await session.execute(query)).scalar_one())


def relay(
    database: Database,
    tables: MessagingTables,
    broker: InMemoryBroker,
    clock: ManualClock,
    holder: str = "relay-1",
    batch_size: int = 100,
) -> OutboxRelay:
    return OutboxRelay(
        SqlOutbox(database.sessions, tables.outbox, database.read_sessions),
        broker,
        SqlLeaseStore(database.engine, tables.leases, clock),
        clock,
        holder=holder,
        config=RelayConfig(batch_size=batch_size),
    )


class TestOutboxWrites:
    async def test_events_commit_with_the_state_change(
        self,
        database: Database,
        tables: MessagingTables,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        async with unit_of_work(database, tables, clock) as uow:
            uow.events.extend([an_event(ids, 1), an_event(ids, 2)])
            await uow.commit()
        assert await outbox_rows(database, tables) == 2

    async def test_a_rolled_back_transaction_writes_no_event(
        self,
        database: Database,
        tables: MessagingTables,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        with pytest.raises(Boom):
            async with unit_of_work(database, tables, clock) as uow:
                uow.events.append(an_event(ids, 1))
                raise Boom
        assert await outbox_rows(database, tables) == 0

    async def test_each_transaction_writes_only_its_own_events(
        self,
        database: Database,
        tables: MessagingTables,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        uow = unit_of_work(database, tables, clock)
        async with uow:
            uow.events.append(an_event(ids, 1))
            await uow.commit()
        async with uow:
            uow.events.append(an_event(ids, 2))
            await uow.commit()
        assert await outbox_rows(database, tables) == 2


class TestRelay:
    async def test_publishes_in_commit_order_and_marks_rows_sent(
        self,
        database: Database,
        tables: MessagingTables,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        events = [an_event(ids, payment_id=n % 3) for n in range(12)]
        for event in events:
            async with unit_of_work(database, tables, clock) as uow:
                uow.events.append(event)
                await uow.commit()
        broker = InMemoryBroker(partitions=2)
        assert await relay(database, tables, broker, clock, batch_size=5).run_once() == 5
        other = relay(database, tables, broker, clock, holder="relay-2", batch_size=100)
        assert await other.run_once() == 0  # another relay: the first still holds the lease
        first = relay(database, tables, broker, clock, holder="relay-1", batch_size=100)
        assert await first.run_once() == 7
        published = [Envelope.decode(rec.data) for rec in broker.records("payments")]
        assert sorted(e.id for e in published) == sorted(str(e.id) for e in events)
        for payment_id in range(3):
            mine = [e.id for e in published if e.key == str(payment_id)]
            assert mine == [str(e.id) for e in events if e.payment_id == payment_id]
        assert await outbox_rows(database, tables, unpublished=True) == 0
        assert await first.run_once() == 0

    async def test_a_failed_publish_leaves_the_rows_for_the_next_attempt(
        self,
        database: Database,
        tables: MessagingTables,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        async with unit_of_work(database, tables, clock) as uow:
            uow.events.append(an_event(ids, 1))
            await uow.commit()
        broker = InMemoryBroker()
        broker.fail_next_publish = ConnectionError("broker down")
        r = relay(database, tables, broker, clock)
        with pytest.raises(ConnectionError):
            await r.run_once()
        assert await outbox_rows(database, tables, unpublished=True) == 1
        assert await r.run_once() == 1
        assert len(broker.records("payments")) == 1

    async def test_the_lease_passes_to_another_relay_when_the_leader_stops_renewing(
        self,
        database: Database,
        tables: MessagingTables,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        broker = InMemoryBroker()
        leader, standby = (
            relay(database, tables, broker, clock, "a"),
            relay(database, tables, broker, clock, "b"),
        )
        await leader.run_once()
        await standby.run_once()
        assert (leader.leading, standby.leading) == (True, False)
        clock.advance(11.0)  # past the 10 s TTL: the leader is presumed dead
        async with unit_of_work(database, tables, clock) as uow:
            uow.events.append(an_event(ids, 1))
            await uow.commit()
        assert await standby.run_once() == 1
        assert standby.leading

    async def test_run_stops_when_asked_and_releases_the_lease(
        self,
        database: Database,
        tables: MessagingTables,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        async with unit_of_work(database, tables, clock) as uow:
            uow.events.append(an_event(ids, 1))
            await uow.commit()
        broker = InMemoryBroker()
        r = relay(database, tables, broker, clock)
        stop = asyncio.Event()
        task = asyncio.create_task(r.run(stop))
        for _ in range(200):
            if broker.records("payments"):
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)
        assert len(broker.records("payments")) == 1
        assert not r.leading
        other = relay(database, tables, broker, clock, "b")
        await other.run_once()
        assert other.leading  # released, not left to expire
