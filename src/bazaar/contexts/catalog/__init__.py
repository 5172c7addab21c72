"""The catalog (capabilities §5.1): the context's public facade.

Merchants keep products (name, description, price, category, attributes JSON, status) with
optimistic concurrency: every write bumps ``version``, the API's strong ``ETag`` is made of
id and version, and a write based on an old version is refused (``VersionMismatchError``,
412) instead of silently overwriting another. Deleting archives. Customers browse a
tenant's active products with filters (category, price range, status for merchants),
full-text search (FTS5 on SQLite, ``tsvector`` on PostgreSQL; search text is reduced to
plain words first) and whitelisted orders, one keyset page at a time behind signed,
opaque cursors. Stock is inventory's: the catalog asks the ``StockDirectory`` (the
inventory facade) once per page. Reviews are a nested resource, one per customer and
product. ``seed_demo_catalog`` fills a demo tenant.

Other code uses the context through these names only.
"""

from __future__ import annotations

from bazaar.contexts.catalog.application import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    DEMO_SEED,
    MAX_LIMIT,
    MAX_STOCK,
    CatalogReadModel,
    CatalogService,
    CatalogUnitOfWork,
    CursorCodec,
    ListProducts,
    ListReviews,
    Page,
    ProductDetails,
    ProductSort,
    StockDirectory,
    StockFigures,
    seed_demo_catalog,
)
from bazaar.contexts.catalog.domain import (
    ArchiveProduct,
    CatalogError,
    CatalogValidationError,
    CreateProduct,
    DuplicateReviewError,
    InvalidField,
    InvalidProductError,
    InvalidQueryError,
    InvalidReviewError,
    PostReview,
    Product,
    ProductChanges,
    ProductNotFoundError,
    ProductStatus,
    ProductStock,
    Review,
    SetStock,
    UpdateProduct,
    VersionMismatchError,
    search_terms,
)

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_SORT",
    "DEMO_SEED",
    "MAX_LIMIT",
    "MAX_STOCK",
    "ArchiveProduct",
    "CatalogError",
    "CatalogReadModel",
    "CatalogService",
    "CatalogUnitOfWork",
    "CatalogValidationError",
    "CreateProduct",
    "CursorCodec",
    "DuplicateReviewError",
    "InvalidField",
    "InvalidProductError",
    "InvalidQueryError",
    "InvalidReviewError",
    "ListProducts",
    "ListReviews",
    "Page",
    "PostReview",
    "Product",
    "ProductChanges",
    "ProductDetails",
    "ProductNotFoundError",
    "ProductSort",
    "ProductStatus",
    "ProductStock",
    "Review",
    "SetStock",
    "StockDirectory",
    "StockFigures",
    "UpdateProduct",
    "VersionMismatchError",
    "search_terms",
    "seed_demo_catalog",
]
