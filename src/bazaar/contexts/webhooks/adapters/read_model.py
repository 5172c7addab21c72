"""Webhook reads on the read sessions (SQLite's read-only pool; a replica later), tenant-scoped."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.contexts.webhooks.adapters.repository import (
    attempt_from_row,
    delivery_from_row,
    endpoint_from_row,
)
from bazaar.contexts.webhooks.adapters.tables import (
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
)
from bazaar.contexts.webhooks.domain.model import DeliveryAttempt, WebhookDelivery, WebhookEndpoint

__all__ = ["SqlWebhooksReadModel"]


class SqlWebhooksReadModel:
    """Reads that never take the write lock (on SQLite the writer's BEGIN IMMEDIATE would)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get_endpoint(self, tenant_id: int, endpoint_id: int) -> WebhookEndpoint | None:
        e = webhook_endpoints
        query = select(e).where(e.c.tenant_id == tenant_id, e.c.id == endpoint_id)
        async with self._sessions() as session:
            row = (await session.execute(query)).first()
        return None if row is None else endpoint_from_row(row)

    async def list_endpoints(
        self, tenant_id: int, *, limit: int, before_id: int | None = None
    ) -> list[WebhookEndpoint]:
        e = webhook_endpoints
        query = select(e).where(e.c.tenant_id == tenant_id).order_by(e.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(e.c.id < before_id)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [endpoint_from_row(row) for row in rows]

    async def get_delivery(
        self, tenant_id: int, endpoint_id: int, delivery_id: int
    ) -> WebhookDelivery | None:
        d = webhook_deliveries
        query = select(d).where(
            d.c.tenant_id == tenant_id, d.c.endpoint_id == endpoint_id, d.c.id == delivery_id
        )
        found = await self._with_attempts(query)
        return found[0] if found else None

    async def list_deliveries(
        self, tenant_id: int, endpoint_id: int, *, limit: int, before_id: int | None = None
    ) -> list[WebhookDelivery]:
        d = webhook_deliveries
        query = (
            select(d)
            .where(d.c.tenant_id == tenant_id, d.c.endpoint_id == endpoint_id)
            .order_by(d.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(d.c.id < before_id)
        return await self._with_attempts(query)

    async def _with_attempts(self, deliveries: Select[Any]) -> list[WebhookDelivery]:
        """The deliveries ``deliveries`` selects, newest first, each with its attempt log.

        One statement, not two: the dispatcher changes a delivery's status and adds its
        attempt in one transaction, and two SELECTs can straddle that commit (each statement
        reads its own snapshot on SQLite's readers and under PostgreSQL's READ COMMITTED),
        showing a 200 attempt under a delivery still marked failed.
        """
        chosen = deliveries.subquery()
        a = webhook_delivery_attempts
        query = (
            select(
                chosen, a.c.number, a.c.attempted_at, a.c.status_code, a.c.error, a.c.duration_ms
            )
            .outerjoin(a, a.c.delivery_id == chosen.c.id)
            .order_by(chosen.c.id.desc(), a.c.number)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        firsts: dict[int, Row[Any]] = {}
        logs: defaultdict[int, list[DeliveryAttempt]] = defaultdict(list)
        for row in rows:
            firsts.setdefault(row.id, row)
            if row.number is not None:  # a delivery not yet attempted joins no attempt
                logs[row.id].append(attempt_from_row(row))
        return [delivery_from_row(row, tuple(logs[key])) for key, row in firsts.items()]
