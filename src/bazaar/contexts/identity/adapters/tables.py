"""The identity tables (SQLAlchemy Core), matching migration ``0001_identity`` column for column."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

from bazaar.infra.db.types import UtcDateTime

__all__ = [
    "ROLE_CHECK",
    "api_keys",
    "metadata",
    "refresh_tokens",
    "revoked_access_tokens",
    "tenants",
    "users",
]

# Each context owns its MetaData: no context can join another's tables by accident.
metadata = MetaData()

ROLE_CHECK = "role IN ('admin', 'merchant', 'customer')"


tenants = Table(
    "tenants",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("plan", String(32), nullable=True),
)

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, ForeignKey("tenants.id"), nullable=False),
    Column("email", String(254), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(ROLE_CHECK, name="ck_users_role"),
    # Login and registration look a user up by (tenant, email); also the uniqueness rule.
    Index("uq_users_tenant_id_email", "tenant_id", "email", unique=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, ForeignKey("tenants.id"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("family_id", BigInteger, nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("uq_refresh_tokens_token_hash", "token_hash", unique=True),
    Index("ix_refresh_tokens_tenant_id_family_id", "tenant_id", "family_id"),
)

revoked_access_tokens = Table(
    "revoked_access_tokens",
    metadata,
    Column("tenant_id", BigInteger, nullable=False),
    Column("jti", String(64), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=False),
    # The primary key is the authentication lookup: (tid, jti) from the token.
    PrimaryKeyConstraint("tenant_id", "jti", name="pk_revoked_access_tokens"),
    Index("ix_revoked_access_tokens_expires_at", "expires_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, ForeignKey("tenants.id"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("prefix", String(8), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("uq_api_keys_prefix", "prefix", unique=True),
)
