"""The webhooks tables (SQLAlchemy Core), matching migration ``0004_webhooks`` column for column.

``webhook_endpoints`` keeps the signing secret in clear: every attempt needs it to sign,
so it cannot be hashed like an API key (Stripe keeps its endpoint secrets the same way);
it is shown once, at registration, and never listed. Event types are a JSON array in a
text column: a tenant has a handful of endpoints, so fan-out reads them all and filters.

``webhook_deliveries`` is unique per (endpoint, event id): an event reaches an endpoint at
most once however often it is redelivered. ``next_attempt_at`` is set while a delivery
waits for an attempt and NULL once it is final, so the dispatcher's partial index holds
only the deliveries still to send. Each attempt is a row of ``webhook_delivery_attempts``
(append-only: the dispatcher never rewrites a log).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from bazaar.infra.db.types import UtcDateTime

__all__ = [
    "DELIVERY_STATUS_CHECK",
    "ENDPOINT_STATUS_CHECK",
    "metadata",
    "webhook_deliveries",
    "webhook_delivery_attempts",
    "webhook_endpoints",
]

# Each context owns its MetaData: no context can join another's tables by accident.
metadata = MetaData()

ENDPOINT_STATUS_CHECK = "status IN ('active', 'disabled')"
DELIVERY_STATUS_CHECK = "status IN ('pending', 'succeeded', 'failed', 'abandoned')"

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("url", String(2048), nullable=False),
    Column("event_types", Text, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("disabled_reason", String(300), nullable=True),
    Column("disabled_at", UtcDateTime, nullable=True),
    Column("consecutive_failures", Integer, nullable=False),
    Column("failing_since", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(ENDPOINT_STATUS_CHECK, name="ck_webhook_endpoints_status"),
    # A tenant's endpoints, oldest first (ids are time-ordered): the list and the fan-out.
    Index("ix_webhook_endpoints_tenant_id_id", "tenant_id", "id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("endpoint_id", BigInteger, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    CheckConstraint(DELIVERY_STATUS_CHECK, name="ck_webhook_deliveries_status"),
    # An event reaches an endpoint at most once.
    Index("uq_webhook_deliveries_endpoint_id_event_id", "endpoint_id", "event_id", unique=True),
    # An endpoint's deliveries, newest first (the deliveries list pages by id).
    Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
)
# The dispatcher's scan: only deliveries still to send, soonest first.
Index(
    "ix_webhook_deliveries_due",
    webhook_deliveries.c.next_attempt_at,
    sqlite_where=webhook_deliveries.c.next_attempt_at.is_not(None),
    postgresql_where=webhook_deliveries.c.next_attempt_at.is_not(None),
)

webhook_delivery_attempts = Table(
    "webhook_delivery_attempts",
    metadata,
    Column(
        "delivery_id",
        BigInteger,
        ForeignKey("webhook_deliveries.id"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("attempted_at", UtcDateTime, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    Column("duration_ms", Integer, nullable=False),
)
