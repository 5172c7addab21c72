"""``SqlStockLedger``: reservations as conditional UPDATEs inside the caller's transaction.

Why conditional updates (docs/decisions/0005-inventory-concurrency.md): each unit moves with
one ``UPDATE stock SET available = available - q ... WHERE available >= q``. The database
checks and writes in one step, so no reader can act on a stale count:

- PostgreSQL (READ COMMITTED) takes the row lock for the UPDATE alone; a second writer waits
  for it and then re-evaluates the WHERE clause on the row the first one committed
  (https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED), so the
  last unit goes to exactly one checkout. No SELECT ... FOR UPDATE round trip, no retries.
- SQLite has one writer at a time (every write transaction begins IMMEDIATE, decision 0001),
  so the same statement runs serialized.

A version column would turn contention into retries (every loser re-reads and tries again);
the conditional update makes a loser simply find ``rowcount == 0``: out of stock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.contexts.inventory.adapters.tables import (
    stock,
    stock_reservation_lines,
    stock_reservations,
)
from bazaar.contexts.inventory.domain.errors import (
    OutOfStockError,
    ReservationIdConflictError,
    ReservationNotFoundError,
    ReservationNotHeldError,
)
from bazaar.contexts.inventory.domain.model import (
    Reservation,
    ReservationLine,
    ReservationStatus,
    merge_lines,
    require_aware,
)
from bazaar.kernel.sql import insert_for, rowcount

__all__ = ["SqlStockLedger", "load_reservation", "reservation_from_rows", "shift_stock"]

_HELD = ReservationStatus.HELD.value


def reservation_from_rows(row: Row[Any], lines: tuple[ReservationLine, ...]) -> Reservation:
    return Reservation(
        id=row.id,
        tenant_id=row.tenant_id,
        lines=lines,
        status=ReservationStatus(row.status),
        expires_at=row.expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _lines_of(session: AsyncSession, reservation_id: int) -> tuple[ReservationLine, ...]:
    lines = stock_reservation_lines
    query = (
        select(lines.c.product_id, lines.c.quantity)
        .where(lines.c.reservation_id == reservation_id)
        .order_by(lines.c.product_id)
    )
    rows = (await session.execute(query)).all()
    return tuple(ReservationLine(row.product_id, row.quantity) for row in rows)


async def load_reservation(
    session: AsyncSession, tenant_id: int, reservation_id: int
) -> Reservation | None:
    r = stock_reservations
    query = select(r).where(r.c.tenant_id == tenant_id, r.c.id == reservation_id)
    row = (await session.execute(query)).first()
    if row is None:
        return None
    return reservation_from_rows(row, await _lines_of(session, reservation_id))


async def shift_stock(
    session: AsyncSession,
    quantities: Mapping[tuple[int, int], int],
    *,
    available: int,
    reserved: int,
    sold: int,
    now: datetime,
) -> None:
    """Move each ``(tenant_id, product_id)``'s quantity between buckets (signs say which way).

    Rows are updated in key order: every writer locks stock rows in the same order.
    """
    for (tenant_id, product_id), quantity in sorted(quantities.items()):
        await session.execute(
            update(stock)
            .where(stock.c.tenant_id == tenant_id, stock.c.product_id == product_id)
            .values(
                available=stock.c.available + available * quantity,
                reserved=stock.c.reserved + reserved * quantity,
                sold=stock.c.sold + sold * quantity,
                updated_at=now,
            )
        )


class SqlStockLedger:
    """``StockLedger`` on the caller's session: it executes, the caller commits or rolls back.

    Every statement is tenant-scoped; reservation status changes are conditional on
    ``status = 'held'`` so a release, a commit and the expiry job can race and exactly one
    of them wins.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def reserve(
        self,
        tenant_id: int,
        reservation_id: int,
        lines: Sequence[ReservationLine],
        *,
        expires_at: datetime,
        now: datetime,
    ) -> Reservation:
        merged = merge_lines(lines)
        expires_at = require_aware("expires_at", expires_at).astimezone(UTC)
        now = require_aware("now", now).astimezone(UTC)
        session = self._session
        # The reservation row first: a duplicate call (a resumed saga) stops here, and on
        # PostgreSQL a concurrent duplicate waits on the key until the first one ends.
        claimed = await session.execute(
            insert_for(session, stock_reservations)
            .values(
                id=reservation_id,
                tenant_id=tenant_id,
                status=_HELD,
                expires_at=expires_at,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
        if rowcount(claimed) == 0:
            existing = await load_reservation(session, tenant_id, reservation_id)
            if existing is None:
                raise ReservationIdConflictError(reservation_id)
            return existing
        for line in merged:  # sorted by product id: the lock order
            taken = await session.execute(
                update(stock)
                .where(
                    stock.c.tenant_id == tenant_id,
                    stock.c.product_id == line.product_id,
                    stock.c.available >= line.quantity,
                )
                .values(
                    available=stock.c.available - line.quantity,
                    reserved=stock.c.reserved + line.quantity,
                    updated_at=now,
                )
            )
            if rowcount(taken) == 0:
                # The caller rolls back, undoing the lines taken before this one.
                left = await self._available(tenant_id, line.product_id)
                raise OutOfStockError(line.product_id, line.quantity, left)
        await session.execute(
            insert(stock_reservation_lines),
            [
                {
                    "reservation_id": reservation_id,
                    "product_id": m.product_id,
                    "quantity": m.quantity,
                }
                for m in merged
            ],
        )
        return Reservation(
            id=reservation_id,
            tenant_id=tenant_id,
            lines=merged,
            status=ReservationStatus.HELD,
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
        )

    async def _available(self, tenant_id: int, product_id: int) -> int:
        query = select(stock.c.available).where(
            stock.c.tenant_id == tenant_id, stock.c.product_id == product_id
        )
        value = (await self._session.execute(query)).scalar()
        return int(value) if value is not None else 0

    async def _leave_held(
        self, tenant_id: int, reservation_id: int, status: ReservationStatus, now: datetime
    ) -> Row[Any] | None:
        """Move a held reservation to ``status``; its row, or None when it was not held."""
        r = stock_reservations
        statement = (
            update(r)
            .where(r.c.tenant_id == tenant_id, r.c.id == reservation_id, r.c.status == _HELD)
            .values(status=status.value, updated_at=now)
            .returning(*r.c)
        )
        return (await self._session.execute(statement)).first()

    async def release(self, tenant_id: int, reservation_id: int, *, now: datetime) -> bool:
        now = require_aware("now", now)
        row = await self._leave_held(tenant_id, reservation_id, ReservationStatus.RELEASED, now)
        if row is None:
            return False
        lines = await _lines_of(self._session, reservation_id)
        await shift_stock(
            self._session,
            {(tenant_id, line.product_id): line.quantity for line in lines},
            available=+1,
            reserved=-1,
            sold=0,
            now=now,
        )
        return True

    async def commit(self, tenant_id: int, reservation_id: int, *, now: datetime) -> Reservation:
        now = require_aware("now", now)
        row = await self._leave_held(tenant_id, reservation_id, ReservationStatus.COMMITTED, now)
        if row is None:
            existing = await load_reservation(self._session, tenant_id, reservation_id)
            if existing is None:
                raise ReservationNotFoundError(reservation_id)
            if existing.status is ReservationStatus.COMMITTED:
                return existing
            raise ReservationNotHeldError(reservation_id, existing.status)
        lines = await _lines_of(self._session, reservation_id)
        await shift_stock(
            self._session,
            {(tenant_id, line.product_id): line.quantity for line in lines},
            available=0,
            reserved=-1,
            sold=+1,
            now=now,
        )
        return reservation_from_rows(row, lines)

    async def get(self, tenant_id: int, reservation_id: int) -> Reservation | None:
        return await load_reservation(self._session, tenant_id, reservation_id)
