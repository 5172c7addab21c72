"""The shipping table (SQLAlchemy Core), matching migration ``0005_inventory_shipping``
column for column. No foreign key into orders' tables: contexts meet through ids."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, MetaData, String, Table

from bazaar.infra.db.types import UtcDateTime

__all__ = ["SHIPMENT_STATUS_CHECK", "metadata", "shipments"]

# Each context owns its MetaData: no context can join another's tables by accident.
metadata = MetaData()

SHIPMENT_STATUS_CHECK = "status IN ('created', 'cancelled', 'shipped', 'delivered')"

shipments = Table(
    "shipments",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("order_id", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("address", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(SHIPMENT_STATUS_CHECK, name="ck_shipments_status"),
    # One shipment per order: what makes ``create`` idempotent (and ``for_order`` a lookup).
    Index("uq_shipments_tenant_id_order_id", "tenant_id", "order_id", unique=True),
)
