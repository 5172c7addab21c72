"""Shipping on real engines: the book joins the caller's transaction, status updates reach
the outbox with their state change, and a cancel racing a dispatch decides once."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import pytest
from sqlalchemy import select

from bazaar.contexts.shipping import (
    InvalidShipmentTransitionError,
    Shipment,
    ShipmentAlreadyDispatchedError,
    ShipmentStatus,
    ShippingService,
)
from bazaar.contexts.shipping.adapters import SqlShipmentBook, SqlShippingUnitOfWork
from bazaar.infra.db import Database, messaging_tables
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import MAX_WORKER_ID, SnowflakeGenerator
from bazaar.kernel.messaging.envelope import Envelope

ADDRESS = {"name": "Grace Hopper", "line1": "1 Navy Way", "city": "Arlington", "country": "US"}

# The PostgreSQL database and its outbox are shared by the session: ids of their own.
_worker_ids = itertools.count(start=350)


def new_id() -> int:
    return uuid.uuid4().int >> 66


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def ids(clock: ManualClock) -> SnowflakeGenerator:
    return SnowflakeGenerator(next(_worker_ids) % (MAX_WORKER_ID + 1), clock)


@pytest.fixture
def shipping(database: Database, clock: ManualClock, ids: SnowflakeGenerator) -> ShippingService:
    return ShippingService(
        unit_of_work=lambda: SqlShippingUnitOfWork(database.sessions, clock=clock),
        ids=ids,
        clock=clock,
    )


async def outbox_of(database: Database, order_id: int) -> list[Envelope]:
    o = messaging_tables.outbox
    query = select(o.c.topic, o.c.key, o.c.data).where(o.c.key == str(order_id)).order_by(o.c.seq)
    async with database.read_sessions() as session:
        rows = (await session.execute(query)).all()
    assert all(row.topic == "shipping" for row in rows)
    return [Envelope.decode(row.data) for row in rows]


async def create_shipment(
    database: Database, clock: ManualClock, ids: SnowflakeGenerator, tenant_id: int, order_id: int
) -> Shipment:
    """The saga's step: the shipment and its event commit in the caller's transaction."""
    uow = SqlShippingUnitOfWork(database.sessions, clock=clock)
    async with uow:
        shipment, raised = await SqlShipmentBook(uow.session).create(
            tenant_id, ids.next_id(), order_id, ADDRESS, now=clock.utcnow()
        )
        uow.events.extend(raised)
        await uow.commit()
    return shipment


class TestTheCallersTransaction:
    async def test_the_book_writes_nothing_the_caller_does_not_commit(
        self, database: Database, clock: ManualClock, ids: SnowflakeGenerator
    ) -> None:
        tenant_id, order_id = new_id(), new_id()
        async with database.sessions() as session:
            book = SqlShipmentBook(session)
            await book.create(tenant_id, ids.next_id(), order_id, ADDRESS, now=clock.utcnow())
            assert await book.for_order(tenant_id, order_id) is not None
            await session.rollback()
        async with database.sessions() as session:
            assert await SqlShipmentBook(session).for_order(tenant_id, order_id) is None

    async def test_created_and_cancelled_events_commit_with_the_shipment(
        self, database: Database, clock: ManualClock, ids: SnowflakeGenerator
    ) -> None:
        tenant_id, order_id = new_id(), new_id()
        shipment = await create_shipment(database, clock, ids, tenant_id, order_id)
        uow = SqlShippingUnitOfWork(database.sessions, clock=clock)
        async with uow:
            _, raised = await uow.shipments.cancel(
                tenant_id, order_id, now=clock.utcnow(), event_id=ids.next_id()
            )
            uow.events.extend(raised)
            await uow.commit()
        envelopes = await outbox_of(database, order_id)
        assert [e.type for e in envelopes] == [
            "shipping.shipment_created",
            "shipping.shipment_cancelled",
        ]
        assert envelopes[0].id == str(shipment.id)
        assert envelopes[0].payload == {
            "tenant_id": tenant_id,
            "shipment_id": shipment.id,
            "order_id": order_id,
        }


class TestStatusUpdates:
    async def test_each_move_writes_one_status_changed_event(
        self,
        database: Database,
        shipping: ShippingService,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        tenant_id, order_id = new_id(), new_id()
        shipment = await create_shipment(database, clock, ids, tenant_id, order_id)
        await shipping.advance(tenant_id, shipment.id, ShipmentStatus.SHIPPED)
        await shipping.advance(tenant_id, shipment.id, ShipmentStatus.SHIPPED)  # redelivered
        await shipping.advance(tenant_id, shipment.id, ShipmentStatus.DELIVERED)
        changes = [
            e.payload
            for e in await outbox_of(database, order_id)
            if e.type == "shipping.shipment_status_changed"
        ]
        assert changes == [
            {
                "tenant_id": tenant_id,
                "shipment_id": shipment.id,
                "order_id": order_id,
                "previous": "created",
                "status": "shipped",
            },
            {
                "tenant_id": tenant_id,
                "shipment_id": shipment.id,
                "order_id": order_id,
                "previous": "shipped",
                "status": "delivered",
            },
        ]

    async def test_a_refused_move_writes_nothing(
        self,
        database: Database,
        shipping: ShippingService,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        tenant_id, order_id = new_id(), new_id()
        shipment = await create_shipment(database, clock, ids, tenant_id, order_id)
        async with database.sessions() as session, session.begin():
            await SqlShipmentBook(session).cancel(
                tenant_id, order_id, now=clock.utcnow(), event_id=ids.next_id()
            )
        with pytest.raises(InvalidShipmentTransitionError):
            await shipping.advance(tenant_id, shipment.id, ShipmentStatus.SHIPPED)
        assert [e.type for e in await outbox_of(database, order_id)] == [
            "shipping.shipment_created"
        ]


class TestCancelRacingDispatch:
    async def test_a_cancel_racing_a_dispatch_decides_once(
        self,
        database: Database,
        shipping: ShippingService,
        clock: ManualClock,
        ids: SnowflakeGenerator,
    ) -> None:
        tenant_id = new_id()
        shipments = [
            await create_shipment(database, clock, ids, tenant_id, new_id()) for _ in range(10)
        ]

        async def cancel(order_id: int) -> bool:
            try:
                async with database.sessions() as session, session.begin():
                    cancelled, _ = await SqlShipmentBook(session).cancel(
                        tenant_id, order_id, now=clock.utcnow(), event_id=ids.next_id()
                    )
            except ShipmentAlreadyDispatchedError:
                return False
            assert cancelled is not None
            return True

        async def dispatch(shipment_id: int) -> bool:
            try:
                await shipping.advance(tenant_id, shipment_id, ShipmentStatus.SHIPPED)
            except InvalidShipmentTransitionError:
                return False
            return True

        outcomes = await asyncio.gather(
            *(asyncio.gather(cancel(s.order_id), dispatch(s.id)) for s in shipments)
        )
        async with database.sessions() as session:
            book = SqlShipmentBook(session)
            for shipment, (cancelled, dispatched) in zip(shipments, outcomes, strict=True):
                assert cancelled != dispatched
                final = await book.for_order(tenant_id, shipment.order_id)
                assert final is not None
                expected = ShipmentStatus.CANCELLED if cancelled else ShipmentStatus.SHIPPED
                assert final.status is expected
