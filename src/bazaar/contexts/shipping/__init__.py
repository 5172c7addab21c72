"""Shipping (capabilities §5.6): the context's public facade.

Other contexts use shipping only through these names: the ``ShipmentBook`` port, which the
checkout saga runs inside its own transaction to create and cancel an order's shipment
(bootstrap builds the SQL adapter on the saga's session), the ``ShippingService`` for status
updates, the values, the events and the errors.
"""

from __future__ import annotations

from bazaar.contexts.shipping.application.ports import ShipmentBook
from bazaar.contexts.shipping.application.service import ShippingService
from bazaar.contexts.shipping.domain.errors import (
    InvalidShipmentTransitionError,
    ShipmentAlreadyDispatchedError,
    ShipmentNotFoundError,
    ShippingError,
)
from bazaar.contexts.shipping.domain.events import (
    ShipmentCancelled,
    ShipmentCreated,
    ShipmentStatusChanged,
    ShippingEvent,
)
from bazaar.contexts.shipping.domain.model import Shipment, ShipmentStatus

__all__ = [
    "InvalidShipmentTransitionError",
    "Shipment",
    "ShipmentAlreadyDispatchedError",
    "ShipmentBook",
    "ShipmentCancelled",
    "ShipmentCreated",
    "ShipmentNotFoundError",
    "ShipmentStatus",
    "ShipmentStatusChanged",
    "ShippingError",
    "ShippingEvent",
    "ShippingService",
]
