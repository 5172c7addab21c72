"""The payments tables (SQLAlchemy Core), matching migrations ``0002_payments`` and
``0007_payments_authorizations`` column for column.

Money is stored as integer minor units (``amount_minor`` BIGINT) beside a CHAR(3) currency
whose ISO 4217 exponent says where the decimal point goes. Integers are exact on both
engines — SQLite has no decimal type and would hand NUMERIC back through a float — and keep
the conditional update that bounds refunds (``refunded_minor + :x <= amount_minor``) a
plain integer comparison. BIGINT holds 9.2e18 minor units, far beyond any payment.

No foreign keys into identity's tables: contexts own their tables and meet through ids.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from bazaar.infra.db.types import UtcDateTime
from bazaar.kernel.idempotency.sqlalchemy import idempotency_table

__all__ = [
    "PAYMENT_STATUS_CHECK",
    "REFUND_STATUS_CHECK",
    "idempotency_keys",
    "metadata",
    "payments",
    "psp_webhook_events",
    "refunds",
]

# Each context owns its MetaData: no context can join another's tables by accident.
metadata = MetaData()

PAYMENT_STATUS_CHECK = "status IN ('authorized', 'succeeded', 'declined', 'voided')"
REFUND_STATUS_CHECK = "status IN ('pending', 'succeeded', 'failed')"
# The database's own guard on the invariant the conditional update keeps.
REFUNDED_WITHIN_AMOUNT = "refunded_minor >= 0 AND refunded_minor <= amount_minor"


payments = Table(
    "payments",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("psp_authorization_id", String(64), nullable=False),
    Column("provider_key", String(64), nullable=False),
    Column("decline_code", String(64), nullable=True),
    Column("description", String(500), nullable=True),
    Column("refunded_minor", BigInteger, nullable=False),
    Column("captured_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The order a checkout's payment pays for (an id of the orders context; no foreign key).
    Column("order_id", BigInteger, nullable=True),
    CheckConstraint(PAYMENT_STATUS_CHECK, name="ck_payments_status"),
    CheckConstraint("amount_minor > 0", name="ck_payments_amount_positive"),
    CheckConstraint(REFUNDED_WITHIN_AMOUNT, name="ck_payments_refunded_within_amount"),
    # A customer's payments, newest first (the list endpoint to come).
    Index("ix_payments_tenant_id_user_id_created_at", "tenant_id", "user_id", "created_at"),
    # Webhooks name the authorization; one payment per PSP authorization and per key.
    Index("uq_payments_psp_authorization_id", "psp_authorization_id", unique=True),
    Index("uq_payments_provider_key", "provider_key", unique=True),
    # An order's payment (payment_for_order).
    Index("ix_payments_tenant_id_order_id", "tenant_id", "order_id"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("payment_id", BigInteger, ForeignKey("payments.id"), nullable=False),
    Column("user_id", BigInteger, nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("provider_key", String(64), nullable=True),
    Column("psp_refund_id", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(REFUND_STATUS_CHECK, name="ck_refunds_status"),
    CheckConstraint("amount_minor > 0", name="ck_refunds_amount_positive"),
    Index("ix_refunds_payment_id_status", "payment_id", "status"),
    # A retried request finds its refund by key; a webhook by the PSP's refund id.
    Index("uq_refunds_provider_key", "provider_key", unique=True),
    Index("uq_refunds_psp_refund_id", "psp_refund_id", unique=True),
)

psp_webhook_events = Table(
    "psp_webhook_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("effect", String(32), nullable=True),
    Column("payload", LargeBinary, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
)

# Shared by every idempotent POST (payments, refunds; orders and deposits later).
idempotency_keys = idempotency_table(metadata, "idempotency_keys")
