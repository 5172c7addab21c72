"""The inventory tables (SQLAlchemy Core), matching migration ``0005_inventory_shipping``
column for column.

``stock`` keeps the three buckets of a product's units side by side so one conditional
UPDATE moves units between them; its CHECK constraints are the database's own guard on
what the conditional updates keep (no bucket below zero). No foreign keys into catalog's
tables: contexts own their tables and meet through ids.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from bazaar.infra.db.types import UtcDateTime

__all__ = [
    "RESERVATION_STATUS_CHECK",
    "metadata",
    "stock",
    "stock_reservation_lines",
    "stock_reservations",
]

# Each context owns its MetaData: no context can join another's tables by accident.
metadata = MetaData()

RESERVATION_STATUS_CHECK = "status IN ('held', 'released', 'committed', 'expired')"

stock = Table(
    "stock",
    metadata,
    Column("tenant_id", BigInteger, primary_key=True, autoincrement=False),
    Column("product_id", BigInteger, primary_key=True, autoincrement=False),
    Column("available", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("sold", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("available >= 0", name="ck_stock_available_not_negative"),
    CheckConstraint("reserved >= 0", name="ck_stock_reserved_not_negative"),
    CheckConstraint("sold >= 0", name="ck_stock_sold_not_negative"),
)

stock_reservations = Table(
    "stock_reservations",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(RESERVATION_STATUS_CHECK, name="ck_stock_reservations_status"),
    # The expiry job: held reservations, oldest deadline first.
    Index("ix_stock_reservations_status_expires_at", "status", "expires_at"),
)

stock_reservation_lines = Table(
    "stock_reservation_lines",
    metadata,
    Column(
        "reservation_id",
        BigInteger,
        ForeignKey("stock_reservations.id"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("product_id", BigInteger, primary_key=True, autoincrement=False),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="ck_stock_reservation_lines_quantity_positive"),
)
