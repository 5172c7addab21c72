"""Errors of the shipping context.

BazaarError
└── ShippingError
    ├── ShipmentNotFoundError(shipment_id)                   no such shipment for the tenant
    ├── ShipmentAlreadyDispatchedError(shipment_id, status)  cancel of a shipped/delivered one
    └── InvalidShipmentTransitionError(shipment_id, current, requested)
                                                             a status it cannot move on to
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bazaar.kernel.errors import BazaarError

if TYPE_CHECKING:
    from bazaar.contexts.shipping.domain.model import ShipmentStatus

__all__ = [
    "InvalidShipmentTransitionError",
    "ShipmentAlreadyDispatchedError",
    "ShipmentNotFoundError",
    "ShippingError",
]


class ShippingError(BazaarError):
    """Raised by the shipping context on purpose."""


class ShipmentNotFoundError(ShippingError):
    """Unknown, or another tenant's: deliberately alike."""

    def __init__(self, shipment_id: int) -> None:
        super().__init__(f"no shipment {shipment_id}")
        self.shipment_id = shipment_id


class ShipmentAlreadyDispatchedError(ShippingError):
    """The parcel left (shipped or delivered): the shipment can no longer be cancelled."""

    def __init__(self, shipment_id: int, status: ShipmentStatus) -> None:
        super().__init__(f"shipment {shipment_id} is {status.value}: too late to cancel")
        self.shipment_id = shipment_id
        self.status = status


class InvalidShipmentTransitionError(ShippingError):
    """``requested`` is not a status a shipment in ``current`` can move on to (a cancelled
    shipment does not ship; only shipped and delivered are reached by ``advance``)."""

    def __init__(
        self, shipment_id: int, current: ShipmentStatus, requested: ShipmentStatus
    ) -> None:
        super().__init__(
            f"shipment {shipment_id} cannot move from {current.value} to {requested.value}"
        )
        self.shipment_id = shipment_id
        self.current = current
        self.requested = requested
