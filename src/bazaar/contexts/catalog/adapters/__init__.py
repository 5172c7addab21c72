"""Adapters of the catalog ports: SQL tables, repositories, reads, search; in-memory fakes."""

from __future__ import annotations

from bazaar.contexts.catalog.adapters.memory import (
    InMemoryCatalogReadModel,
    InMemoryCatalogStore,
    InMemoryCatalogUnitOfWork,
    InMemoryStockDirectory,
    StockRecord,
)
from bazaar.contexts.catalog.adapters.read_model import (
    SqlCatalogReadModel,
    product_list_statement,
)
from bazaar.contexts.catalog.adapters.repository import (
    SqlCatalogUnitOfWork,
    SqlProductRepository,
    SqlReviewRepository,
)
from bazaar.contexts.catalog.adapters.search import fts5_query, search_predicate
from bazaar.contexts.catalog.adapters.tables import metadata

__all__ = [
    "InMemoryCatalogReadModel",
    "InMemoryCatalogStore",
    "InMemoryCatalogUnitOfWork",
    "InMemoryStockDirectory",
    "SqlCatalogReadModel",
    "SqlCatalogUnitOfWork",
    "SqlProductRepository",
    "SqlReviewRepository",
    "StockRecord",
    "fts5_query",
    "metadata",
    "product_list_statement",
    "search_predicate",
]
