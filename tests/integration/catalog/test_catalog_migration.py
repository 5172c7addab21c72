"""Migration 0006_catalog builds exactly the tables ``tables.py`` describes, plus the
engine's full-text index, and its downgrade removes all of it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bazaar.contexts.catalog.adapters.tables import metadata
from bazaar.infra.db import Database, create_database
from bazaar.infra.db.migrate import current_revision, head_revision, upgrade
from bazaar.testing.schema import describe, reflect
from bazaar.testing.servers import PostgresServer

TABLES = sorted(metadata.tables)


class TestCatalogMigration:
    def test_declares_the_catalog_tables(self) -> None:
        assert TABLES == ["product_reviews", "product_views", "products"]

    @pytest.mark.parametrize("table", TABLES)
    async def test_migrated_table_matches_its_declaration(
        self, database: Database, table: str
    ) -> None:
        async with database.engine.connect() as conn:
            reflected = await conn.run_sync(reflect, table)
        expected = describe(metadata.tables[table])
        if table == "products" and database.dialect == "postgresql":
            # The generated tsvector and its GIN index exist on PostgreSQL only.
            expected["columns"]["search"] = ("TSVECTOR", True)
            expected["indexes"]["ix_products_search"] = (("search",), False)
        assert reflected == expected

    async def test_upgrading_again_changes_nothing(self, database: Database) -> None:
        await upgrade(database.engine)
        assert await current_revision(database.engine) == head_revision()

    def test_every_hot_query_has_an_index(self) -> None:
        indexes = {i.name for t in metadata.tables.values() for i in t.indexes}
        assert indexes == {
            "ix_products_browse_price",
            "ix_products_browse_created",
            "ix_products_browse_name",
            "ix_products_category_price",
            "ix_products_category_created",
            "ix_products_category_name",
            "uq_product_reviews_tenant_id_product_id_user_id",
            "ix_product_reviews_tenant_id_product_id_id",
        }

    async def test_sqlite_keeps_the_search_index_in_step_with_products(
        self, tmp_path: Path
    ) -> None:
        db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'fts.db'}")
        try:
            await upgrade(db.engine)
            async with db.engine.connect() as conn:
                names = {
                    row[0]
                    for row in await conn.execute(
                        text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                    )
                }
            assert {"products_fts_insert", "products_fts_delete", "products_fts_update"} <= names
        finally:
            await db.dispose()


async def _downgrade_and_check(db: Database) -> None:
    from alembic import command
    from sqlalchemy.engine import Connection

    from bazaar.infra.db.migrate import alembic_config

    await upgrade(db.engine, "0006_catalog")

    def down(connection: Connection) -> set[str]:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0005_inventory_shipping")
        return set(inspect(connection).get_table_names())

    async with db.engine.connect() as conn:
        tables = await conn.run_sync(down)
        await conn.commit()
    assert not {"products", "product_reviews", "products_fts"} & tables
    assert "stock" in tables  # the revision before is untouched
    await upgrade(db.engine, "0006_catalog")  # and it goes up again


class TestCatalogDowngrade:
    async def test_sqlite_downgrade_removes_tables_triggers_and_the_search_index(
        self, tmp_path: Path
    ) -> None:
        db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'down.db'}")
        try:
            await _downgrade_and_check(db)
        finally:
            await db.dispose()

    async def test_postgres_downgrade_removes_tables_and_the_search_index(
        self, postgres_server: PostgresServer
    ) -> None:
        url = postgres_server.create_database(f"catalog_down_{uuid.uuid4().hex[:12]}")
        db = create_database(url)
        try:
            await _downgrade_and_check(db)
        finally:
            await db.dispose()
