"""Orders: orders, their lines, and the saga log of their checkouts.

Spelled out rather than built from ``contexts/orders/adapters/tables.py``: a migration is
a frozen snapshot; a test checks that both still agree.

Revision ID: 0008_orders
Revises: 0007_payments_authorizations
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_orders"
down_revision = "0007_payments_authorizations"
branch_labels = None
depends_on = None


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("shipping_address", sa.Text(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.Column("shipment_id", sa.BigInteger(), nullable=True),
        sa.Column("failure_reason", sa.String(64), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "status IN ('pending', 'reserved', 'paid', 'fulfilling', 'completed', 'cancelled', "
            "'needs_attention')",
            name="ck_orders_status",
        ),
        sa.CheckConstraint("total_minor > 0", name="ck_orders_total_positive"),
    )
    op.create_index("ix_orders_tenant_id_user_id_id", "orders", ["tenant_id", "user_id", "id"])
    op.create_index("ix_orders_tenant_id_id", "orders", ["tenant_id", "id"])
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.BigInteger(), sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("line_no", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity BETWEEN 1 AND 100", name="ck_order_lines_quantity"),
        sa.CheckConstraint("unit_price_minor >= 0", name="ck_order_lines_price"),
    )
    op.create_table(
        "sagas",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("failure_reason", sa.String(200), nullable=True),
        sa.Column("attention_reason", sa.String(600), nullable=True),
        sa.Column("cancel_reason", sa.String(200), nullable=True),
        sa.Column("next_attempt_at", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_sagas_state_lease", "sagas", ["state", "lease_until"])


def downgrade() -> None:
    op.drop_index("ix_sagas_state_lease", table_name="sagas")
    op.drop_table("sagas")
    op.drop_table("order_lines")
    op.drop_index("ix_orders_tenant_id_id", table_name="orders")
    op.drop_index("ix_orders_tenant_id_user_id_id", table_name="orders")
    op.drop_table("orders")
