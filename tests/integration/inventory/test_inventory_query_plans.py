"""Inventory's hot reads on real engines: a page's stock is one statement, and the expiry
job's query is served by its index on a realistic number of reservations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from inventory_integration_support import new_id
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bazaar.contexts.inventory import InventoryService, ReservationStatus, StockLevel
from bazaar.contexts.inventory.adapters.repository import overdue_holds
from bazaar.contexts.inventory.adapters.tables import stock_reservations
from bazaar.infra.db import Database

EXPIRY_INDEX = "ix_stock_reservations_status_expires_at"


@contextmanager
def statements_on(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


class TestStockOfAPage:
    async def test_sixty_products_cost_one_statement(
        self, database: Database, inventory: InventoryService, tenant_id: int
    ) -> None:
        for product_id in range(1, 41):
            await inventory.set_available(tenant_id, product_id, product_id)
        with statements_on(database.read_engine) as seen:
            levels = await inventory.stock_levels(tenant_id, list(range(1, 61)))
        assert len([s for s in seen if "stock" in s]) == 1
        assert levels[7] == StockLevel(7, 7, 0, 0)
        assert levels[55] == StockLevel(55, 0, 0, 0)
        assert list(levels) == list(range(1, 61))


class TestExpiryQueryPlan:
    async def test_the_expiry_job_reads_through_its_index(self, database: Database) -> None:
        # Mostly finished reservations, as in a live system, and a few held ones far in the
        # future (no other test's expiry job will reach them).
        tenant_id, now = new_id(), datetime(2030, 1, 1, tzinfo=UTC)
        final = [ReservationStatus.COMMITTED, ReservationStatus.EXPIRED, ReservationStatus.RELEASED]
        rows = [
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "status": (ReservationStatus.HELD if n % 100 == 0 else final[n % 3]).value,
                "expires_at": now + timedelta(days=36_500, seconds=n),
                "created_at": now,
                "updated_at": now,
            }
            for n in range(3000)
        ]
        async with database.sessions() as session, session.begin():
            await session.execute(insert(stock_reservations), rows)
        compiled = overdue_holds(now, 500).compile(
            dialect=database.engine.dialect, compile_kwargs={"literal_binds": True}
        )
        async with database.engine.connect() as conn:
            await conn.execute(text("ANALYZE stock_reservations"))
            if database.dialect == "sqlite":
                plan = (await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))).all()
                detail = " ".join(str(row[-1]) for row in plan)
            else:
                plan = (await conn.execute(text(f"EXPLAIN {compiled}"))).all()
                detail = " ".join(str(row[0]) for row in plan)
            await conn.rollback()
        assert EXPIRY_INDEX in detail, detail
