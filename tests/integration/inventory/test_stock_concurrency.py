"""Inventory under concurrency on real engines: never oversold, never negative, no lost update.

Every checkout runs in a session and transaction of its own, gathered at once: on
PostgreSQL they really run side by side through the pool (and wait on each other's row
locks); on SQLite they queue for the one writer connection.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from inventory_integration_support import (
    commit_alone,
    held_units,
    new_id,
    release_alone,
    reserve_alone,
)
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from bazaar.contexts.inventory import (
    InventoryService,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)
from bazaar.contexts.inventory.adapters import SqlStockLedger, SqlStockRepository
from bazaar.contexts.inventory.adapters.tables import stock
from bazaar.infra.db import Database, create_database
from bazaar.infra.db.engine import PoolConfig
from bazaar.kernel.clock import ManualClock

PRODUCT = 1


@pytest.fixture
async def database(database: Database, database_url: str) -> AsyncIterator[Database]:
    """The migrated database again, with room for 200 checkouts queued in its pool.

    The default pool wait (5 s) bounds a request's wait for a connection; 200 transactions
    queued at once for SQLite's one writer connection (or PostgreSQL's 20) can take longer
    on a slow machine. What these tests prove is the concurrency control, not pool sizing.
    """
    roomy = create_database(database_url, PoolConfig(pool_timeout_s=60.0))
    try:
        yield roomy
    finally:
        await roomy.dispose()


def one(product_id: int = PRODUCT, quantity: int = 1) -> list[ReservationLine]:
    return [ReservationLine(product_id, quantity)]


class TestNeverOversold:
    async def test_two_hundred_checkouts_for_ten_units_sell_exactly_ten(
        self,
        database: Database,
        inventory: InventoryService,
        clock: ManualClock,
        tenant_id: int,
    ) -> None:
        await inventory.set_available(tenant_id, PRODUCT, 10)
        observed: list[StockLevel] = []

        async def checkout(n: int) -> Reservation | None:
            reservation = await reserve_alone(database, tenant_id, one(), clock.utcnow())
            if n % 10 == 0:
                # A look at the figures between others' checkouts (every tenth: reads share
                # PostgreSQL's pool with the checkouts): no moment may show a negative count,
                # or units that appeared or vanished.
                observed.append((await inventory.stock_levels(tenant_id, [PRODUCT]))[PRODUCT])
            return reservation

        results = await asyncio.gather(*(checkout(n) for n in range(200)))

        won = [r for r in results if r is not None]
        assert len(won) == 10
        assert len({r.id for r in won}) == 10
        assert await inventory.stock_levels(tenant_id, [PRODUCT]) == {
            PRODUCT: StockLevel(PRODUCT, 0, 10, 0)
        }
        assert await held_units(database, tenant_id, PRODUCT) == 10
        assert len(observed) == 20
        for level in observed:
            assert level.available >= 0
            assert level.available + level.reserved + level.sold == 10

    async def test_checkouts_of_several_products_neither_oversell_nor_deadlock(
        self,
        database: Database,
        inventory: InventoryService,
        clock: ManualClock,
        tenant_id: int,
    ) -> None:
        # Lines arrive in both orders; the ledger takes stock rows in product order, so two
        # checkouts never each hold the row the other waits for (PostgreSQL would abort one
        # with a deadlock error, which would fail this test).
        await inventory.set_available(tenant_id, 1, 20)
        await inventory.set_available(tenant_id, 2, 20)
        both_ways = [
            [ReservationLine(1, 1), ReservationLine(2, 1)],
            [ReservationLine(2, 1), ReservationLine(1, 1)],
        ]
        results = await asyncio.gather(
            *(
                reserve_alone(database, tenant_id, both_ways[n % 2], clock.utcnow())
                for n in range(60)
            )
        )
        assert sum(r is not None for r in results) == 20
        assert await inventory.stock_levels(tenant_id, [1, 2]) == {
            1: StockLevel(1, 0, 20, 0),
            2: StockLevel(2, 0, 20, 0),
        }

    async def test_the_database_itself_refuses_a_negative_count(
        self, database: Database, inventory: InventoryService, tenant_id: int
    ) -> None:
        await inventory.set_available(tenant_id, PRODUCT, 1)
        for column in ("available", "reserved", "sold"):
            with pytest.raises(IntegrityError):
                async with database.sessions() as session, session.begin():
                    await session.execute(
                        update(stock)
                        .where(stock.c.tenant_id == tenant_id)
                        .values({column: stock.c[column] - 2})
                    )


class TestNoLostUpdate:
    async def test_a_stock_update_behind_an_open_reservation_keeps_its_reserved_units(
        self,
        database: Database,
        inventory: InventoryService,
        clock: ManualClock,
        tenant_id: int,
    ) -> None:
        await inventory.set_available(tenant_id, PRODUCT, 10)
        async with database.sessions() as session, session.begin():
            await SqlStockLedger(session).reserve(
                tenant_id,
                new_id(),
                one(quantity=3),
                expires_at=clock.utcnow() + timedelta(minutes=15),
                now=clock.utcnow(),
            )
            # The merchant's update starts while the hold is uncommitted: it waits for the
            # row lock (PostgreSQL) or the writer (SQLite), then writes ``available`` only.
            merchant = asyncio.create_task(inventory.set_available(tenant_id, PRODUCT, 50))
            await session.execute(text("SELECT 1"))
        assert await merchant == StockLevel(PRODUCT, 50, 3, 0)
        assert await inventory.stock_levels(tenant_id, [PRODUCT]) == {
            PRODUCT: StockLevel(PRODUCT, 50, 3, 0)
        }

    async def test_a_reservation_behind_an_open_stock_update_sees_the_new_count(
        self,
        database: Database,
        inventory: InventoryService,
        clock: ManualClock,
        tenant_id: int,
    ) -> None:
        await inventory.set_available(tenant_id, PRODUCT, 0)
        async with database.sessions() as session, session.begin():
            await SqlStockRepository(session).set_available(
                tenant_id, PRODUCT, 5, now=clock.utcnow()
            )
            # On PostgreSQL the waiting UPDATE re-checks ``available >= 2`` on the row the
            # merchant commits, not on the 0 it saw first.
            checkout = asyncio.create_task(
                reserve_alone(database, tenant_id, one(quantity=2), clock.utcnow())
            )
            await session.execute(text("SELECT 1"))
        assert await checkout is not None
        assert await inventory.stock_levels(tenant_id, [PRODUCT]) == {
            PRODUCT: StockLevel(PRODUCT, 3, 2, 0)
        }

    async def test_interleaved_stock_updates_and_checkouts_lose_no_held_unit(
        self,
        database: Database,
        inventory: InventoryService,
        clock: ManualClock,
        tenant_id: int,
    ) -> None:
        await inventory.set_available(tenant_id, PRODUCT, 100)
        work = [reserve_alone(database, tenant_id, one(), clock.utcnow()) for _ in range(40)]
        work += [inventory.set_available(tenant_id, PRODUCT, 100) for _ in range(10)]
        random.Random(5).shuffle(work)
        results = await asyncio.gather(*work)

        held = [r for r in results if not isinstance(r, StockLevel)]
        assert all(r is not None for r in held)
        level = (await inventory.stock_levels(tenant_id, [PRODUCT]))[PRODUCT]
        assert (level.reserved, level.sold) == (40, 0)
        assert await held_units(database, tenant_id, PRODUCT) == 40
        assert 60 <= level.available <= 100


class TestOneDecisionPerReservation:
    async def test_a_release_racing_a_commit_decides_once(
        self,
        database: Database,
        inventory: InventoryService,
        clock: ManualClock,
        tenant_id: int,
    ) -> None:
        await inventory.set_available(tenant_id, PRODUCT, 20)
        held = [await reserve_alone(database, tenant_id, one(), clock.utcnow()) for _ in range(10)]
        now = clock.utcnow()
        outcomes = await asyncio.gather(
            *(
                asyncio.gather(
                    release_alone(database, tenant_id, r.id, now),
                    commit_alone(database, tenant_id, r.id, now),
                )
                for r in held
                if r is not None
            )
        )
        assert all(released != committed for released, committed in outcomes)
        sold = sum(committed for _, committed in outcomes)
        assert await inventory.stock_levels(tenant_id, [PRODUCT]) == {
            PRODUCT: StockLevel(PRODUCT, 20 - sold, 0, sold)
        }

    async def test_the_expiry_job_racing_commits_never_takes_sold_units_back(
        self,
        database: Database,
        inventory: InventoryService,
        clock: ManualClock,
        tenant_id: int,
    ) -> None:
        await inventory.set_available(tenant_id, PRODUCT, 20)
        held = [
            await reserve_alone(
                database, tenant_id, one(), clock.utcnow(), ttl=timedelta(minutes=1)
            )
            for _ in range(10)
        ]
        ids = [r.id for r in held if r is not None]
        clock.advance(120)
        now = clock.utcnow()
        _, *committed = await asyncio.gather(
            inventory.expire_reservations(),
            *(commit_alone(database, tenant_id, rid, now) for rid in ids),
        )
        for rid, won in zip(ids, committed, strict=True):
            reservation = await inventory.reservation(tenant_id, rid)
            assert reservation is not None
            expected = ReservationStatus.COMMITTED if won else ReservationStatus.EXPIRED
            assert reservation.status is expected
        sold = sum(committed)
        assert await inventory.stock_levels(tenant_id, [PRODUCT]) == {
            PRODUCT: StockLevel(PRODUCT, 20 - sold, 0, sold)
        }
