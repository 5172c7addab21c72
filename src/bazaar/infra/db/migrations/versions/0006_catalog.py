"""Catalog: products (keyset indexes for every browse order), full-text search, reviews.

Spelled out rather than built from ``contexts/catalog/adapters/tables.py``: a migration is a
frozen snapshot; a test checks that both still agree. Full-text search is per engine:

- SQLite: ``products_fts``, an FTS5 external-content table over ``products`` (name,
  description; ``unicode61`` without diacritic folding, like PostgreSQL's 'simple'), kept in
  step by three triggers. External content stores the index only, not a second copy of
  the text (https://sqlite.org/fts5.html#external_content_tables); the delete triggers
  must hand FTS5 the exact values that were indexed, hence the same ``coalesce`` in each.
- PostgreSQL: ``products.search``, a stored generated ``tsvector`` (it cannot drift from
  the row: the database computes it on every write), and a GIN index on it.

Revision ID: 0006_catalog
Revises: 0005_inventory_shipping
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_catalog"
down_revision = "0005_inventory_shipping"
branch_labels = None
depends_on = None

_SQLITE_FTS = (
    """
    CREATE VIRTUAL TABLE products_fts USING fts5(
        name, description,
        content='products', content_rowid='id',
        tokenize='unicode61 remove_diacritics 0'
    )
    """,
    """
    CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
        INSERT INTO products_fts (rowid, name, description)
        VALUES (new.id, new.name, coalesce(new.description, ''));
    END
    """,
    """
    CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
        INSERT INTO products_fts (products_fts, rowid, name, description)
        VALUES ('delete', old.id, old.name, coalesce(old.description, ''));
    END
    """,
    """
    CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description ON products BEGIN
        INSERT INTO products_fts (products_fts, rowid, name, description)
        VALUES ('delete', old.id, old.name, coalesce(old.description, ''));
        INSERT INTO products_fts (rowid, name, description)
        VALUES (new.id, new.name, coalesce(new.description, ''));
    END
    """,
)

_POSTGRES_FTS = (
    """
    ALTER TABLE products ADD COLUMN search tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, name || ' ' || coalesce(description, ''))
    ) STORED
    """,
    "CREATE INDEX ix_products_search ON products USING gin (search)",
)


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("price_micros", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint("status IN ('active', 'draft', 'archived')", name="ck_products_status"),
        sa.CheckConstraint("version >= 1", name="ck_products_version_positive"),
        sa.CheckConstraint("price_minor >= 0 AND price_micros >= 0", name="ck_products_price"),
    )
    for name, columns in (
        ("ix_products_browse_price", ["tenant_id", "status", "price_micros", "id"]),
        ("ix_products_browse_created", ["tenant_id", "status", "created_at", "id"]),
        ("ix_products_browse_name", ["tenant_id", "status", "name", "id"]),
        (
            "ix_products_category_price",
            ["tenant_id", "status", "category", "price_micros", "id"],
        ),
        (
            "ix_products_category_created",
            ["tenant_id", "status", "category", "created_at", "id"],
        ),
        ("ix_products_category_name", ["tenant_id", "status", "category", "name", "id"]),
    ):
        op.create_index(name, "products", columns)

    op.create_table(
        "product_reviews",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_product_reviews_rating"),
    )
    op.create_index(
        "uq_product_reviews_tenant_id_product_id_user_id",
        "product_reviews",
        ["tenant_id", "product_id", "user_id"],
        unique=True,
    )
    op.create_index(
        "ix_product_reviews_tenant_id_product_id_id",
        "product_reviews",
        ["tenant_id", "product_id", "id"],
    )

    dialect = op.get_bind().dialect.name
    statements = _POSTGRES_FTS if dialect == "postgresql" else _SQLITE_FTS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_products_search")
    else:
        for trigger in ("products_fts_update", "products_fts_delete", "products_fts_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS products_fts")
    op.drop_table("product_reviews")
    op.drop_table("products")
