"""The orders tables (SQLAlchemy Core), matching migration ``0008_orders`` column for column.

Money as integer minor units beside its currency, as in payments. The saga log's table is
the kernel's (``saga_table``): one row per order's checkout, with the order's id.
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
from bazaar.kernel.idempotency.sqlalchemy import idempotency_table
from bazaar.kernel.saga.sqlalchemy import saga_table

__all__ = ["ORDER_STATUS_CHECK", "idempotency_keys", "metadata", "order_lines", "orders", "sagas"]

metadata = MetaData()

ORDER_STATUS_CHECK = (
    "status IN ('pending', 'reserved', 'paid', 'fulfilling', 'completed', 'cancelled', "
    "'needs_attention')"
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("shipping_address", Text, nullable=False),
    Column("payment_id", BigInteger, nullable=True),
    Column("shipment_id", BigInteger, nullable=True),
    Column("failure_reason", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(ORDER_STATUS_CHECK, name="ck_orders_status"),
    CheckConstraint("total_minor > 0", name="ck_orders_total_positive"),
    # A customer's orders, newest first (ids are time-ordered snowflakes).
    Index("ix_orders_tenant_id_user_id_id", "tenant_id", "user_id", "id"),
    # A merchant's view of the tenant's orders, newest first.
    Index("ix_orders_tenant_id_id", "tenant_id", "id"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", BigInteger, ForeignKey("orders.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("product_id", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    CheckConstraint("quantity BETWEEN 1 AND 100", name="ck_order_lines_quantity"),
    CheckConstraint("unit_price_minor >= 0", name="ck_order_lines_price"),
)

sagas = saga_table(metadata, "sagas")

# The kernel's key records, shared by every idempotent POST (created by 0002_payments).
idempotency_keys = idempotency_table(metadata, "idempotency_keys")
