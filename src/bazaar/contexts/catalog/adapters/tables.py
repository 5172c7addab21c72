"""The catalog tables (SQLAlchemy Core), matching migration ``0006_catalog`` column for column.

``products`` keeps its price twice, on purpose. ``price_minor`` + ``currency`` are the
price as money (integer minor units, as payments stores amounts: exact on both engines).
``price_micros`` is the same amount in millionths of a major unit whatever the currency
(ISO 4217 exponents reach 4): ``min_price=10`` means "an amount of at least 10", which
minor units cannot say without knowing each row's currency, and sorting by price compares
integers. The service writes both from one ``Money``.

Every list a customer runs is ``tenant_id = ? AND status = ? [AND category = ?]`` ordered by
price, creation time or name with the id as tie-breaker, so each of those orders has an
index that holds exactly that prefix and order: the page is a range read of at most
``limit + 1`` index entries, never a sort of the tenant's catalog (capabilities §7.2).
Descending orders read the same indexes backwards. A merchant's list over every status
(the back office, not the hot path) reads the tenant's rows through the indexes' tenant
prefix and sorts them: bounded by one tenant's catalog.

Full-text search is engine-specific and lives outside this metadata (the migration makes
it): on SQLite an FTS5 table ``products_fts`` over name and description, an external-content
index of ``products`` kept in step by triggers; on PostgreSQL a generated ``search`` column
(``tsvector``, 'simple' configuration) with the GIN index ``ix_products_search``. See
``adapters/search.py``.

``product_reviews`` is unique per (tenant, product, user): that index, not a read before
the insert, is what makes "one review per customer per product" hold under concurrency.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from bazaar.infra.db.types import UtcDateTime

__all__ = [
    "PRODUCT_STATUS_CHECK",
    "REVIEW_RATING_CHECK",
    "metadata",
    "product_reviews",
    "product_views",
    "products",
]

# Each context owns its MetaData: no context can join another's tables by accident.
metadata = MetaData()

PRODUCT_STATUS_CHECK = "status IN ('active', 'draft', 'archived')"
REVIEW_RATING_CHECK = "rating BETWEEN 1 AND 5"

products = Table(
    "products",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=True),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("price_micros", BigInteger, nullable=False),
    Column("category", String(64), nullable=False),
    Column("attributes", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(PRODUCT_STATUS_CHECK, name="ck_products_status"),
    CheckConstraint("version >= 1", name="ck_products_version_positive"),
    CheckConstraint("price_minor >= 0 AND price_micros >= 0", name="ck_products_price"),
    # Browse without a category, by each order a client may ask for.
    Index("ix_products_browse_price", "tenant_id", "status", "price_micros", "id"),
    Index("ix_products_browse_created", "tenant_id", "status", "created_at", "id"),
    Index("ix_products_browse_name", "tenant_id", "status", "name", "id"),
    # Browse within a category, by each order.
    Index("ix_products_category_price", "tenant_id", "status", "category", "price_micros", "id"),
    Index("ix_products_category_created", "tenant_id", "status", "category", "created_at", "id"),
    Index("ix_products_category_name", "tenant_id", "status", "category", "name", "id"),
)

product_reviews = Table(
    "product_reviews",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("rating", Integer, nullable=False),
    Column("text", String(2000), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint(REVIEW_RATING_CHECK, name="ck_product_reviews_rating"),
    # One review per customer per product: the guard two racing posts meet.
    Index(
        "uq_product_reviews_tenant_id_product_id_user_id",
        "tenant_id",
        "product_id",
        "user_id",
        unique=True,
    ),
    # A product's reviews, newest first (the list pages by id).
    Index("ix_product_reviews_tenant_id_product_id_id", "tenant_id", "product_id", "id"),
)

# View counts, flushed in batches by the write-behind counter (a table of its own, so a
# flush never contends with a merchant's edit nor bumps a product's version).
product_views = Table(
    "product_views",
    metadata,
    Column("product_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("views", BigInteger, nullable=False),
    CheckConstraint("views >= 0", name="ck_product_views_nonnegative"),
)
