"""Ports of the catalog application: where stock figures and ids come from.

``StockDirectory`` is the catalog's view of inventory (capabilities §5.2): the inventory
facade's ``InventoryService`` satisfies it as it is, and unit tests use
``adapters.memory.InMemoryStockDirectory``. The catalog never reads inventory's tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["IdGenerator", "StockDirectory", "StockFigures"]


class IdGenerator(Protocol):
    def next_id(self) -> int: ...


class StockFigures(Protocol):
    """A product's stock as inventory reports it (its ``StockLevel`` has these and more)."""

    @property
    def available(self) -> int: ...

    @property
    def reserved(self) -> int: ...


class StockDirectory(Protocol):
    async def stock_levels(
        self, tenant_id: int, product_ids: Sequence[int]
    ) -> Mapping[int, StockFigures]:
        """The stock of every product in ``product_ids``, in one round trip (no N+1).

        A product inventory has never heard of has zero stock.
        """
        ...

    async def set_available(self, tenant_id: int, product_id: int, available: int) -> StockFigures:
        """Set the available units of one product; reservations are left alone."""
        ...
