"""Errors of the inventory context.

BazaarError
└── InventoryError
    ├── OutOfStockError(product_id, requested, available)  more asked for than is left
    ├── InvalidStockError(field, reason)                   a stock figure or line that cannot be
    ├── ReservationNotFoundError(reservation_id)           no such reservation for the tenant
    ├── ReservationNotHeldError(reservation_id, status)    commit of a released/expired one
    └── ReservationIdConflictError(reservation_id)         another tenant's reservation has the
                                                           id (a caller's bug: ids are Snowflakes)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bazaar.kernel.errors import BazaarError

if TYPE_CHECKING:
    from bazaar.contexts.inventory.domain.model import ReservationStatus

__all__ = [
    "InvalidStockError",
    "InventoryError",
    "OutOfStockError",
    "ReservationIdConflictError",
    "ReservationNotFoundError",
    "ReservationNotHeldError",
]


class InventoryError(BazaarError):
    """Raised by the inventory context on purpose."""


class OutOfStockError(InventoryError):
    """Fewer than ``requested`` units of ``product_id`` are available (``available`` as read
    right after the refused update; a product without a stock row has 0)."""

    def __init__(self, product_id: int, requested: int, available: int) -> None:
        super().__init__(f"product {product_id}: {requested} requested, {available} available")
        self.product_id = product_id
        self.requested = requested
        self.available = available


class InvalidStockError(InventoryError):
    """A stock figure or reservation line that cannot be (``available`` < 0, quantity < 1);
    ``field`` names the input at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ReservationNotFoundError(InventoryError):
    """Unknown, or another tenant's: deliberately alike."""

    def __init__(self, reservation_id: int) -> None:
        super().__init__(f"no reservation {reservation_id}")
        self.reservation_id = reservation_id


class ReservationNotHeldError(InventoryError):
    """The reservation was released or expired: its stock went back and cannot be sold."""

    def __init__(self, reservation_id: int, status: ReservationStatus) -> None:
        super().__init__(f"reservation {reservation_id} is {status.value}, not held")
        self.reservation_id = reservation_id
        self.status = status


class ReservationIdConflictError(InventoryError):
    """Another tenant's reservation already has this id."""

    def __init__(self, reservation_id: int) -> None:
        super().__init__(f"reservation id {reservation_id} is taken by another tenant")
        self.reservation_id = reservation_id
