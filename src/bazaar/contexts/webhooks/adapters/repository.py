"""SQLAlchemy repositories and the unit of work of the webhooks context.

Every statement a merchant's request causes filters by ``tenant_id`` (capabilities §2.5);
the dispatcher's statements act on the rows it claimed, by id. Counting an endpoint's
failures is one ``UPDATE … RETURNING`` (atomic on both engines), so concurrent attempts
never lose a count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.contexts.webhooks.adapters.tables import (
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
)
from bazaar.contexts.webhooks.application.unit_of_work import DueDelivery, EndpointStreak
from bazaar.contexts.webhooks.domain.model import (
    DeliveryAttempt,
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from bazaar.contexts.webhooks.domain.policy import NextStep
from bazaar.infra.db import SqlAlchemyUnitOfWork
from bazaar.infra.db.types import UtcDateTime
from bazaar.kernel.domain import DomainEvent
from bazaar.kernel.sql import insert_for, rowcount

__all__ = [
    "SqlDeliveryRepository",
    "SqlEndpointRepository",
    "SqlWebhooksUnitOfWork",
    "attempt_from_row",
    "delivery_from_row",
    "endpoint_from_row",
]

_WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)
_REPLAYABLE = (DeliveryStatus.FAILED.value, DeliveryStatus.ABANDONED.value)
_FINAL = (DeliveryStatus.SUCCEEDED.value, DeliveryStatus.ABANDONED.value)


def endpoint_from_row(row: Row[Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id,
        tenant_id=row.tenant_id,
        url=row.url,
        event_types=tuple(orjson.loads(row.event_types)),
        secret=row.secret,
        status=EndpointStatus(row.status),
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        consecutive_failures=row.consecutive_failures,
        failing_since=row.failing_since,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def attempt_from_row(row: Row[Any]) -> DeliveryAttempt:
    return DeliveryAttempt(
        number=row.number,
        at=row.attempted_at,
        duration_ms=row.duration_ms,
        status_code=row.status_code,
        error=row.error,
    )


def delivery_from_row(
    row: Row[Any], attempts_log: tuple[DeliveryAttempt, ...] = ()
) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id,
        tenant_id=row.tenant_id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        event_type=row.event_type,
        payload=bytes(row.payload),
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        attempts_log=attempts_log,
    )


class SqlEndpointRepository:
    """Repository pattern over ``webhook_endpoints``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, endpoint: WebhookEndpoint) -> None:
        await self._session.execute(
            insert(webhook_endpoints).values(
                id=endpoint.id,
                tenant_id=endpoint.tenant_id,
                url=endpoint.url,
                event_types=orjson.dumps(list(endpoint.event_types)).decode(),
                secret=endpoint.secret,
                status=endpoint.status.value,
                disabled_reason=endpoint.disabled_reason,
                disabled_at=endpoint.disabled_at,
                consecutive_failures=endpoint.consecutive_failures,
                failing_since=endpoint.failing_since,
                created_at=endpoint.created_at,
                updated_at=endpoint.updated_at,
            )
        )

    async def get(self, tenant_id: int, endpoint_id: int) -> WebhookEndpoint | None:
        t = webhook_endpoints
        query = select(t).where(t.c.tenant_id == tenant_id, t.c.id == endpoint_id)
        row = (await self._session.execute(query)).first()
        return None if row is None else endpoint_from_row(row)

    async def active_for(self, tenant_id: int) -> list[WebhookEndpoint]:
        t = webhook_endpoints
        query = (
            select(t)
            .where(t.c.tenant_id == tenant_id, t.c.status == EndpointStatus.ACTIVE.value)
            .order_by(t.c.id)
        )
        return [endpoint_from_row(row) for row in await self._session.execute(query)]

    async def delete(self, tenant_id: int, endpoint_id: int) -> bool:
        e, d, a = webhook_endpoints, webhook_deliveries, webhook_delivery_attempts
        owned = select(e.c.id).where(e.c.tenant_id == tenant_id, e.c.id == endpoint_id)
        deliveries = select(d.c.id).where(d.c.endpoint_id == endpoint_id)
        postgres = self._session.get_bind().dialect.name == "postgresql"
        # PostgreSQL: lock the endpoint, then its deliveries (the order the dispatcher
        # records an attempt in), so an attempt recorded meanwhile waits for this delete and
        # finds its rows gone instead of adding an attempt row the foreign key would refuse.
        if (
            await self._session.execute(owned.with_for_update() if postgres else owned)
        ).first() is None:
            return False
        if postgres:
            await self._session.execute(deliveries.with_for_update())
        await self._session.execute(delete(a).where(a.c.delivery_id.in_(deliveries)))
        await self._session.execute(delete(d).where(d.c.endpoint_id == endpoint_id))
        result = await self._session.execute(
            delete(e).where(e.c.tenant_id == tenant_id, e.c.id == endpoint_id)
        )
        return rowcount(result) == 1

    async def enable(self, tenant_id: int, endpoint_id: int, at: datetime) -> bool:
        e, d = webhook_endpoints, webhook_deliveries
        result = await self._session.execute(
            update(e)
            .where(e.c.tenant_id == tenant_id, e.c.id == endpoint_id)
            .values(
                status=EndpointStatus.ACTIVE.value,
                disabled_reason=None,
                disabled_at=None,
                consecutive_failures=0,
                failing_since=None,
                updated_at=at,
            )
        )
        if rowcount(result) != 1:
            return False
        # The deliveries that waited while it was disabled are due again, now.
        await self._session.execute(
            update(d)
            .where(
                d.c.endpoint_id == endpoint_id,
                d.c.status.in_(_WAITING),
                d.c.next_attempt_at.is_(None),
            )
            .values(next_attempt_at=at)
        )
        return True

    async def record_success(self, endpoint_id: int) -> None:
        e = webhook_endpoints
        await self._session.execute(
            update(e)
            .where(e.c.id == endpoint_id, e.c.consecutive_failures != 0)
            .values(consecutive_failures=0, failing_since=None)
        )

    async def record_failure(self, endpoint_id: int, at: datetime) -> EndpointStreak | None:
        e = webhook_endpoints
        result = await self._session.execute(
            update(e)
            .where(e.c.id == endpoint_id)
            .values(
                consecutive_failures=e.c.consecutive_failures + 1,
                failing_since=func.coalesce(e.c.failing_since, literal(at, UtcDateTime())),
            )
            .returning(e.c.status, e.c.consecutive_failures, e.c.failing_since)
        )
        row = result.first()
        if row is None:
            return None
        return EndpointStreak(
            EndpointStatus(row.status), row.consecutive_failures, row.failing_since
        )

    async def disable(self, endpoint_id: int, reason: str, at: datetime) -> bool:
        e, d = webhook_endpoints, webhook_deliveries
        result = await self._session.execute(
            update(e)
            .where(e.c.id == endpoint_id, e.c.status == EndpointStatus.ACTIVE.value)
            .values(
                status=EndpointStatus.DISABLED.value,
                disabled_reason=reason[:300],
                disabled_at=at,
                updated_at=at,
            )
        )
        if rowcount(result) != 1:
            return False
        # Its waiting deliveries leave the dispatcher's index until ``enable``.
        await self._session.execute(
            update(d)
            .where(d.c.endpoint_id == endpoint_id, d.c.status.in_(_WAITING))
            .values(next_attempt_at=None)
        )
        return True


class SqlDeliveryRepository:
    """Repository pattern over ``webhook_deliveries`` and their attempts."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, delivery: WebhookDelivery) -> bool:
        statement = (
            insert_for(self._session, webhook_deliveries)
            .values(
                id=delivery.id,
                tenant_id=delivery.tenant_id,
                endpoint_id=delivery.endpoint_id,
                event_id=delivery.event_id,
                event_type=delivery.event_type,
                payload=delivery.payload,
                status=delivery.status.value,
                attempts=delivery.attempts,
                last_status_code=delivery.last_status_code,
                last_error=delivery.last_error,
                next_attempt_at=delivery.next_attempt_at,
                created_at=delivery.created_at,
                delivered_at=delivery.delivered_at,
            )
            .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
        )
        return rowcount(await self._session.execute(statement)) == 1

    async def get(self, tenant_id: int, delivery_id: int) -> WebhookDelivery | None:
        d = webhook_deliveries
        query = select(d).where(d.c.tenant_id == tenant_id, d.c.id == delivery_id)
        row = (await self._session.execute(query)).first()
        return None if row is None else delivery_from_row(row)

    async def claim_due(self, now: datetime, hold_until: datetime, limit: int) -> list[DueDelivery]:
        d, e = webhook_deliveries, webhook_endpoints
        query = (
            select(
                d.c.id,
                d.c.tenant_id,
                d.c.endpoint_id,
                d.c.event_id,
                d.c.event_type,
                d.c.payload,
                d.c.attempts,
                e.c.url,
                e.c.secret,
            )
            .select_from(d.join(e, d.c.endpoint_id == e.c.id))
            .where(d.c.next_attempt_at <= now, e.c.status == EndpointStatus.ACTIVE.value)
            .order_by(d.c.next_attempt_at)
            .limit(limit)
        )
        if self._session.get_bind().dialect.name == "postgresql":
            # A dispatcher overlapping during a lease hand-over skips rows another is
            # claiming instead of waiting for them or claiming them twice.
            query = query.with_for_update(skip_locked=True, of=d)
        rows = (await self._session.execute(query)).all()
        if not rows:
            return []
        await self._session.execute(
            update(d).where(d.c.id.in_([row.id for row in rows])).values(next_attempt_at=hold_until)
        )
        return [
            DueDelivery(
                id=row.id,
                tenant_id=row.tenant_id,
                endpoint_id=row.endpoint_id,
                event_id=row.event_id,
                event_type=row.event_type,
                payload=bytes(row.payload),
                attempts=row.attempts,
                url=row.url,
                secret=row.secret,
            )
            for row in rows
        ]

    async def record_attempt(
        self, delivery_id: int, attempt: DeliveryAttempt, step: NextStep
    ) -> bool:
        d, a = webhook_deliveries, webhook_delivery_attempts
        values: dict[str, Any] = {
            "status": step.status.value,
            "attempts": attempt.number,
            "last_status_code": attempt.status_code,
            "last_error": attempt.error,
            "next_attempt_at": step.next_attempt_at,
        }
        if step.status is DeliveryStatus.SUCCEEDED:
            values["delivered_at"] = attempt.at
        # The delivery first: its row lock orders this against a concurrent delete.
        result = await self._session.execute(update(d).where(d.c.id == delivery_id).values(values))
        if rowcount(result) != 1:
            return False
        await self._session.execute(
            insert_for(self._session, a)
            .values(
                delivery_id=delivery_id,
                number=attempt.number,
                attempted_at=attempt.at,
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
            )
            .on_conflict_do_nothing(index_elements=["delivery_id", "number"])
        )
        return True

    async def purge_final(self, created_before: datetime) -> int:
        d, a = webhook_deliveries, webhook_delivery_attempts
        final = select(d.c.id).where(d.c.status.in_(_FINAL), d.c.created_at < created_before)
        await self._session.execute(delete(a).where(a.c.delivery_id.in_(final)))
        result = await self._session.execute(
            delete(d).where(d.c.status.in_(_FINAL), d.c.created_at < created_before)
        )
        return rowcount(result)

    async def replay(self, tenant_id: int, delivery_id: int, at: datetime) -> bool:
        d = webhook_deliveries
        result = await self._session.execute(
            update(d)
            .where(d.c.tenant_id == tenant_id, d.c.id == delivery_id, d.c.status.in_(_REPLAYABLE))
            .values(status=DeliveryStatus.PENDING.value, next_attempt_at=at)
        )
        return rowcount(result) == 1


class SqlWebhooksUnitOfWork(SqlAlchemyUnitOfWork[DomainEvent]):
    """Unit of Work over the webhooks repositories and the consumer inbox, on one transaction."""

    endpoints: SqlEndpointRepository
    deliveries: SqlDeliveryRepository

    def _open(self, session: AsyncSession) -> None:
        self.endpoints = SqlEndpointRepository(session)
        self.deliveries = SqlDeliveryRepository(session)
