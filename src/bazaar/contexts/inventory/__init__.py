"""Inventory (capabilities §5.2): the context's public facade.

Other contexts use inventory only through these names: the ``StockLedger`` port, which the
checkout saga runs inside its own transaction (bootstrap builds the SQL adapter on the
saga's session), the ``InventoryService`` for everything else (merchant stock, the expiry
job, reads), the values and the errors.
"""

from __future__ import annotations

from bazaar.contexts.inventory.application.ports import StockLedger
from bazaar.contexts.inventory.application.service import InventoryService
from bazaar.contexts.inventory.domain.errors import (
    InvalidStockError,
    InventoryError,
    OutOfStockError,
    ReservationIdConflictError,
    ReservationNotFoundError,
    ReservationNotHeldError,
)
from bazaar.contexts.inventory.domain.model import (
    DEFAULT_RESERVATION_TTL,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)

__all__ = [
    "DEFAULT_RESERVATION_TTL",
    "InvalidStockError",
    "InventoryError",
    "InventoryService",
    "OutOfStockError",
    "Reservation",
    "ReservationIdConflictError",
    "ReservationLine",
    "ReservationNotFoundError",
    "ReservationNotHeldError",
    "ReservationStatus",
    "StockLedger",
    "StockLevel",
]
