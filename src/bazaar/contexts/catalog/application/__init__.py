"""The catalog application layer: the service, its ports, list queries, cursors, demo data."""

from __future__ import annotations

from bazaar.contexts.catalog.application.cursors import (
    MAX_CURSOR_LENGTH,
    CursorCodec,
    query_fingerprint,
)
from bazaar.contexts.catalog.application.demo import DEMO_SEED, seed_demo_catalog
from bazaar.contexts.catalog.application.ports import IdGenerator, StockDirectory, StockFigures
from bazaar.contexts.catalog.application.queries import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    MAX_LIMIT,
    Keyset,
    ListProducts,
    ListReviews,
    Page,
    ProductDetails,
    ProductFilter,
    ProductSort,
    SortKey,
)
from bazaar.contexts.catalog.application.service import MAX_STOCK, CatalogService
from bazaar.contexts.catalog.application.unit_of_work import (
    CatalogReadModel,
    CatalogUnitOfWork,
    ProductRepository,
    ReviewRepository,
)

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_SORT",
    "DEMO_SEED",
    "MAX_CURSOR_LENGTH",
    "MAX_LIMIT",
    "MAX_STOCK",
    "CatalogReadModel",
    "CatalogService",
    "CatalogUnitOfWork",
    "CursorCodec",
    "IdGenerator",
    "Keyset",
    "ListProducts",
    "ListReviews",
    "Page",
    "ProductDetails",
    "ProductFilter",
    "ProductRepository",
    "ProductSort",
    "ReviewRepository",
    "SortKey",
    "StockDirectory",
    "StockFigures",
    "query_fingerprint",
    "seed_demo_catalog",
]
