"""``ShippingService``: the shipping facade outside the checkout (carrier status updates)."""

from __future__ import annotations

from collections.abc import Callable

from bazaar.contexts.shipping.application.ports import IdGenerator, ShippingUnitOfWork
from bazaar.contexts.shipping.domain.errors import ShipmentNotFoundError
from bazaar.contexts.shipping.domain.events import ShipmentStatusChanged
from bazaar.contexts.shipping.domain.model import Shipment, ShipmentStatus, moves_forward
from bazaar.kernel.clock import Clock, utc_from_timestamp

__all__ = ["ShippingService"]


class ShippingService:
    """Facade pattern over the shipping context for status updates (capabilities §5.6).

    Each call runs on a fresh unit of work whose commit writes the ``ShipmentStatusChanged``
    event to the outbox in the same transaction. Creating and cancelling shipments is the
    checkout saga's, through a ``ShipmentBook`` on its own transaction.
    """

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], ShippingUnitOfWork],
        ids: IdGenerator,
        clock: Clock,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._ids = ids
        self._clock = clock

    async def advance(self, tenant_id: int, shipment_id: int, status: ShipmentStatus) -> Shipment:
        """Move a shipment on to ``shipped`` or ``delivered`` (a carrier's status update).

        Idempotent and tolerant of updates out of order: a status the shipment reached or
        passed already changes nothing and raises no event.

        Raises:
            ShipmentNotFoundError: unknown for this tenant.
            InvalidShipmentTransitionError: ``status`` is not shipped or delivered, or the
                shipment was cancelled.
        """
        uow = self._unit_of_work()
        async with uow:
            # Locked, so a concurrent cancel waits and then finds it dispatched (or the
            # other way round: this finds it cancelled).
            shipment = await uow.shipments.lock(tenant_id, shipment_id)
            if shipment is None:
                raise ShipmentNotFoundError(shipment_id)
            if not moves_forward(shipment, status):
                return shipment
            now = utc_from_timestamp(self._clock.now())
            moved = await uow.shipments.set_status(tenant_id, shipment_id, status, now=now)
            uow.events.append(
                ShipmentStatusChanged(
                    id=self._ids.next_id(),
                    occurred_at=now,
                    tenant_id=tenant_id,
                    shipment_id=shipment_id,
                    order_id=shipment.order_id,
                    previous=shipment.status,
                    status=status,
                )
            )
            await uow.commit()
        return moved
