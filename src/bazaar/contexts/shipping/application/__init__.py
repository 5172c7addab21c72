"""The shipping application layer: its ports and the ``ShippingService`` facade."""

from __future__ import annotations

from bazaar.contexts.shipping.application.ports import (
    IdGenerator,
    ShipmentBook,
    ShipmentRepository,
    ShippingUnitOfWork,
)
from bazaar.contexts.shipping.application.service import ShippingService

__all__ = [
    "IdGenerator",
    "ShipmentBook",
    "ShipmentRepository",
    "ShippingService",
    "ShippingUnitOfWork",
]
