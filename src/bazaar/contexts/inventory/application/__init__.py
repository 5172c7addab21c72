"""The inventory application layer: its ports and the ``InventoryService`` facade."""

from __future__ import annotations

from bazaar.contexts.inventory.application.ports import (
    InventoryReadModel,
    InventoryUnitOfWork,
    StockLedger,
    StockRepository,
)
from bazaar.contexts.inventory.application.service import InventoryService

__all__ = [
    "InventoryReadModel",
    "InventoryService",
    "InventoryUnitOfWork",
    "StockLedger",
    "StockRepository",
]
