"""The ``StockLedger`` contract over every adapter (memory, SQLite, PostgreSQL), with the
``InventoryService`` built on the same adapters for stock figures and the expiry job."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from bazaar.contexts.inventory import (
    DEFAULT_RESERVATION_TTL,
    InvalidStockError,
    InventoryService,
    OutOfStockError,
    Reservation,
    ReservationIdConflictError,
    ReservationLine,
    ReservationNotFoundError,
    ReservationNotHeldError,
    ReservationStatus,
    StockLedger,
    StockLevel,
)
from bazaar.contexts.inventory.adapters import (
    InMemoryInventoryReadModel,
    InMemoryInventoryState,
    SqlInventoryReadModel,
    SqlInventoryUnitOfWork,
)
from bazaar.contexts.inventory.application import InventoryUnitOfWork
from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock

# 1 Jan 2030. On the session's shared PostgreSQL database the expiry job runs over every
# tenant: here it also expires other tests' leftover holds (harmless; counts there are lower
# bounds), while tests on the wall clock never expire this module's holds under its feet.
START = 1_893_456_000.0


def new_id() -> int:
    """A reservation or tenant id no other test uses (the PostgreSQL database is shared)."""
    return uuid.uuid4().int >> 66


def line(product_id: int, quantity: int) -> ReservationLine:
    return ReservationLine(product_id, quantity)


@dataclass
class LedgerHarness:
    """A ledger in a transaction of its own, the service on the same store, and the clock."""

    unit_of_work: Callable[[], InventoryUnitOfWork]
    service: InventoryService
    clock: ManualClock
    isolated: bool  # False: other tests' rows share the database

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[StockLedger]:
        """Commits when the block ends, rolls back when it raises (the caller's part)."""
        uow = self.unit_of_work()
        async with uow:
            yield uow.ledger
            await uow.commit()

    def now(self) -> datetime:
        return self.clock.utcnow()

    async def reserve(
        self,
        tenant_id: int,
        lines: list[ReservationLine],
        *,
        reservation_id: int | None = None,
        ttl: timedelta = DEFAULT_RESERVATION_TTL,
    ) -> Reservation:
        async with self.transaction() as ledger:
            return await ledger.reserve(
                tenant_id,
                reservation_id or new_id(),
                lines,
                expires_at=self.now() + ttl,
                now=self.now(),
            )

    async def level(self, tenant_id: int, product_id: int) -> StockLevel:
        return (await self.service.stock_levels(tenant_id, [product_id]))[product_id]


class StockLedgerContract:
    """Subclasses provide ``harness``."""

    @pytest.fixture
    def tenant(self) -> int:
        return new_id()

    # --- reserve ---

    async def test_reserve_moves_units_from_available_to_reserved(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        rid, now = new_id(), harness.now()
        async with harness.transaction() as ledger:
            reservation = await ledger.reserve(
                tenant, rid, [line(1, 3)], expires_at=now + timedelta(minutes=15), now=now
            )
        assert reservation == Reservation(
            id=rid,
            tenant_id=tenant,
            lines=(line(1, 3),),
            status=ReservationStatus.HELD,
            expires_at=now + timedelta(minutes=15),
            created_at=now,
            updated_at=now,
        )
        assert await harness.level(tenant, 1) == StockLevel(1, 7, 3, 0)
        async with harness.transaction() as ledger:
            assert await ledger.get(tenant, rid) == reservation

    async def test_reserve_merges_duplicate_lines_and_sorts_them_by_product(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        await harness.service.set_available(tenant, 2, 10)
        reservation = await harness.reserve(tenant, [line(2, 1), line(1, 2), line(2, 3)])
        assert reservation.lines == (line(1, 2), line(2, 4))
        assert await harness.level(tenant, 2) == StockLevel(2, 6, 4, 0)

    async def test_reserve_is_idempotent_on_the_reservation_id(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        first = await harness.reserve(tenant, [line(1, 2)])
        again = await harness.reserve(tenant, [line(1, 5)], reservation_id=first.id)
        assert again == first
        assert await harness.level(tenant, 1) == StockLevel(1, 8, 2, 0)

    async def test_an_existing_reservation_comes_back_in_whatever_status_it_is(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        first = await harness.reserve(tenant, [line(1, 2)])
        async with harness.transaction() as ledger:
            assert await ledger.release(tenant, first.id, now=harness.now())
        again = await harness.reserve(tenant, [line(1, 2)], reservation_id=first.id)
        assert again.status is ReservationStatus.RELEASED
        assert await harness.level(tenant, 1) == StockLevel(1, 10, 0, 0)

    async def test_too_little_stock_raises_and_the_rollback_undoes_earlier_lines(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        await harness.service.set_available(tenant, 2, 1)
        rid = new_id()
        with pytest.raises(OutOfStockError) as caught:
            await harness.reserve(tenant, [line(1, 4), line(2, 2)], reservation_id=rid)
        assert (caught.value.product_id, caught.value.requested) == (2, 2)
        assert caught.value.available == 1
        assert await harness.level(tenant, 1) == StockLevel(1, 10, 0, 0)
        assert await harness.level(tenant, 2) == StockLevel(2, 1, 0, 0)
        async with harness.transaction() as ledger:
            assert await ledger.get(tenant, rid) is None
        # The id is free again: a retry with stock back in place succeeds.
        await harness.service.set_available(tenant, 2, 2)
        retried = await harness.reserve(tenant, [line(1, 4), line(2, 2)], reservation_id=rid)
        assert retried.status is ReservationStatus.HELD

    async def test_a_product_without_a_stock_row_has_nothing_available(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        with pytest.raises(OutOfStockError) as caught:
            await harness.reserve(tenant, [line(404, 1)])
        assert caught.value.available == 0

    async def test_another_tenants_stock_is_not_reservable(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        other = new_id()
        await harness.service.set_available(other, 1, 10)
        with pytest.raises(OutOfStockError):
            await harness.reserve(tenant, [line(1, 1)])
        assert await harness.level(other, 1) == StockLevel(1, 10, 0, 0)

    @pytest.mark.parametrize(
        ("lines", "field"),
        [([], "lines"), ([line(1, 1), line(2, 0)], "lines[1].quantity")],
    )
    async def test_lines_without_units_are_refused(
        self, harness: LedgerHarness, tenant: int, lines: list[ReservationLine], field: str
    ) -> None:
        with pytest.raises(InvalidStockError) as caught:
            await harness.reserve(tenant, lines)
        assert caught.value.field == field

    async def test_a_reservation_id_of_another_tenant_conflicts(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        other = new_id()
        await harness.service.set_available(other, 1, 10)
        await harness.service.set_available(tenant, 1, 10)
        taken = await harness.reserve(other, [line(1, 1)])
        with pytest.raises(ReservationIdConflictError):
            await harness.reserve(tenant, [line(1, 1)], reservation_id=taken.id)
        assert await harness.level(tenant, 1) == StockLevel(1, 10, 0, 0)

    # --- release ---

    async def test_release_gives_the_units_back_once(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        await harness.service.set_available(tenant, 2, 10)
        reservation = await harness.reserve(tenant, [line(1, 3), line(2, 1)])
        async with harness.transaction() as ledger:
            assert await ledger.release(tenant, reservation.id, now=harness.now()) is True
        async with harness.transaction() as ledger:
            assert await ledger.release(tenant, reservation.id, now=harness.now()) is False
            released = await ledger.get(tenant, reservation.id)
        assert released is not None
        assert released.status is ReservationStatus.RELEASED
        assert await harness.level(tenant, 1) == StockLevel(1, 10, 0, 0)
        assert await harness.level(tenant, 2) == StockLevel(2, 10, 0, 0)

    async def test_release_of_an_unknown_or_foreign_reservation_is_false(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        reservation = await harness.reserve(tenant, [line(1, 3)])
        async with harness.transaction() as ledger:
            assert await ledger.release(tenant, new_id(), now=harness.now()) is False
            assert await ledger.release(new_id(), reservation.id, now=harness.now()) is False
        assert await harness.level(tenant, 1) == StockLevel(1, 7, 3, 0)

    async def test_release_of_a_committed_reservation_changes_nothing(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        reservation = await harness.reserve(tenant, [line(1, 3)])
        async with harness.transaction() as ledger:
            await ledger.commit(tenant, reservation.id, now=harness.now())
        async with harness.transaction() as ledger:
            assert await ledger.release(tenant, reservation.id, now=harness.now()) is False
        assert await harness.level(tenant, 1) == StockLevel(1, 7, 0, 3)

    # --- commit ---

    async def test_commit_turns_reserved_units_into_sold_ones_once(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        reservation = await harness.reserve(tenant, [line(1, 3)])
        harness.clock.advance(60)
        async with harness.transaction() as ledger:
            committed = await ledger.commit(tenant, reservation.id, now=harness.now())
        assert committed.status is ReservationStatus.COMMITTED
        assert committed.lines == reservation.lines
        assert committed.updated_at == harness.now()
        async with harness.transaction() as ledger:
            again = await ledger.commit(tenant, reservation.id, now=harness.now())
        assert again == committed
        assert await harness.level(tenant, 1) == StockLevel(1, 7, 0, 3)

    async def test_commit_of_a_released_reservation_raises_not_held(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        reservation = await harness.reserve(tenant, [line(1, 3)])
        async with harness.transaction() as ledger:
            await ledger.release(tenant, reservation.id, now=harness.now())
        with pytest.raises(ReservationNotHeldError) as caught:
            async with harness.transaction() as ledger:
                await ledger.commit(tenant, reservation.id, now=harness.now())
        assert caught.value.status is ReservationStatus.RELEASED
        assert await harness.level(tenant, 1) == StockLevel(1, 10, 0, 0)

    async def test_commit_of_an_unknown_or_foreign_reservation_raises_not_found(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        reservation = await harness.reserve(tenant, [line(1, 3)])
        for tenant_id, rid in ((tenant, new_id()), (new_id(), reservation.id)):
            with pytest.raises(ReservationNotFoundError):
                async with harness.transaction() as ledger:
                    await ledger.commit(tenant_id, rid, now=harness.now())
        assert await harness.level(tenant, 1) == StockLevel(1, 7, 3, 0)

    async def test_get_sees_only_the_tenants_own_reservations(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        reservation = await harness.reserve(tenant, [line(1, 1)])
        async with harness.transaction() as ledger:
            assert await ledger.get(new_id(), reservation.id) is None
            assert await ledger.get(tenant, new_id()) is None
        assert await harness.service.reservation(tenant, reservation.id) == reservation
        assert await harness.service.reservation(new_id(), reservation.id) is None

    # --- expiry (the service's scheduled job) ---

    async def test_expiry_gives_back_only_overdue_held_reservations(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 100)
        minute = timedelta(minutes=1)
        overdue = await harness.reserve(tenant, [line(1, 1)], ttl=minute)
        later = await harness.reserve(tenant, [line(1, 2)], ttl=30 * minute)
        committed = await harness.reserve(tenant, [line(1, 4)], ttl=minute)
        released = await harness.reserve(tenant, [line(1, 8)], ttl=minute)
        async with harness.transaction() as ledger:
            await ledger.commit(tenant, committed.id, now=harness.now())
            await ledger.release(tenant, released.id, now=harness.now())
        harness.clock.advance(120)

        expired = await harness.service.expire_reservations()

        assert expired == 1 if harness.isolated else expired >= 1
        statuses = {
            rid: (await harness.service.reservation(tenant, rid))
            for rid in (overdue.id, later.id, committed.id, released.id)
        }
        assert {rid: r.status if r else None for rid, r in statuses.items()} == {
            overdue.id: ReservationStatus.EXPIRED,
            later.id: ReservationStatus.HELD,
            committed.id: ReservationStatus.COMMITTED,
            released.id: ReservationStatus.RELEASED,
        }
        assert await harness.level(tenant, 1) == StockLevel(1, 100 - 2 - 4, 2, 4)
        if harness.isolated:
            assert await harness.service.expire_reservations() == 0

    async def test_a_reservation_expires_exactly_at_its_deadline(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        reservation = await harness.reserve(tenant, [line(1, 1)], ttl=timedelta(seconds=60))
        harness.clock.advance(59)
        await harness.service.expire_reservations()
        still = await harness.service.reservation(tenant, reservation.id)
        assert still is not None
        assert still.status is ReservationStatus.HELD
        harness.clock.advance(1)
        await harness.service.expire_reservations()
        gone = await harness.service.reservation(tenant, reservation.id)
        assert gone is not None
        assert gone.status is ReservationStatus.EXPIRED
        assert gone.updated_at == harness.now()

    async def test_commit_after_expiry_raises_not_held(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        reservation = await harness.reserve(tenant, [line(1, 3)], ttl=timedelta(minutes=1))
        harness.clock.advance(61)
        await harness.service.expire_reservations()
        with pytest.raises(ReservationNotHeldError) as caught:
            async with harness.transaction() as ledger:
                await ledger.commit(tenant, reservation.id, now=harness.now())
        assert caught.value.status is ReservationStatus.EXPIRED
        async with harness.transaction() as ledger:
            assert await ledger.release(tenant, reservation.id, now=harness.now()) is False
        assert await harness.level(tenant, 1) == StockLevel(1, 10, 0, 0)

    async def test_an_overdue_hold_the_job_has_not_reached_still_commits(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        reservation = await harness.reserve(tenant, [line(1, 3)], ttl=timedelta(minutes=1))
        harness.clock.advance(61)
        async with harness.transaction() as ledger:
            committed = await ledger.commit(tenant, reservation.id, now=harness.now())
        assert committed.status is ReservationStatus.COMMITTED
        await harness.service.expire_reservations()
        assert await harness.level(tenant, 1) == StockLevel(1, 7, 0, 3)

    async def test_expiry_takes_at_most_limit_reservations_oldest_first(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        held = [
            await harness.reserve(tenant, [line(1, 1)], ttl=timedelta(seconds=s))
            for s in (30, 10, 20)
        ]
        harness.clock.advance(60)
        assert await harness.service.expire_reservations(limit=2) == 2
        if harness.isolated:
            statuses = [
                r.status
                for r in [await harness.service.reservation(tenant, h.id) for h in held]
                if r is not None
            ]
            assert statuses == [
                ReservationStatus.HELD,
                ReservationStatus.EXPIRED,
                ReservationStatus.EXPIRED,
            ]

    # --- the service's stock figures ---

    async def test_stock_levels_answer_for_every_product_asked(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 5)
        await harness.service.set_available(tenant, 3, 0)
        levels = await harness.service.stock_levels(tenant, [3, 1, 2, 1])
        assert levels == {
            3: StockLevel(3, 0, 0, 0),
            1: StockLevel(1, 5, 0, 0),
            2: StockLevel(2, 0, 0, 0),
        }
        assert await harness.service.stock_levels(tenant, []) == {}

    async def test_set_available_keeps_reserved_and_sold_units(
        self, harness: LedgerHarness, tenant: int
    ) -> None:
        await harness.service.set_available(tenant, 1, 10)
        sold = await harness.reserve(tenant, [line(1, 2)])
        async with harness.transaction() as ledger:
            await ledger.commit(tenant, sold.id, now=harness.now())
        await harness.reserve(tenant, [line(1, 3)])
        assert await harness.service.set_available(tenant, 1, 50) == StockLevel(1, 50, 3, 2)
        assert await harness.level(tenant, 1) == StockLevel(1, 50, 3, 2)

    async def test_negative_available_is_refused(self, harness: LedgerHarness, tenant: int) -> None:
        with pytest.raises(InvalidStockError) as caught:
            await harness.service.set_available(tenant, 1, -1)
        assert caught.value.field == "available"
        assert await harness.level(tenant, 1) == StockLevel(1, 0, 0, 0)


class TestInMemoryStockLedger(StockLedgerContract):
    @pytest.fixture
    def harness(self) -> LedgerHarness:
        state, clock = InMemoryInventoryState(), ManualClock(start=START)
        service = InventoryService(
            unit_of_work=state.unit_of_work, reads=InMemoryInventoryReadModel(state), clock=clock
        )
        return LedgerHarness(state.unit_of_work, service, clock, isolated=True)


class TestSqlStockLedger(StockLedgerContract):
    @pytest.fixture
    def harness(self, database: Database) -> LedgerHarness:
        clock = ManualClock(start=START)
        service = InventoryService(
            unit_of_work=lambda: SqlInventoryUnitOfWork(database.sessions, clock=clock),
            reads=SqlInventoryReadModel(database.read_sessions),
            clock=clock,
        )
        return LedgerHarness(
            lambda: SqlInventoryUnitOfWork(database.sessions, clock=clock),
            service,
            clock,
            isolated=database.dialect == "sqlite",
        )
