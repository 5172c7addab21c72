"""Ports of the shipping context: the saga participant ``ShipmentBook``, and what the
``ShippingService`` facade needs (its repository, unit of work and ids)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from bazaar.contexts.shipping.domain.events import ShippingEvent
from bazaar.contexts.shipping.domain.model import Shipment, ShipmentStatus
from bazaar.kernel.domain import UnitOfWork

__all__ = ["IdGenerator", "ShipmentBook", "ShipmentRepository", "ShippingUnitOfWork"]


class IdGenerator(Protocol):
    def next_id(self) -> int: ...


class ShipmentBook(Protocol):
    """Shipments of orders, run inside the caller's open transaction; never commits.

    A transaction participant: the checkout saga builds it on its own unit of work's session,
    appends the returned events to that unit of work (so they reach the outbox in the same
    transaction) and commits or rolls back.

    Event ids: ``ShipmentCreated`` takes the shipment's id as its own (one creation per
    shipment, and both come from the caller's Snowflake generator, so they never collide with
    another event's id); every later event takes an explicit ``event_id`` from the caller.
    """

    async def create(
        self,
        tenant_id: int,
        shipment_id: int,
        order_id: int,
        address: Mapping[str, str],
        *,
        now: datetime,
    ) -> tuple[Shipment, list[ShippingEvent]]:
        """Create the order's shipment (``created``) with its ``ShipmentCreated`` event.

        Idempotent on ``(tenant_id, order_id)``: an order that has a shipment gets it back as
        it is (whatever its status, id and address), with no events.
        """
        ...

    async def cancel(
        self, tenant_id: int, order_id: int, *, now: datetime, event_id: int
    ) -> tuple[Shipment | None, list[ShippingEvent]]:
        """Cancel the order's shipment (the compensation of ``create``).

        Returns:
            The cancelled shipment with its ``ShipmentCancelled`` event; when it was cancelled
            already, the shipment with no events; when the order has none, None.

        Raises:
            ShipmentAlreadyDispatchedError: it was shipped or delivered.
        """
        ...

    async def for_order(self, tenant_id: int, order_id: int) -> Shipment | None: ...


class ShipmentRepository(ShipmentBook, Protocol):
    """The book plus what the service needs to move a shipment on."""

    async def lock(self, tenant_id: int, shipment_id: int) -> Shipment | None:
        """The shipment, locked against concurrent changes until the transaction ends."""
        ...

    async def set_status(
        self, tenant_id: int, shipment_id: int, status: ShipmentStatus, *, now: datetime
    ) -> Shipment:
        """Write the status of a shipment ``lock`` returned."""
        ...


class ShippingUnitOfWork(UnitOfWork[ShippingEvent], Protocol):
    """One transaction over the shipments; its events go to the outbox on commit."""

    @property
    def shipments(self) -> ShipmentRepository: ...
