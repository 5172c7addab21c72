"""Migrations 0002_payments and 0007_payments_authorizations build exactly the tables that
``tables.py`` describes; 0007 keeps the rows it finds (see also
test_payments_authorizations_migration.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import MetaData

from bazaar.contexts.payments.adapters.tables import metadata
from bazaar.infra.db import Database
from bazaar.infra.db.migrate import current_revision, head_revision, upgrade
from bazaar.kernel.idempotency.sqlalchemy import idempotency_table
from bazaar.testing.schema import describe, reflect

TABLES = sorted(metadata.tables)


class TestPaymentsMigration:
    @pytest.mark.parametrize("table", TABLES)
    async def test_migrated_table_matches_its_declaration(
        self, database: Database, table: str
    ) -> None:
        async with database.engine.connect() as conn:
            reflected = await conn.run_sync(reflect, table)
        assert reflected == describe(metadata.tables[table])

    def test_the_key_table_is_the_kernels_idempotency_table(self) -> None:
        kernel = idempotency_table(MetaData(), "idempotency_keys")
        assert describe(metadata.tables["idempotency_keys"]) == describe(kernel)

    async def test_upgrading_again_changes_nothing(self, database: Database) -> None:
        await upgrade(database.engine)
        assert await current_revision(database.engine) == head_revision()

    def test_every_lookup_has_an_index(self) -> None:
        indexes = {i.name for t in metadata.tables.values() for i in t.indexes}
        assert indexes == {
            "ix_payments_tenant_id_user_id_created_at",
            "uq_payments_psp_authorization_id",
            "uq_payments_provider_key",
            "ix_payments_tenant_id_order_id",
            "ix_refunds_payment_id_status",
            "uq_refunds_provider_key",
            "uq_refunds_psp_refund_id",
            "ix_idempotency_keys_expires_at",
        }
