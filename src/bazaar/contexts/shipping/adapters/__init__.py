"""Adapters of the shipping ports: the SQL table, book and unit of work; in-memory fakes."""

from __future__ import annotations

from bazaar.contexts.shipping.adapters.book import SqlShipmentBook, SqlShippingUnitOfWork
from bazaar.contexts.shipping.adapters.memory import (
    InMemoryShipmentBook,
    InMemoryShippingState,
    InMemoryShippingUnitOfWork,
)
from bazaar.contexts.shipping.adapters.tables import metadata

__all__ = [
    "InMemoryShipmentBook",
    "InMemoryShippingState",
    "InMemoryShippingUnitOfWork",
    "SqlShipmentBook",
    "SqlShippingUnitOfWork",
    "metadata",
]
