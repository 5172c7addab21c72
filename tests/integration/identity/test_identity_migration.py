"""Migration 0001_identity builds exactly the tables that ``tables.py`` describes."""

from __future__ import annotations

import pytest

from bazaar.contexts.identity.adapters.tables import metadata
from bazaar.infra.db import Database
from bazaar.infra.db.migrate import current_revision, head_revision, upgrade
from bazaar.testing.schema import describe, reflect

TABLES = sorted(metadata.tables)


class TestIdentityMigration:
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

    def test_every_lookup_has_an_index(self) -> None:
        indexes = {i.name for t in metadata.tables.values() for i in t.indexes}
        assert indexes == {
            "uq_users_tenant_id_email",
            "uq_refresh_tokens_token_hash",
            "ix_refresh_tokens_tenant_id_family_id",
            "ix_revoked_access_tokens_expires_at",
            "uq_api_keys_prefix",
        }
