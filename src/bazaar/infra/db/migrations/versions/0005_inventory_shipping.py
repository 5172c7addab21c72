"""Inventory (stock, reservations and their lines) and shipping (shipments).

Spelled out rather than built from the contexts' ``tables.py``: a migration is a frozen
snapshot; a test checks that both still agree.

Revision ID: 0005_inventory_shipping
Revises: 0004_webhooks
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_inventory_shipping"
down_revision = "0004_webhooks"
branch_labels = None
depends_on = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "stock",
        sa.Column("tenant_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("product_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("available", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("sold", sa.BigInteger(), nullable=False),
        _timestamp("updated_at"),
        sa.CheckConstraint("available >= 0", name="ck_stock_available_not_negative"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_reserved_not_negative"),
        sa.CheckConstraint("sold >= 0", name="ck_stock_sold_not_negative"),
    )

    op.create_table(
        "stock_reservations",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _timestamp("expires_at"),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "status IN ('held', 'released', 'committed', 'expired')",
            name="ck_stock_reservations_status",
        ),
    )
    op.create_index(
        "ix_stock_reservations_status_expires_at",
        "stock_reservations",
        ["status", "expires_at"],
    )

    op.create_table(
        "stock_reservation_lines",
        sa.Column(
            "reservation_id",
            sa.BigInteger(),
            sa.ForeignKey("stock_reservations.id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("product_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_stock_reservation_lines_quantity_positive"),
    )

    op.create_table(
        "shipments",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "status IN ('created', 'cancelled', 'shipped', 'delivered')",
            name="ck_shipments_status",
        ),
    )
    op.create_index(
        "uq_shipments_tenant_id_order_id", "shipments", ["tenant_id", "order_id"], unique=True
    )


def downgrade() -> None:
    op.drop_table("shipments")
    op.drop_table("stock_reservation_lines")
    op.drop_table("stock_reservations")
    op.drop_table("stock")
