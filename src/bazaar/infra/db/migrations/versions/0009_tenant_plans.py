"""Tenants get an optional rate-limit plan (capabilities §3.3: per-tenant plan tiers).

Expand-only: a nullable column, so code of the previous release keeps working against it.

Revision ID: 0009_tenant_plans
Revises: 0008_orders
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_tenant_plans"
down_revision = "0008_orders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("plan", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("plan")
