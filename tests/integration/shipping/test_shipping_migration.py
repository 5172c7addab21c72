"""Migration 0005_inventory_shipping builds exactly the shipping table ``tables.py`` describes."""

from __future__ import annotations

import pytest

from bazaar.contexts.shipping.adapters.tables import metadata
from bazaar.infra.db import Database
from bazaar.testing.schema import describe, reflect

TABLES = sorted(metadata.tables)


class TestShippingMigration:
    def test_declares_the_shipping_table(self) -> None:
        assert TABLES == ["shipments"]

    @pytest.mark.parametrize("table", TABLES)
    async def test_migrated_table_matches_its_declaration(
        self, database: Database, table: str
    ) -> None:
        async with database.engine.connect() as conn:
            reflected = await conn.run_sync(reflect, table)
        assert reflected == describe(metadata.tables[table])

    def test_one_shipment_per_order_is_an_index(self) -> None:
        indexes = {(i.name, i.unique) for t in metadata.tables.values() for i in t.indexes}
        assert indexes == {("uq_shipments_tenant_id_order_id", True)}
