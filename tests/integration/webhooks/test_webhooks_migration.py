"""Migration 0004_webhooks builds exactly the tables that ``tables.py`` describes."""

from __future__ import annotations

import pytest

from bazaar.contexts.webhooks.adapters.tables import metadata
from bazaar.infra.db import Database
from bazaar.infra.db.migrate import current_revision, head_revision, upgrade
from bazaar.testing.schema import describe, reflect

TABLES = sorted(metadata.tables)


class TestWebhooksMigration:
    def test_declares_the_webhooks_tables(self) -> None:
        assert TABLES == ["webhook_deliveries", "webhook_delivery_attempts", "webhook_endpoints"]

    @pytest.mark.parametrize("table", TABLES)
    async def test_migrated_table_matches_its_declaration(
        self, database: Database, table: str
    ) -> None:
        async with database.engine.connect() as conn:
            reflected = await conn.run_sync(reflect, table)
        assert reflected == describe(metadata.tables[table])

    async def test_upgrading_again_changes_nothing(self, database: Database) -> None:
        await upgrade(database.engine)
        assert await current_revision(database.engine) == head_revision()

    def test_every_hot_query_has_an_index(self) -> None:
        indexes = {i.name for t in metadata.tables.values() for i in t.indexes}
        assert indexes == {
            "ix_webhook_endpoints_tenant_id_id",
            "uq_webhook_deliveries_endpoint_id_event_id",
            "ix_webhook_deliveries_endpoint_id_id",
            "ix_webhook_deliveries_due",
        }
