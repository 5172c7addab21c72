"""Events of the shipping context: what happened to a shipment (past tense, frozen, versioned).

They carry ids, never the address. Each is ordered per order (``partition_key``), so a
consumer sees an order's shipment created before it is cancelled or moved on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.contexts.shipping.domain.model import ShipmentStatus
from bazaar.kernel.domain import DomainEvent

__all__ = ["ShipmentCancelled", "ShipmentCreated", "ShipmentStatusChanged", "ShippingEvent"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShippingEvent(DomainEvent):
    """Base of every shipping event: each is about one order's shipment."""

    shipment_id: int
    order_id: int

    @property
    def partition_key(self) -> str:
        return str(self.order_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentCreated(ShippingEvent):
    type: ClassVar[str] = "shipping.shipment_created"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentCancelled(ShippingEvent):
    type: ClassVar[str] = "shipping.shipment_cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentStatusChanged(ShippingEvent):
    type: ClassVar[str] = "shipping.shipment_status_changed"
    previous: ShipmentStatus
    status: ShipmentStatus
