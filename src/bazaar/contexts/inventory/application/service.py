"""``InventoryService``: the inventory facade for standalone use (merchant stock, expiry, reads)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bazaar.contexts.inventory.application.ports import InventoryReadModel, InventoryUnitOfWork
from bazaar.contexts.inventory.domain.errors import InvalidStockError
from bazaar.contexts.inventory.domain.model import Reservation, StockLevel
from bazaar.kernel.clock import Clock, utc_from_timestamp

__all__ = ["InventoryService"]


class InventoryService:
    """Facade pattern over the inventory context outside a checkout.

    Each write runs on a fresh unit of work of its own; reads go to the read model. The
    checkout saga does not come through here: it reserves through a ``StockLedger`` built on
    its own transaction.
    """

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], InventoryUnitOfWork],
        reads: InventoryReadModel,
        clock: Clock,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._reads = reads
        self._clock = clock

    async def stock_levels(
        self, tenant_id: int, product_ids: Sequence[int]
    ) -> dict[int, StockLevel]:
        """The stock of every product asked for, in one query (no N+1 for list pages).

        Products without a stock row have ``StockLevel(product_id, 0, 0, 0)``.
        """
        wanted = list(dict.fromkeys(product_ids))
        if not wanted:
            return {}
        found = await self._reads.stock_levels(tenant_id, wanted)
        return {pid: found.get(pid) or StockLevel.empty(pid) for pid in wanted}

    async def set_available(self, tenant_id: int, product_id: int, available: int) -> StockLevel:
        """Set the units free to reserve (the merchant's ``PUT /products/{id}/stock``).

        Reserved and sold units are untouched: a concurrent checkout's hold is never lost.

        Raises:
            InvalidStockError: ``available`` is negative.
        """
        if available < 0:
            raise InvalidStockError("available", "must not be negative")
        uow = self._unit_of_work()
        async with uow:
            level = await uow.stock.set_available(
                tenant_id, product_id, available, now=utc_from_timestamp(self._clock.now())
            )
            await uow.commit()
        return level

    async def expire_reservations(self, *, limit: int = 500) -> int:
        """Expire held reservations past ``expires_at`` and give their units back (a scheduled
        job); returns how many it expired. Committed or released ones are never touched."""
        uow = self._unit_of_work()
        async with uow:
            expired = await uow.stock.expire_held(
                utc_from_timestamp(self._clock.now()), limit=limit
            )
            await uow.commit()
        return expired

    async def reservation(self, tenant_id: int, reservation_id: int) -> Reservation | None:
        return await self._reads.reservation(tenant_id, reservation_id)
