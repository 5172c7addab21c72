"""Product view counts, written behind (capabilities §8.2).

Each customer read of a product adds one to a counter in memory; the counter writes the
sums to the database in batches (``bazaar.kernel.cache.WriteBehindCounter``, every
``BAZAAR_CACHE__VIEWS_FLUSH_S``). A hot product read a thousand times between two flushes
costs one upsert, not a thousand. The price, stated: a process that dies without its final
flush loses the views counted since its last flush (at most one interval's worth), and a
total read from one process includes only that process's unflushed views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["ProductViews", "ViewCount", "ViewCounter", "ViewStore", "view_key"]


def view_key(tenant_id: int, product_id: int) -> str:
    """The counter key of one product's views (the sink splits it back)."""
    return f"{tenant_id}:{product_id}"


class ViewCounter(Protocol):
    def incr(self, key: str, by: int = 1) -> None: ...

    def pending(self) -> dict[str, int]: ...


class ViewStore(Protocol):
    async def stored_views(self, tenant_id: int, product_id: int) -> int:
        """The views flushed so far (0 for a product never flushed)."""
        ...


@dataclass(frozen=True, slots=True)
class ViewCount:
    product_id: int
    stored: int
    pending: int

    @property
    def total(self) -> int:
        return self.stored + self.pending


class ProductViews:
    """Counts product views in memory and reads them back with what was flushed."""

    def __init__(self, counter: ViewCounter, store: ViewStore) -> None:
        self._counter = counter
        self._store = store

    def record(self, tenant_id: int, product_id: int) -> None:
        self._counter.incr(view_key(tenant_id, product_id))

    async def count(self, tenant_id: int, product_id: int) -> ViewCount:
        pending = self._counter.pending().get(view_key(tenant_id, product_id), 0)
        stored = await self._store.stored_views(tenant_id, product_id)
        return ViewCount(product_id, stored, pending)
