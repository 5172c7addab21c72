"""Payment reads on the read sessions (SQLite's read-only pool; a replica later), tenant-scoped."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.contexts.payments.adapters.repository import payment_from_row, refund_from_row
from bazaar.contexts.payments.adapters.tables import idempotency_keys, payments, refunds
from bazaar.contexts.payments.domain.model import Payment, Refund
from bazaar.kernel.idempotency import Claim
from bazaar.kernel.idempotency.sqlalchemy import SqlIdempotencyRecords

__all__ = ["SqlPaymentsReadModel"]


class SqlPaymentsReadModel:
    """Reads that never take the write lock (on SQLite the writer's BEGIN IMMEDIATE would)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get_payment(self, tenant_id: int, payment_id: int) -> Payment | None:
        query = select(payments).where(
            payments.c.tenant_id == tenant_id, payments.c.id == payment_id
        )
        async with self._sessions() as session:
            row = (await session.execute(query)).first()
        return None if row is None else payment_from_row(row)

    async def refunds_of(self, tenant_id: int, payment_id: int) -> list[Refund]:
        query = (
            select(refunds)
            .where(refunds.c.tenant_id == tenant_id, refunds.c.payment_id == payment_id)
            .order_by(refunds.c.created_at, refunds.c.id)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [refund_from_row(row) for row in rows]

    async def payment_for_order(self, tenant_id: int, order_id: int) -> Payment | None:
        query = (
            select(payments)
            .where(payments.c.tenant_id == tenant_id, payments.c.order_id == order_id)
            .order_by(payments.c.created_at.desc(), payments.c.id.desc())
            .limit(1)
        )
        async with self._sessions() as session:
            row = (await session.execute(query)).first()
        return None if row is None else payment_from_row(row)

    async def peek_key(self, scope: str, key: str, fingerprint: str, now: float) -> Claim:
        async with self._sessions() as session:
            return await SqlIdempotencyRecords(session, idempotency_keys).peek(
                scope, key, fingerprint, now
            )
