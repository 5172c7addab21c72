"""Inventory reads on the read sessions (SQLite's read-only pool; a replica later)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.contexts.inventory.adapters.ledger import load_reservation
from bazaar.contexts.inventory.adapters.tables import stock
from bazaar.contexts.inventory.domain.model import Reservation, StockLevel

__all__ = ["SqlInventoryReadModel"]


class SqlInventoryReadModel:
    """Reads that never take the write lock (on SQLite the writer's BEGIN IMMEDIATE would)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def stock_levels(
        self, tenant_id: int, product_ids: Sequence[int]
    ) -> dict[int, StockLevel]:
        if not product_ids:
            return {}
        query = select(stock.c.product_id, stock.c.available, stock.c.reserved, stock.c.sold).where(
            stock.c.tenant_id == tenant_id, stock.c.product_id.in_(list(product_ids))
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return {
            row.product_id: StockLevel(row.product_id, row.available, row.reserved, row.sold)
            for row in rows
        }

    async def reservation(self, tenant_id: int, reservation_id: int) -> Reservation | None:
        async with self._sessions() as session:
            return await load_reservation(session, tenant_id, reservation_id)
