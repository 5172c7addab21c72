"""The catalog's read model behind the ``db_read`` dependency guard (capabilities §4.4, §4.6).

Every read passes the guard: a timeout within the request's deadline, a breaker that
opens when reads keep failing, a bulkhead, retries (reads are safe to repeat) and the
faults the admin API injects. A read the guard gives up on raises
``DependencyUnavailableError``, which the product cache answers with its last copy
(``X-Cache: STALE``) and the API, when there is none, with 503 ``dependency-unavailable``.
Driver errors of a database that cannot be reached are translated here, so the breaker
counts them as the failures they are; any other error passes through as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

from bazaar.contexts.catalog.application.queries import Keyset, ProductFilter, ProductSort
from bazaar.contexts.catalog.application.unit_of_work import CatalogReadModel
from bazaar.contexts.catalog.domain.model import Product, Review
from bazaar.kernel.resilience import DependencyFailureError, DependencyGuard

__all__ = ["GuardedCatalogReadModel"]

T = TypeVar("T")


class GuardedCatalogReadModel:
    """A ``CatalogReadModel`` whose every read goes through one dependency guard."""

    def __init__(self, reads: CatalogReadModel, guard: DependencyGuard) -> None:
        self._reads = reads
        self._guard = guard

    async def _call(self, read: Callable[[], Awaitable[T]]) -> T:
        async def attempt(_timeout_s: float) -> T:
            try:
                return await read()
            except (OperationalError, InterfaceError, OSError) as exc:
                raise DependencyFailureError(self._guard.name, type(exc).__name__) from exc

        return await self._guard.call(attempt, retry_safe=True)

    async def get_product(self, tenant_id: int, product_id: int) -> Product | None:
        return await self._call(lambda: self._reads.get_product(tenant_id, product_id))

    async def products_by_ids(self, tenant_id: int, product_ids: Sequence[int]) -> list[Product]:
        return await self._call(lambda: self._reads.products_by_ids(tenant_id, product_ids))

    async def list_products(
        self, where: ProductFilter, sort: ProductSort, *, after: Keyset | None, limit: int
    ) -> list[Product]:
        return await self._call(
            lambda: self._reads.list_products(where, sort, after=after, limit=limit)
        )

    async def list_reviews(
        self, tenant_id: int, product_id: int, *, before_id: int | None, limit: int
    ) -> list[Review]:
        return await self._call(
            lambda: self._reads.list_reviews(
                tenant_id, product_id, before_id=before_id, limit=limit
            )
        )

    async def product_ids(self, *, from_id: int, limit: int) -> list[int]:
        return await self._call(lambda: self._reads.product_ids(from_id=from_id, limit=limit))
