"""The shipping domain: shipments, their transitions, events and errors (no I/O)."""

from __future__ import annotations

from bazaar.contexts.shipping.domain.events import (
    ShipmentCancelled,
    ShipmentCreated,
    ShipmentStatusChanged,
    ShippingEvent,
)
from bazaar.contexts.shipping.domain.model import (
    Shipment,
    ShipmentStatus,
    may_cancel,
    moves_forward,
    require_aware,
)

__all__ = [
    "Shipment",
    "ShipmentCancelled",
    "ShipmentCreated",
    "ShipmentStatus",
    "ShipmentStatusChanged",
    "ShippingEvent",
    "may_cancel",
    "moves_forward",
    "require_aware",
]
