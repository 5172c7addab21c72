"""The orders' hot queries use their indexes on a realistic number of rows (§7.2).

Lists of a customer's and of a merchant's orders, newest first, and the sweep that looks for
sagas whose process died (it runs every two seconds in every API process).
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import ClauseElement, insert, text

from bazaar.contexts.orders.adapters.read_model import orders_page
from bazaar.contexts.orders.adapters.tables import orders, sagas
from bazaar.infra.db import Database
from bazaar.infra.db.engine import create_database
from bazaar.infra.db.migrate import upgrade
from bazaar.kernel.clock import ManualClock, utc_from_timestamp
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.saga.sqlalchemy import stale_sagas

ROWS = 6000
TENANTS = 6


@pytest.fixture
async def loaded(database_url: str) -> AsyncIterator[tuple[Database, list[int], int]]:
    """Orders of several tenants and customers, and their sagas (nearly all finished)."""
    database = create_database(database_url)
    await upgrade(database.engine)
    ids = SnowflakeGenerator(7, ManualClock(start=time.time()))
    rng = random.Random(5)
    tenants = [ids.next_id() for _ in range(TENANTS)]
    now = time.time()
    order_rows, saga_rows = [], []
    for n in range(ROWS):
        order_id = ids.next_id()
        order_rows.append(
            {
                "id": order_id,
                "tenant_id": tenants[n % TENANTS],
                "user_id": rng.randrange(1, 400),
                "status": "completed",
                "currency": "EUR",
                "total_minor": 999,
                "shipping_address": "{}",
                "created_at": utc_from_timestamp(now),
                "updated_at": utc_from_timestamp(now),
            }
        )
        running = n % 500 == 0
        saga_rows.append(
            {
                "id": order_id,
                "name": "checkout",
                "tenant_id": tenants[n % TENANTS],
                "state": "running" if running else "completed",
                "steps": "[]",
                "data": "{}",
                "version": 3,
                "owner": "elsewhere",
                "lease_until": now + 3600 if running else now - 60,
                "created_at": now,
                "updated_at": now,
            }
        )
    async with database.sessions() as session, session.begin():
        await session.execute(insert(orders), order_rows)
        await session.execute(insert(sagas), saga_rows)
    async with database.engine.connect() as conn:
        for table in ("orders", "sagas"):
            await conn.execute(text(f"ANALYZE {table}"))
        await conn.commit()
    try:
        yield database, tenants, int(order_rows[0]["user_id"])
    finally:
        await database.dispose()


async def _plan(database: Database, query: ClauseElement) -> str:
    compiled = query.compile(
        dialect=database.engine.dialect, compile_kwargs={"literal_binds": True}
    )
    async with database.engine.connect() as conn:
        if database.dialect == "sqlite":
            rows = (await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))).all()
            return " | ".join(str(row[-1]) for row in rows)
        rows = (await conn.execute(text(f"EXPLAIN {compiled}"))).all()
        return " | ".join(str(row[0]) for row in rows)


class TestOrderLists:
    async def test_a_customers_orders_are_read_through_their_index(
        self, loaded: tuple[Database, list[int], int]
    ) -> None:
        database, tenants, user_id = loaded

        plan = await _plan(database, orders_page(tenants[0], user_id, before=None, limit=20))

        assert "ix_orders_tenant_id_user_id_id" in plan, plan
        assert "TEMP B-TREE" not in plan.upper()  # no sort: the index is in id order

    async def test_a_merchants_orders_are_read_through_the_tenant_index(
        self, loaded: tuple[Database, list[int], int]
    ) -> None:
        database, tenants, _ = loaded

        plan = await _plan(database, orders_page(tenants[2], None, before=None, limit=20))

        assert "ix_orders_tenant_id_id" in plan, plan
        assert "TEMP B-TREE" not in plan.upper()


class TestSagaSweep:
    async def test_the_sweep_reads_through_the_state_and_lease_index(
        self, loaded: tuple[Database, list[int], int]
    ) -> None:
        database, _, _ = loaded

        plan = await _plan(database, stale_sagas(sagas, now=time.time(), limit=100))

        assert "ix_sagas_state_lease" in plan, plan
