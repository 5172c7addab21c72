"""The simulator's own tables (a separate ``MetaData``: they are not part of bazaar's schema).

The simulator stands in for an external processor, so its schema is created with
``metadata.create_all`` at startup instead of bazaar's Alembic migrations: nothing of bazaar
reads these tables, and a simulator database can be deleted at any time.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

__all__ = ["authorizations", "idempotency_keys", "metadata", "refunds"]

metadata = MetaData()

authorizations = Table(
    "psp_authorizations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("card_token", String(64), nullable=False),
    Column("reference", String(200)),
    Column("decline_code", String(32)),
    Column("captured_minor", BigInteger, nullable=False, server_default="0"),
    Column("refunded_minor", BigInteger, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("captured_at", Float),
    Column("voided_at", Float),
    # The store's conditional updates keep these true; the constraints make a bug loud.
    CheckConstraint("captured_minor <= amount_minor", name="ck_psp_auth_capture_bounded"),
    CheckConstraint("refunded_minor <= captured_minor", name="ck_psp_auth_refund_bounded"),
)
Index("ix_psp_authorizations_created_at", authorizations.c.created_at)
Index("ix_psp_authorizations_status", authorizations.c.status)

refunds = Table(
    "psp_refunds",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("authorization_id", String(32), ForeignKey("psp_authorizations.id"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
)
Index("ix_psp_refunds_authorization_id", refunds.c.authorization_id, refunds.c.created_at)

# One row per Idempotency-Key, inserted in the same transaction as the effect it records.
# The primary key is the unique constraint that makes a second effect for one key impossible.
idempotency_keys = Table(
    "psp_idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("path", String(255), nullable=False),
    Column("response_status", Integer, nullable=False),
    Column("response_body", LargeBinary, nullable=False),
    Column("authorization_id", String(32)),
    Column("refund_id", String(32)),
    Column("created_at", Float, nullable=False),
)
