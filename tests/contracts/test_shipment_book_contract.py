"""The ``ShipmentBook`` contract over every adapter (memory, SQLite, PostgreSQL), with the
``ShippingService`` on the same adapters moving shipments on."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import pytest

from bazaar.contexts.shipping import (
    InvalidShipmentTransitionError,
    Shipment,
    ShipmentAlreadyDispatchedError,
    ShipmentBook,
    ShipmentCancelled,
    ShipmentCreated,
    ShipmentNotFoundError,
    ShipmentStatus,
    ShipmentStatusChanged,
    ShippingService,
)
from bazaar.contexts.shipping.adapters import InMemoryShippingState, SqlShippingUnitOfWork
from bazaar.contexts.shipping.application import ShippingUnitOfWork
from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import MAX_WORKER_ID, SnowflakeGenerator

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


# The PostgreSQL database (and its outbox) is shared by the session: each test's Snowflake
# ids come from a worker id of its own, on a clock starting at the wall time.
_worker_ids = itertools.count(start=300)


def new_ids() -> tuple[ManualClock, SnowflakeGenerator]:
    clock = ManualClock(start=time.time())
    return clock, SnowflakeGenerator(next(_worker_ids) % (MAX_WORKER_ID + 1), clock)


def new_id() -> int:
    """An id no other test uses (the PostgreSQL database is shared)."""
    return uuid.uuid4().int >> 66


@dataclass
class BookHarness:
    unit_of_work: Callable[[], ShippingUnitOfWork]
    service: ShippingService
    clock: ManualClock
    ids: SnowflakeGenerator

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ShipmentBook]:
        """Commits when the block ends, rolls back when it raises (the caller's part)."""
        uow = self.unit_of_work()
        async with uow:
            yield uow.shipments
            await uow.commit()

    def now(self) -> datetime:
        return self.clock.utcnow()

    async def create(self, tenant_id: int, order_id: int) -> Shipment:
        async with self.transaction() as book:
            shipment, _ = await book.create(
                tenant_id, self.ids.next_id(), order_id, ADDRESS, now=self.now()
            )
        return shipment

    async def for_order(self, tenant_id: int, order_id: int) -> Shipment | None:
        async with self.transaction() as book:
            return await book.for_order(tenant_id, order_id)


class ShipmentBookContract:
    """Subclasses provide ``harness``."""

    @pytest.fixture
    def tenant(self) -> int:
        return new_id()

    async def test_create_makes_a_created_shipment_and_its_event(
        self, harness: BookHarness, tenant: int
    ) -> None:
        shipment_id, order_id, now = harness.ids.next_id(), new_id(), harness.now()
        async with harness.transaction() as book:
            shipment, events = await book.create(tenant, shipment_id, order_id, ADDRESS, now=now)
        assert shipment == Shipment(
            id=shipment_id,
            tenant_id=tenant,
            order_id=order_id,
            status=ShipmentStatus.CREATED,
            address=ADDRESS,
            created_at=now,
            updated_at=now,
        )
        assert events == [
            ShipmentCreated(
                id=shipment_id,
                occurred_at=now,
                tenant_id=tenant,
                shipment_id=shipment_id,
                order_id=order_id,
            )
        ]
        assert events[0].partition_key == str(order_id)
        assert await harness.for_order(tenant, order_id) == shipment

    async def test_create_is_idempotent_on_the_order(
        self, harness: BookHarness, tenant: int
    ) -> None:
        order_id = new_id()
        first = await harness.create(tenant, order_id)
        harness.clock.advance(5)
        async with harness.transaction() as book:
            again, events = await book.create(
                tenant, harness.ids.next_id(), order_id, {"city": "Paris"}, now=harness.now()
            )
        assert (again, events) == (first, [])

    async def test_the_address_is_kept_and_cannot_be_changed_through_the_shipment(
        self, harness: BookHarness, tenant: int
    ) -> None:
        order_id = new_id()
        shipment = await harness.create(tenant, order_id)
        with pytest.raises(TypeError):
            shipment.address["city"] = "Paris"  # type: ignore[index]  # read-only on purpose
        stored = await harness.for_order(tenant, order_id)
        assert stored is not None
        assert dict(stored.address) == ADDRESS

    async def test_a_rolled_back_create_leaves_nothing(
        self, harness: BookHarness, tenant: int
    ) -> None:
        order_id = new_id()
        with pytest.raises(RuntimeError):
            async with harness.transaction() as book:
                await book.create(
                    tenant, harness.ids.next_id(), order_id, ADDRESS, now=harness.now()
                )
                raise RuntimeError("the saga step failed after the shipment was written")
        assert await harness.for_order(tenant, order_id) is None

    async def test_for_order_sees_only_the_tenants_own_shipments(
        self, harness: BookHarness, tenant: int
    ) -> None:
        order_id = new_id()
        await harness.create(tenant, order_id)
        assert await harness.for_order(new_id(), order_id) is None
        assert await harness.for_order(tenant, new_id()) is None

    async def test_cancel_cancels_a_created_shipment_once(
        self, harness: BookHarness, tenant: int
    ) -> None:
        order_id = new_id()
        shipment = await harness.create(tenant, order_id)
        harness.clock.advance(5)
        event_id, now = harness.ids.next_id(), harness.now()
        async with harness.transaction() as book:
            cancelled, events = await book.cancel(tenant, order_id, now=now, event_id=event_id)
        assert cancelled is not None
        assert (cancelled.id, cancelled.status, cancelled.updated_at) == (
            shipment.id,
            ShipmentStatus.CANCELLED,
            now,
        )
        assert events == [
            ShipmentCancelled(
                id=event_id,
                occurred_at=now,
                tenant_id=tenant,
                shipment_id=shipment.id,
                order_id=order_id,
            )
        ]
        async with harness.transaction() as book:
            again, more = await book.cancel(
                tenant, order_id, now=harness.now(), event_id=harness.ids.next_id()
            )
        assert (again, more) == (cancelled, [])

    async def test_cancel_without_a_shipment_is_none(
        self, harness: BookHarness, tenant: int
    ) -> None:
        order_id = new_id()
        await harness.create(new_id(), order_id)  # another tenant's order with the same id
        async with harness.transaction() as book:
            result = await book.cancel(
                tenant, order_id, now=harness.now(), event_id=harness.ids.next_id()
            )
        assert result == (None, [])

    @pytest.mark.parametrize("status", [ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED])
    async def test_a_dispatched_shipment_cannot_be_cancelled(
        self, harness: BookHarness, tenant: int, status: ShipmentStatus
    ) -> None:
        order_id = new_id()
        shipment = await harness.create(tenant, order_id)
        await harness.service.advance(tenant, shipment.id, status)
        with pytest.raises(ShipmentAlreadyDispatchedError) as caught:
            async with harness.transaction() as book:
                await book.cancel(
                    tenant, order_id, now=harness.now(), event_id=harness.ids.next_id()
                )
        assert (caught.value.shipment_id, caught.value.status) == (shipment.id, status)
        after = await harness.for_order(tenant, order_id)
        assert after is not None
        assert after.status is status

    # --- the service's status updates ---

    async def test_advance_moves_a_shipment_along_and_raises_its_events(
        self, harness: BookHarness, tenant: int
    ) -> None:
        order_id = new_id()
        shipment = await harness.create(tenant, order_id)
        harness.clock.advance(60)
        shipped = await harness.service.advance(tenant, shipment.id, ShipmentStatus.SHIPPED)
        assert (shipped.status, shipped.updated_at) == (ShipmentStatus.SHIPPED, harness.now())
        delivered = await harness.service.advance(tenant, shipment.id, ShipmentStatus.DELIVERED)
        assert delivered.status is ShipmentStatus.DELIVERED
        assert await harness.for_order(tenant, order_id) == delivered

    async def test_a_status_reached_already_changes_nothing(
        self, harness: BookHarness, tenant: int
    ) -> None:
        shipment = await harness.create(tenant, new_id())
        delivered = await harness.service.advance(tenant, shipment.id, ShipmentStatus.DELIVERED)
        harness.clock.advance(60)
        for late in (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED):
            assert await harness.service.advance(tenant, shipment.id, late) == delivered

    async def test_a_cancelled_shipment_does_not_move_on(
        self, harness: BookHarness, tenant: int
    ) -> None:
        order_id = new_id()
        shipment = await harness.create(tenant, order_id)
        async with harness.transaction() as book:
            await book.cancel(tenant, order_id, now=harness.now(), event_id=harness.ids.next_id())
        with pytest.raises(InvalidShipmentTransitionError) as caught:
            await harness.service.advance(tenant, shipment.id, ShipmentStatus.SHIPPED)
        assert caught.value.current is ShipmentStatus.CANCELLED

    @pytest.mark.parametrize("status", [ShipmentStatus.CREATED, ShipmentStatus.CANCELLED])
    async def test_advance_only_reaches_shipped_or_delivered(
        self, harness: BookHarness, tenant: int, status: ShipmentStatus
    ) -> None:
        shipment = await harness.create(tenant, new_id())
        with pytest.raises(InvalidShipmentTransitionError):
            await harness.service.advance(tenant, shipment.id, status)

    async def test_advance_of_an_unknown_or_foreign_shipment_raises_not_found(
        self, harness: BookHarness, tenant: int
    ) -> None:
        shipment = await harness.create(tenant, new_id())
        for tenant_id, shipment_id in ((tenant, new_id()), (new_id(), shipment.id)):
            with pytest.raises(ShipmentNotFoundError):
                await harness.service.advance(tenant_id, shipment_id, ShipmentStatus.SHIPPED)


class TestInMemoryShipmentBook(ShipmentBookContract):
    @pytest.fixture
    def harness(self) -> BookHarness:
        state, (clock, ids) = InMemoryShippingState(), new_ids()
        service = ShippingService(unit_of_work=state.unit_of_work, ids=ids, clock=clock)
        return BookHarness(state.unit_of_work, service, clock, ids)

    async def test_committed_status_changes_reach_the_outbox(self) -> None:
        state, (clock, ids) = InMemoryShippingState(), new_ids()
        service = ShippingService(unit_of_work=state.unit_of_work, ids=ids, clock=clock)
        uow = state.unit_of_work()
        async with uow:
            shipment, events = await uow.shipments.create(1, 2, 3, ADDRESS, now=clock.utcnow())
            uow.events.extend(events)
            await uow.commit()
        await service.advance(1, shipment.id, ShipmentStatus.SHIPPED)
        await service.advance(1, shipment.id, ShipmentStatus.SHIPPED)
        assert [type(e) for e in state.outbox] == [ShipmentCreated, ShipmentStatusChanged]
        changed = state.outbox[1]
        assert isinstance(changed, ShipmentStatusChanged)
        assert (changed.previous, changed.status) == (
            ShipmentStatus.CREATED,
            ShipmentStatus.SHIPPED,
        )


class TestSqlShipmentBook(ShipmentBookContract):
    @pytest.fixture
    def harness(self, database: Database) -> BookHarness:
        clock, ids = new_ids()

        def unit_of_work() -> SqlShippingUnitOfWork:
            return SqlShippingUnitOfWork(database.sessions, clock=clock)

        service = ShippingService(unit_of_work=unit_of_work, ids=ids, clock=clock)
        return BookHarness(unit_of_work, service, clock, ids)
