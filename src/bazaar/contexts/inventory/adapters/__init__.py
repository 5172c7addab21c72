"""Adapters of the inventory ports: SQL tables, ledger, repository and reads; in-memory fakes."""

from __future__ import annotations

from bazaar.contexts.inventory.adapters.ledger import SqlStockLedger
from bazaar.contexts.inventory.adapters.memory import (
    InMemoryInventoryReadModel,
    InMemoryInventoryState,
    InMemoryInventoryUnitOfWork,
    InMemoryStockLedger,
    InMemoryStockRepository,
)
from bazaar.contexts.inventory.adapters.read_model import SqlInventoryReadModel
from bazaar.contexts.inventory.adapters.repository import (
    SqlInventoryUnitOfWork,
    SqlStockRepository,
)
from bazaar.contexts.inventory.adapters.tables import metadata

__all__ = [
    "InMemoryInventoryReadModel",
    "InMemoryInventoryState",
    "InMemoryInventoryUnitOfWork",
    "InMemoryStockLedger",
    "InMemoryStockRepository",
    "SqlInventoryReadModel",
    "SqlInventoryUnitOfWork",
    "SqlStockLedger",
    "SqlStockRepository",
    "metadata",
]
