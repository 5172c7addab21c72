"""Product view counts, written behind the cache in batches (capabilities §8.2).

A table of its own, not a column of ``products``: a flush must never contend with, or bump
the version of, a merchant's edit. Expand-only: a new table.

Revision ID: 0010_product_views
Revises: 0009_tenant_plans
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_product_views"
down_revision = "0009_tenant_plans"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_views",
        sa.Column("product_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.BigInteger, nullable=False),
        sa.Column("views", sa.BigInteger, nullable=False),
        sa.CheckConstraint("views >= 0", name="ck_product_views_nonnegative"),
    )


def downgrade() -> None:
    op.drop_table("product_views")
