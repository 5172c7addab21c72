"""Order reads on the read sessions (SQLite's read-only pool; a replica later), tenant-scoped.

A page is three statements whatever its size — orders, their lines, their sagas — never
one per order (capabilities §7.3).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.contexts.orders.adapters.repository import order_from_rows
from bazaar.contexts.orders.adapters.tables import idempotency_keys, order_lines, orders, sagas
from bazaar.contexts.orders.application.ports import OrderPage
from bazaar.contexts.orders.domain.model import Order
from bazaar.kernel.idempotency import Claim
from bazaar.kernel.idempotency.sqlalchemy import SqlIdempotencyRecords
from bazaar.kernel.saga import SagaRecord
from bazaar.kernel.saga.codec import record_of

__all__ = ["SqlOrdersReadModel", "orders_page"]


def orders_page(
    tenant_id: int, user_id: int | None, *, before: int | None, limit: int
) -> Select[Any]:
    """A page of orders, newest first: served by ``ix_orders_tenant_id_user_id_id`` for a
    customer and ``ix_orders_tenant_id_id`` for a merchant (ids are time-ordered)."""
    query = select(orders).where(orders.c.tenant_id == tenant_id)
    if user_id is not None:
        query = query.where(orders.c.user_id == user_id)
    if before is not None:
        query = query.where(orders.c.id < before)
    return query.order_by(orders.c.id.desc()).limit(limit)


class SqlOrdersReadModel:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, tenant_id: int, order_id: int) -> tuple[Order, SagaRecord | None] | None:
        async with self._sessions() as session:
            found = await self._assemble(
                session,
                (
                    await session.execute(
                        select(orders).where(
                            orders.c.tenant_id == tenant_id, orders.c.id == order_id
                        )
                    )
                ).all(),
            )
        return found[0] if found else None

    async def page(
        self, tenant_id: int, user_id: int | None, *, before: int | None, limit: int
    ) -> OrderPage:
        query = orders_page(tenant_id, user_id, before=before, limit=limit)
        async with self._sessions() as session:
            found = await self._assemble(session, (await session.execute(query)).all())
        next_after = found[-1][0].id if len(found) == limit else None
        return OrderPage(found, next_after)

    async def peek_key(self, scope: str, key: str, fingerprint: str, now: float) -> Claim:
        async with self._sessions() as session:
            return await SqlIdempotencyRecords(session, idempotency_keys).peek(
                scope, key, fingerprint, now
            )

    async def _assemble(
        self, session: AsyncSession, rows: Sequence[Any]
    ) -> list[tuple[Order, SagaRecord | None]]:
        if not rows:
            return []
        ids = [row.id for row in rows]
        lines: dict[int, list[Any]] = defaultdict(list)
        for line in (
            await session.execute(
                select(order_lines)
                .where(order_lines.c.order_id.in_(ids))
                .order_by(order_lines.c.order_id, order_lines.c.line_no)
            )
        ).all():
            lines[line.order_id].append(line)
        saga_rows = (await session.execute(select(sagas).where(sagas.c.id.in_(ids)))).mappings()
        by_id = {int(row["id"]): record_of(row) for row in saga_rows}
        return [(order_from_rows(row, lines[row.id]), by_id.get(row.id)) for row in rows]
