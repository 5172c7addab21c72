"""Migration 0005_inventory_shipping builds exactly the inventory tables ``tables.py`` describes,
and its downgrade takes them (and shipping's) away again."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bazaar.contexts.inventory.adapters.tables import metadata
from bazaar.infra.db import Database, create_database
from bazaar.infra.db.migrate import alembic_config, current_revision, head_revision, upgrade
from bazaar.testing.schema import describe, reflect
from bazaar.testing.servers import PostgresServer

TABLES = sorted(metadata.tables)
OWN_TABLES = {"stock", "stock_reservations", "stock_reservation_lines", "shipments"}


async def _downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with engine.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


class TestInventoryMigration:
    def test_declares_the_inventory_tables(self) -> None:
        assert TABLES == ["stock", "stock_reservation_lines", "stock_reservations"]

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

    def test_the_expiry_job_has_its_index(self) -> None:
        indexes = {i.name for t in metadata.tables.values() for i in t.indexes}
        assert indexes == {"ix_stock_reservations_status_expires_at"}

    @pytest.mark.parametrize(
        "engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
    )
    async def test_downgrade_drops_the_tables_and_upgrade_builds_them_again(
        self, engine: str, tmp_path: Path, request: pytest.FixtureRequest
    ) -> None:
        # A database of its own: downgrading the session's shared one would drop later
        # migrations' tables under other tests.
        if engine == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'downgrade.db'}"
        else:
            server: PostgresServer = request.getfixturevalue("postgres_server")
            url = server.create_database(f"inventory_downgrade_{uuid.uuid4().hex[:12]}")
        db = create_database(url)
        try:
            await upgrade(db.engine, "0005_inventory_shipping")
            assert await _tables(db.engine) >= OWN_TABLES
            await _downgrade(db.engine, "0004_webhooks")
            assert await current_revision(db.engine) == "0004_webhooks"
            assert not OWN_TABLES & await _tables(db.engine)
            await upgrade(db.engine, "0005_inventory_shipping")
            assert await _tables(db.engine) >= OWN_TABLES
        finally:
            await db.dispose()
