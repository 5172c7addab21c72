"""Payments: authorize-then-capture and void for a checkout's payment, and its order.

``payments`` gains ``order_id`` (nullable: payments of ``POST /payments`` belong to no
order) with an index on ``(tenant_id, order_id)``, and its status CHECK admits
``authorized`` and ``voided``.

SQLite cannot alter a CHECK constraint: the table is rebuilt (``batch_alter_table``: copy,
drop, rename). ``refunds`` references ``payments``, and with foreign keys on — bazaar's
engine switches them on, and ``PRAGMA foreign_keys`` cannot change inside the migration's
transaction — dropping a referenced table fails (https://sqlite.org/foreignkeys.html,
"DROP TABLE": its implicit DELETE violates the reference, and the rename does not repair
it even when deferred). So ``refunds`` is rebuilt without its reference first and with it
again last. The tables are spelled out (``copy_from``) rather than reflected: a migration is
a frozen snapshot, as in ``0002_payments``.

Revision ID: 0007_payments_authorizations
Revises: 0006_catalog
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision = "0007_payments_authorizations"
down_revision = "0006_catalog"
branch_labels = None
depends_on = None

OLD_STATUS_CHECK = "status IN ('succeeded', 'declined')"
NEW_STATUS_CHECK = "status IN ('authorized', 'succeeded', 'declined', 'voided')"


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _payments(status_check: str, *, order_id: bool) -> sa.Table:
    """``payments`` as 0002 made it, with ``status_check``, and ``order_id`` when asked."""
    extra: list[SchemaItem] = []
    if order_id:
        extra.append(sa.Column("order_id", sa.BigInteger(), nullable=True))
    return sa.Table(
        "payments",
        sa.MetaData(),
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
        *extra,
        sa.CheckConstraint(status_check, name="ck_payments_status"),
        sa.CheckConstraint("amount_minor > 0", name="ck_payments_amount_positive"),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor",
            name="ck_payments_refunded_within_amount",
        ),
        sa.Index("ix_payments_tenant_id_user_id_created_at", "tenant_id", "user_id", "created_at"),
        sa.Index("uq_payments_psp_authorization_id", "psp_authorization_id", unique=True),
        sa.Index("uq_payments_provider_key", "provider_key", unique=True),
    )


def _refunds(*, references_payments: bool) -> sa.Table:
    """``refunds`` as 0002 made it, with or without its reference to ``payments``."""
    payment_id: list[SchemaItem] = [sa.ForeignKey("payments.id")] if references_payments else []
    return sa.Table(
        "refunds",
        sa.MetaData(),
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), *payment_id, nullable=False),
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
        sa.Index("ix_refunds_payment_id_status", "payment_id", "status"),
        sa.Index("uq_refunds_provider_key", "provider_key", unique=True),
        sa.Index("uq_refunds_psp_refund_id", "psp_refund_id", unique=True),
    )


def _rebuild_refunds(*, references_payments: bool) -> None:
    # The rebuilt table is the one copy_from describes: with or without the reference.
    with op.batch_alter_table(
        "refunds", copy_from=_refunds(references_payments=references_payments), recreate="always"
    ):
        pass


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _is_sqlite():
        _rebuild_refunds(references_payments=False)
        with op.batch_alter_table(
            "payments", copy_from=_payments(OLD_STATUS_CHECK, order_id=False), recreate="always"
        ) as batch:
            batch.add_column(sa.Column("order_id", sa.BigInteger(), nullable=True))
            batch.drop_constraint("ck_payments_status", type_="check")
            batch.create_check_constraint("ck_payments_status", sa.text(NEW_STATUS_CHECK))
        _rebuild_refunds(references_payments=True)
    else:
        op.add_column("payments", sa.Column("order_id", sa.BigInteger(), nullable=True))
        op.drop_constraint("ck_payments_status", "payments", type_="check")
        op.create_check_constraint("ck_payments_status", "payments", NEW_STATUS_CHECK)
    op.create_index("ix_payments_tenant_id_order_id", "payments", ["tenant_id", "order_id"])


def downgrade() -> None:
    # Fails while payments of orders are authorized or voided: 0002's CHECK refuses them.
    op.drop_index("ix_payments_tenant_id_order_id", table_name="payments")
    if _is_sqlite():
        _rebuild_refunds(references_payments=False)
        with op.batch_alter_table(
            "payments", copy_from=_payments(NEW_STATUS_CHECK, order_id=True), recreate="always"
        ) as batch:
            batch.drop_column("order_id")
            batch.drop_constraint("ck_payments_status", type_="check")
            batch.create_check_constraint("ck_payments_status", sa.text(OLD_STATUS_CHECK))
        _rebuild_refunds(references_payments=True)
    else:
        op.drop_constraint("ck_payments_status", "payments", type_="check")
        op.create_check_constraint("ck_payments_status", "payments", OLD_STATUS_CHECK)
        op.drop_column("payments", "order_id")
