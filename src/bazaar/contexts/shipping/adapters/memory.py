"""In-memory shipping: the book and a unit of work over one shared ``InMemoryShippingState``
(unit tests; the fakes ship with the ports)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Self

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

__all__ = ["InMemoryShipmentBook", "InMemoryShippingState", "InMemoryShippingUnitOfWork"]


@dataclasses.dataclass
class InMemoryShippingState:
    """The committed state; ``outbox`` holds the events of committed units of work."""

    shipments: dict[int, Shipment] = dataclasses.field(default_factory=dict)
    outbox: list[ShippingEvent] = dataclasses.field(default_factory=list)

    def unit_of_work(self) -> InMemoryShippingUnitOfWork:
        return InMemoryShippingUnitOfWork(self)


class InMemoryShipmentBook:
    """``ShipmentBook`` (and ``ShipmentRepository``) over the shared state."""

    def __init__(self, state: InMemoryShippingState) -> None:
        self._state = state

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
        existing = await self.for_order(tenant_id, order_id)
        if existing is not None:
            return existing, []
        if shipment_id in self._state.shipments:
            raise ValueError(f"duplicate shipment id {shipment_id}")
        shipment = Shipment(
            id=shipment_id,
            tenant_id=tenant_id,
            order_id=order_id,
            status=ShipmentStatus.CREATED,
            address=address,
            created_at=now,
            updated_at=now,
        )
        self._state.shipments[shipment_id] = shipment
        created = ShipmentCreated(
            id=shipment_id,
            occurred_at=now,
            tenant_id=tenant_id,
            shipment_id=shipment_id,
            order_id=order_id,
        )
        return shipment, [created]

    async def cancel(
        self, tenant_id: int, order_id: int, *, now: datetime, event_id: int
    ) -> tuple[Shipment | None, list[ShippingEvent]]:
        now = require_aware("now", now)
        existing = await self.for_order(tenant_id, order_id)
        if existing is None or not may_cancel(existing):
            return existing, []
        cancelled = dataclasses.replace(existing, status=ShipmentStatus.CANCELLED, updated_at=now)
        self._state.shipments[cancelled.id] = cancelled
        event = ShipmentCancelled(
            id=event_id,
            occurred_at=cancelled.updated_at,
            tenant_id=tenant_id,
            shipment_id=cancelled.id,
            order_id=order_id,
        )
        return cancelled, [event]

    async def for_order(self, tenant_id: int, order_id: int) -> Shipment | None:
        return next(
            (
                s
                for s in self._state.shipments.values()
                if s.tenant_id == tenant_id and s.order_id == order_id
            ),
            None,
        )

    async def lock(self, tenant_id: int, shipment_id: int) -> Shipment | None:
        shipment = self._state.shipments.get(shipment_id)
        return shipment if shipment is not None and shipment.tenant_id == tenant_id else None

    async def set_status(
        self, tenant_id: int, shipment_id: int, status: ShipmentStatus, *, now: datetime
    ) -> Shipment:
        moved = dataclasses.replace(
            self._state.shipments[shipment_id], status=status, updated_at=require_aware("now", now)
        )
        self._state.shipments[shipment_id] = moved
        return moved


class InMemoryShippingUnitOfWork:
    """Works on the state directly; restores a snapshot unless ``commit()`` runs, and moves
    the raised events to ``state.outbox`` when it does."""

    def __init__(self, state: InMemoryShippingState) -> None:
        self._state = state
        self.events: list[ShippingEvent] = []
        self.committed = False
        self.shipments = InMemoryShipmentBook(state)
        self._snapshot: dict[int, Shipment] | None = None
        self._written = 0

    async def __aenter__(self) -> Self:
        self.committed = False
        self._snapshot = dict(self._state.shipments)  # values are frozen
        self._written = len(self.events)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.committed:
            await self.rollback()
        self._snapshot = None

    async def commit(self) -> None:
        self._state.outbox.extend(self.events[self._written :])
        self._written = len(self.events)
        self.committed = True

    async def rollback(self) -> None:
        if self._snapshot is not None:
            self._state.shipments = dict(self._snapshot)
        self._written = len(self.events)
