"""Messaging: the transactional outbox, the consumers' inbox, dead letters, cron runs, leases.

Spelled out rather than built from the kernel's table factories: a migration is a frozen
snapshot; a test checks that both still agree.

Revision ID: 0003_messaging
Revises: 0002_payments
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_messaging"
down_revision = "0002_payments"
branch_labels = None
depends_on = None

# SQLite auto-increments only an INTEGER PRIMARY KEY (the rowid).
_SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", _SEQUENCE, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("published_at", sa.Float(), nullable=True),
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["seq"],
        sqlite_where=sa.text("published_at IS NULL"),
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.create_index("uq_outbox_message_id", "outbox", ["message_id"], unique=True)
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("message_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("type", sa.String(200), nullable=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_at", sa.Float(), nullable=False),
        sa.Column("replayed_at", sa.Float(), nullable=True),
        sa.Column("replays", sa.Integer(), nullable=False),
    )
    op.create_index("ix_dead_letters_consumer", "dead_letters", ["consumer"])
    op.create_table(
        "cron_runs",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("tick", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("claimed_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_cron_runs_claimed_at", "cron_runs", ["claimed_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("cron_runs")
    op.drop_table("dead_letters")
    op.drop_table("inbox")
    op.drop_table("outbox")
