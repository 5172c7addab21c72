"""Stock administration and the expiry job in SQL, and the inventory unit of work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.contexts.inventory.adapters.ledger import SqlStockLedger, shift_stock
from bazaar.contexts.inventory.adapters.tables import (
    stock,
    stock_reservation_lines,
    stock_reservations,
)
from bazaar.contexts.inventory.domain.model import ReservationStatus, StockLevel
from bazaar.infra.db import SqlAlchemyUnitOfWork
from bazaar.kernel.domain import DomainEvent
from bazaar.kernel.sql import insert_for

__all__ = ["SqlInventoryUnitOfWork", "SqlStockRepository", "overdue_holds"]

_HELD = ReservationStatus.HELD.value


def overdue_holds(now: datetime, limit: int) -> Select[tuple[int]]:
    """Ids of up to ``limit`` held reservations due at ``now``, oldest deadline first
    (served by ``ix_stock_reservations_status_expires_at``)."""
    r = stock_reservations
    # SKIP LOCKED (PostgreSQL; SQLite has one writer and renders no FOR UPDATE): a
    # reservation being committed or released right now is theirs to decide, and a
    # second expiry run takes other rows instead of waiting.
    return (
        select(r.c.id)
        .where(r.c.status == _HELD, r.c.expires_at <= now)
        .order_by(r.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


class SqlStockRepository:
    """Repository pattern over ``stock`` for the merchant and the expiry job."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def set_available(
        self, tenant_id: int, product_id: int, available: int, *, now: datetime
    ) -> StockLevel:
        # One upsert that writes ``available`` alone: a reservation committed meanwhile keeps
        # its ``reserved`` units (no read-modify-write of the row, so no lost update).
        statement = insert_for(self._session, stock).values(
            tenant_id=tenant_id,
            product_id=product_id,
            available=available,
            reserved=0,
            sold=0,
            updated_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "product_id"],
            set_={"available": statement.excluded.available, "updated_at": now},
        )
        row = (
            await self._session.execute(
                statement.returning(stock.c.available, stock.c.reserved, stock.c.sold)
            )
        ).one()
        return StockLevel(product_id, row.available, row.reserved, row.sold)

    async def expire_held(self, now: datetime, *, limit: int) -> int:
        r, lines = stock_reservations, stock_reservation_lines
        candidates = list((await self._session.execute(overdue_holds(now, limit))).scalars())
        if not candidates:
            return 0
        # The status check is repeated in the UPDATE: only what is still held expires.
        expired = (
            await self._session.execute(
                update(r)
                .where(r.c.id.in_(candidates), r.c.status == _HELD)
                .values(status=ReservationStatus.EXPIRED.value, updated_at=now)
                .returning(r.c.id, r.c.tenant_id)
            )
        ).all()
        if not expired:
            return 0
        tenant_of = {row.id: row.tenant_id for row in expired}
        held = (
            await self._session.execute(
                select(lines.c.reservation_id, lines.c.product_id, lines.c.quantity).where(
                    lines.c.reservation_id.in_(list(tenant_of))
                )
            )
        ).all()
        # One update per product, summed over the reservations: fewer statements, and
        # taken in (tenant, product) order like every other writer of ``stock``.
        give_back: dict[tuple[int, int], int] = {}
        for line in held:
            key = (tenant_of[line.reservation_id], line.product_id)
            give_back[key] = give_back.get(key, 0) + line.quantity
        await shift_stock(self._session, give_back, available=+1, reserved=-1, sold=0, now=now)
        return len(expired)


class SqlInventoryUnitOfWork(SqlAlchemyUnitOfWork[DomainEvent]):
    """Unit of Work over the stock ledger and the stock repository, on one transaction."""

    ledger: SqlStockLedger
    stock: SqlStockRepository

    def _open(self, session: AsyncSession) -> None:
        self.ledger = SqlStockLedger(session)
        self.stock = SqlStockRepository(session)
