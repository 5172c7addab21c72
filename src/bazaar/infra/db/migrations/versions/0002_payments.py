"""Payments: payments, refunds, PSP webhook events, idempotency keys.

Money columns are integer minor units (BIGINT) beside a CHAR(3) ISO 4217 currency.
``idempotency_keys`` is spelled out rather than built by the kernel's ``idempotency_table``:
a migration is a frozen snapshot; a test checks that the two still agree.

Revision ID: 0002_payments
Revises: 0001_identity
Create Date: 2025-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_payments"
down_revision = "0001_identity"
branch_labels = None
depends_on = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("psp_authorization_id", sa.String(64), nullable=False),
        sa.Column("provider_key", sa.String(64), nullable=False),
        sa.Column("decline_code", sa.String(64), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        _timestamp("captured_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint("status IN ('succeeded', 'declined')", name="ck_payments_status"),
        sa.CheckConstraint("amount_minor > 0", name="ck_payments_amount_positive"),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor",
            name="ck_payments_refunded_within_amount",
        ),
    )
    op.create_index(
        "ix_payments_tenant_id_user_id_created_at",
        "payments",
        ["tenant_id", "user_id", "created_at"],
    )
    op.create_index(
        "uq_payments_psp_authorization_id", "payments", ["psp_authorization_id"], unique=True
    )
    op.create_index("uq_payments_provider_key", "payments", ["provider_key"], unique=True)

    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider_key", sa.String(64), nullable=True),
        sa.Column("psp_refund_id", sa.String(64), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name="ck_refunds_status"
        ),
        sa.CheckConstraint("amount_minor > 0", name="ck_refunds_amount_positive"),
    )
    op.create_index("ix_refunds_payment_id_status", "refunds", ["payment_id", "status"])
    op.create_index("uq_refunds_provider_key", "refunds", ["provider_key"], unique=True)
    op.create_index("uq_refunds_psp_refund_id", "refunds", ["psp_refund_id"], unique=True)

    op.create_table(
        "psp_webhook_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("effect", sa.String(32), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        _timestamp("received_at"),
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lock_token", sa.String(32), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", sa.Text(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("psp_webhook_events")
    op.drop_table("refunds")
    op.drop_table("payments")
