"""Migration 0003_messaging builds exactly the shared tables ``messaging_tables`` declares."""

from __future__ import annotations

import pytest

from bazaar.infra.db import Database
from bazaar.infra.db.messaging_tables import metadata
from bazaar.testing.schema import describe, reflect

TABLES = sorted(metadata.tables)


class TestMessagingMigration:
    def test_declares_the_shared_tables(self) -> None:
        assert TABLES == ["cron_runs", "dead_letters", "inbox", "leases", "outbox"]

    @pytest.mark.parametrize("table", TABLES)
    async def test_migrated_table_matches_its_declaration(
        self, database: Database, table: str
    ) -> None:
        async with database.engine.connect() as conn:
            reflected = await conn.run_sync(reflect, table)
        expected = describe(metadata.tables[table])
        if table == "outbox" and database.dialect == "sqlite":
            # BIGINT on PostgreSQL, INTEGER (the auto-incrementing rowid) on SQLite.
            expected["columns"]["seq"] = ("integer", False)
        assert reflected == expected
