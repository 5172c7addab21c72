"""In-memory catalog store, unit of work, read model and stock directory (fakes for tests).

They ship with the ports (as httpx ships ``MockTransport``): real classes with inspectable
state — ``InMemoryCatalogStore.products``, ``.commits``; ``InMemoryStockDirectory.calls``
records every call, so a test can see that a page asked for its stock once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from bazaar.contexts.catalog.application.queries import (
    Keyset,
    ProductFilter,
    ProductSort,
    SortKey,
)
from bazaar.contexts.catalog.domain.errors import DuplicateReviewError
from bazaar.contexts.catalog.domain.model import (
    Product,
    ProductChanges,
    ProductStatus,
    Review,
    Unset,
    price_micros,
)
from bazaar.kernel.domain import DomainEvent

__all__ = [
    "InMemoryCatalogReadModel",
    "InMemoryCatalogStore",
    "InMemoryCatalogUnitOfWork",
    "InMemoryStockDirectory",
    "StockRecord",
]


@dataclasses.dataclass
class InMemoryCatalogStore:
    """The committed state: ``products`` and ``reviews`` by id; ``commits`` counts commits."""

    products: dict[int, Product] = dataclasses.field(default_factory=dict)
    reviews: dict[int, Review] = dataclasses.field(default_factory=dict)
    commits: int = 0

    def unit_of_work(self) -> InMemoryCatalogUnitOfWork:
        return InMemoryCatalogUnitOfWork(self)

    def read_model(self) -> InMemoryCatalogReadModel:
        return InMemoryCatalogReadModel(self)


def _apply(product: Product, changes: ProductChanges, at: datetime) -> Product:
    updates: dict[str, Any] = {
        name: value
        for name in ("name", "description", "price", "category", "attributes", "status")
        if not isinstance(value := getattr(changes, name), Unset)
    }
    return dataclasses.replace(product, **updates, version=product.version + 1, updated_at=at)


class _Products:
    def __init__(self, staged: dict[int, Product]) -> None:
        self._staged = staged

    async def add(self, product: Product) -> None:
        if product.id in self._staged:
            raise ValueError(f"duplicate product id {product.id}")
        self._staged[product.id] = product

    async def get(self, tenant_id: int, product_id: int) -> Product | None:
        product = self._staged.get(product_id)
        return product if product is not None and product.tenant_id == tenant_id else None

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
        current = await self.get(tenant_id, product_id)
        if (
            current is None
            or (expected_versions is not None and current.version not in expected_versions)
            or (unless_status is not None and current.status is unless_status)
        ):
            return None
        updated = _apply(current, changes, at)
        self._staged[product_id] = updated
        return updated


class _Reviews:
    def __init__(self, staged: dict[int, Review]) -> None:
        self._staged = staged

    async def add(self, review: Review) -> None:
        key = (review.tenant_id, review.product_id, review.user_id)
        if any((r.tenant_id, r.product_id, r.user_id) == key for r in self._staged.values()):
            raise DuplicateReviewError(review.product_id, review.user_id)
        self._staged[review.id] = review


class InMemoryCatalogUnitOfWork:
    """Works on copies of the store's dicts; ``commit`` swaps them in (rollback: drops them)."""

    def __init__(self, store: InMemoryCatalogStore) -> None:
        self._store = store
        self.events: list[DomainEvent] = []
        self.committed = False
        self._products: dict[int, Product] = {}
        self._reviews: dict[int, Review] = {}

    @property
    def products(self) -> _Products:
        return _Products(self._products)

    @property
    def reviews(self) -> _Reviews:
        return _Reviews(self._reviews)

    async def __aenter__(self) -> Self:
        self._products = dict(self._store.products)
        self._reviews = dict(self._store.reviews)
        self.committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        self._store.products = self._products
        self._store.reviews = self._reviews
        self._store.commits += 1
        self.committed = True

    async def rollback(self) -> None:
        self._products = dict(self._store.products)
        self._reviews = dict(self._store.reviews)


def _sort_value(product: Product, key: SortKey) -> int | str | datetime:
    match key:
        case SortKey.PRICE:
            return price_micros(product.price)
        case SortKey.CREATED_AT:
            return product.created_at
        case SortKey.NAME:
            return product.name


def _matches(product: Product, where: ProductFilter) -> bool:
    micros = price_micros(product.price)
    text = f"{product.name} {product.description or ''}".lower()
    return (
        product.tenant_id == where.tenant_id
        and (where.statuses is None or product.status in where.statuses)
        and (where.category is None or product.category == where.category)
        and (where.min_price_micros is None or micros >= where.min_price_micros)
        and (where.max_price_micros is None or micros <= where.max_price_micros)
        # Substring rather than token match: close enough for a fake.
        and (where.terms is None or all(term in text for term in where.terms))
    )


class InMemoryCatalogReadModel:
    """The read model over the committed state, with the SQL adapter's order and keyset."""

    def __init__(self, store: InMemoryCatalogStore) -> None:
        self._store = store

    async def get_product(self, tenant_id: int, product_id: int) -> Product | None:
        product = self._store.products.get(product_id)
        return product if product is not None and product.tenant_id == tenant_id else None

    async def product_ids(self, *, from_id: int, limit: int) -> list[int]:
        return sorted(i for i in self._store.products if i >= from_id)[:limit]

    async def products_by_ids(self, tenant_id: int, product_ids: Sequence[int]) -> list[Product]:
        wanted = set(product_ids)
        return [
            p for p in self._store.products.values() if p.id in wanted and p.tenant_id == tenant_id
        ]

    async def list_products(
        self, where: ProductFilter, sort: ProductSort, *, after: Keyset | None, limit: int
    ) -> list[Product]:
        def position(p: Product) -> tuple[Any, int]:
            return (_sort_value(p, sort.key), p.id)

        rows = sorted(
            (p for p in self._store.products.values() if _matches(p, where)),
            key=position,
            reverse=sort.descending,
        )
        if after is not None:
            start = (after.value, after.id)
            rows = [
                p for p in rows if (position(p) < start if sort.descending else position(p) > start)
            ]
        return rows[:limit]

    async def list_reviews(
        self, tenant_id: int, product_id: int, *, before_id: int | None, limit: int
    ) -> list[Review]:
        rows = sorted(
            (
                r
                for r in self._store.reviews.values()
                if r.tenant_id == tenant_id
                and r.product_id == product_id
                and (before_id is None or r.id < before_id)
            ),
            key=lambda r: r.id,
            reverse=True,
        )
        return rows[:limit]


@dataclasses.dataclass(frozen=True, slots=True)
class StockRecord:
    """What ``InMemoryStockDirectory`` answers (the shape of inventory's ``StockLevel``)."""

    product_id: int
    available: int
    reserved: int = 0
    sold: int = 0


class InMemoryStockDirectory:
    """Stock figures in a dict; ``calls`` lists every call as ``(method, tenant, ids)``."""

    def __init__(self) -> None:
        self.levels: dict[tuple[int, int], StockRecord] = {}
        self.calls: list[tuple[str, int, tuple[int, ...]]] = []

    async def stock_levels(
        self, tenant_id: int, product_ids: Sequence[int]
    ) -> dict[int, StockRecord]:
        self.calls.append(("stock_levels", tenant_id, tuple(product_ids)))
        return {pid: self.levels.get((tenant_id, pid), StockRecord(pid, 0)) for pid in product_ids}

    async def set_available(self, tenant_id: int, product_id: int, available: int) -> StockRecord:
        self.calls.append(("set_available", tenant_id, (product_id,)))
        current = self.levels.get((tenant_id, product_id), StockRecord(product_id, 0))
        record = dataclasses.replace(current, available=available)
        self.levels[(tenant_id, product_id)] = record
        return record
