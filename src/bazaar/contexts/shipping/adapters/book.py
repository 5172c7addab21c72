"""``SqlShipmentBook`` on the caller's session, and the shipping unit of work."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.contexts.shipping.adapters.tables import shipments
from bazaar.contexts.shipping.domain.events import (
    ShipmentCancelled,
    ShipmentCreated,
    ShippingEvent,
)
from bazaar.contexts.shipping.domain.model import (
    Shipment,
    ShipmentStatus,
    may_cancel,
    require_aware,
)
from bazaar.infra.db import SqlAlchemyUnitOfWork
from bazaar.kernel.sql import insert_for, rowcount

__all__ = ["SqlShipmentBook", "SqlShippingUnitOfWork", "shipment_from_row"]


def shipment_from_row(row: Row[Any]) -> Shipment:
    return Shipment(
        id=row.id,
        tenant_id=row.tenant_id,
        order_id=row.order_id,
        status=ShipmentStatus(row.status),
        address=row.address,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlShipmentBook:
    """``ShipmentBook`` (and the service's ``ShipmentRepository``) over ``shipments``.

    It executes on the session it was given; the caller commits or rolls back. Every
    statement is tenant-scoped; cancelling is conditional on ``status = 'created'``, so a
    cancel racing a status update cannot undo a dispatch.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(
        self,
        tenant_id: int,
        shipment_id: int,
        order_id: int,
        address: Mapping[str, str],
        *,
        now: datetime,
    ) -> tuple[Shipment, list[ShippingEvent]]:
        now = require_aware("now", now)
        shipment = Shipment(
            id=shipment_id,
            tenant_id=tenant_id,
            order_id=order_id,
            status=ShipmentStatus.CREATED,
            address=address,
            created_at=now,
            updated_at=now,
        )
        # Conflicts on the order only: a reused shipment id is a caller's bug and fails.
        statement = (
            insert_for(self._session, shipments)
            .values(
                id=shipment.id,
                tenant_id=tenant_id,
                order_id=order_id,
                status=shipment.status.value,
                address=dict(shipment.address),
                created_at=shipment.created_at,
                updated_at=shipment.updated_at,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "order_id"])
        )
        if rowcount(await self._session.execute(statement)) == 0:
            existing = await self.for_order(tenant_id, order_id)
            assert existing is not None  # the conflicting row; rows are never deleted
            return existing, []
        created = ShipmentCreated(
            id=shipment_id,
            occurred_at=shipment.created_at,
            tenant_id=tenant_id,
            shipment_id=shipment_id,
            order_id=order_id,
        )
        return shipment, [created]

    async def cancel(
        self, tenant_id: int, order_id: int, *, now: datetime, event_id: int
    ) -> tuple[Shipment | None, list[ShippingEvent]]:
        now = require_aware("now", now)
        s = shipments
        statement = (
            update(s)
            .where(
                s.c.tenant_id == tenant_id,
                s.c.order_id == order_id,
                s.c.status == ShipmentStatus.CREATED.value,
            )
            .values(status=ShipmentStatus.CANCELLED.value, updated_at=now)
            .returning(*s.c)
        )
        row = (await self._session.execute(statement)).first()
        if row is None:
            existing = await self.for_order(tenant_id, order_id)
            if existing is not None:
                may_cancel(existing)  # raises when it was dispatched
            return existing, []
        shipment = shipment_from_row(row)
        cancelled = ShipmentCancelled(
            id=event_id,
            occurred_at=shipment.updated_at,
            tenant_id=tenant_id,
            shipment_id=shipment.id,
            order_id=order_id,
        )
        return shipment, [cancelled]

    async def for_order(self, tenant_id: int, order_id: int) -> Shipment | None:
        s = shipments
        query = select(s).where(s.c.tenant_id == tenant_id, s.c.order_id == order_id)
        row = (await self._session.execute(query)).first()
        return None if row is None else shipment_from_row(row)

    async def lock(self, tenant_id: int, shipment_id: int) -> Shipment | None:
        s = shipments
        # FOR UPDATE on PostgreSQL; SQLite renders none (its writer holds the database lock).
        query = select(s).where(s.c.tenant_id == tenant_id, s.c.id == shipment_id).with_for_update()
        row = (await self._session.execute(query)).first()
        return None if row is None else shipment_from_row(row)

    async def set_status(
        self, tenant_id: int, shipment_id: int, status: ShipmentStatus, *, now: datetime
    ) -> Shipment:
        now = require_aware("now", now)
        s = shipments
        statement = (
            update(s)
            .where(s.c.tenant_id == tenant_id, s.c.id == shipment_id)
            .values(status=status.value, updated_at=now)
            .returning(*s.c)
        )
        return shipment_from_row((await self._session.execute(statement)).one())


class SqlShippingUnitOfWork(SqlAlchemyUnitOfWork[ShippingEvent]):
    """Unit of Work over the shipments; commit writes the raised events to the outbox."""

    shipments: SqlShipmentBook

    def _open(self, session: AsyncSession) -> None:
        self.shipments = SqlShipmentBook(session)
