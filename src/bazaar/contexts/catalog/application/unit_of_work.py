"""The catalog unit of work, its repositories and the read model, as ports (tenant-scoped).

Every method takes the tenant: another tenant's product is as unknown as one that never
existed (capabilities §2.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bazaar.contexts.catalog.application.queries import Keyset, ProductFilter, ProductSort
from bazaar.contexts.catalog.domain.model import Product, ProductChanges, ProductStatus, Review
from bazaar.kernel.domain import DomainEvent, UnitOfWork

__all__ = [
    "CatalogReadModel",
    "CatalogUnitOfWork",
    "ProductRepository",
    "ReviewRepository",
]


class ProductRepository(Protocol):
    async def add(self, product: Product) -> None: ...

    async def get(self, tenant_id: int, product_id: int) -> Product | None: ...

    async def update(
        self,
        tenant_id: int,
        product_id: int,
        changes: ProductChanges,
        *,
        expected_versions: frozenset[int] | None,
        at: datetime,
        unless_status: ProductStatus | None = None,
    ) -> Product | None:
        """Apply ``changes`` and bump the version in one conditional statement.

        ``UPDATE … SET …, version = version + 1 WHERE tenant_id = ? AND id = ? AND version IN
        (…)`` (optimistic concurrency, capabilities §7.5): of two writers that read the same
        version, exactly one matches. ``expected_versions`` None matches any version
        (``If-Match: *``); ``unless_status`` leaves a product in that status alone.

        Returns:
            The product as updated, or None when no row matched (unknown, another version,
            or already in ``unless_status``: the caller looks to tell which).
        """
        ...


class ReviewRepository(Protocol):
    async def add(self, review: Review) -> None:
        """Insert a review.

        Raises:
            DuplicateReviewError: the customer already reviewed the product (the unique
                index on (tenant, product, user) decides, so two racing posts cannot both
                land).
        """
        ...


class CatalogUnitOfWork(UnitOfWork[DomainEvent], Protocol):
    """One transaction over products and reviews."""

    @property
    def products(self) -> ProductRepository: ...

    @property
    def reviews(self) -> ReviewRepository: ...


class CatalogReadModel(Protocol):
    """Reads outside any write transaction (SQLite's read-only pool; a replica later)."""

    async def get_product(self, tenant_id: int, product_id: int) -> Product | None: ...

    async def products_by_ids(self, tenant_id: int, product_ids: Sequence[int]) -> list[Product]:
        """The tenant's products among ``product_ids`` (unknown ids left out), one query."""
        ...

    async def list_products(
        self, where: ProductFilter, sort: ProductSort, *, after: Keyset | None, limit: int
    ) -> list[Product]:
        """Up to ``limit`` products matching ``where``, in ``sort`` order then by id (the
        same direction), strictly after ``after``."""
        ...

    async def list_reviews(
        self, tenant_id: int, product_id: int, *, before_id: int | None, limit: int
    ) -> list[Review]:
        """A product's reviews, newest first, strictly older than ``before_id``."""
        ...

    async def product_ids(self, *, from_id: int, limit: int) -> list[int]:
        """Up to ``limit`` product ids of every tenant ≥ ``from_id``, ascending (the Bloom
        filter's refresh walks the primary key with it)."""
        ...
