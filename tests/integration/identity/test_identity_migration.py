"""Migration 0001_identity builds exactly the tables that ``tables.py`` describes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator, TypeEngine

from bazaar.contexts.identity.adapters.tables import metadata
from bazaar.infra.db import Database
from bazaar.infra.db.migrate import current_revision, head_revision, upgrade

TABLES = sorted(metadata.tables)


def type_family(column_type: TypeEngine[Any]) -> str:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    for kind, name in ((BigInteger, "bigint"), (Integer, "integer"), (DateTime, "datetime")):
        if isinstance(column_type, kind):
            return name
    if isinstance(column_type, JSON):
        return "json"
    if isinstance(column_type, String):
        return f"string({column_type.length})"
    return type(column_type).__name__


def reflect(connection: Connection, table: str) -> dict[str, Any]:
    inspector = inspect(connection)
    return {
        "columns": {
            c["name"]: (type_family(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
        },
        "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
        "indexes": {
            i["name"]: (tuple(i["column_names"]), bool(i["unique"]))
            for i in inspector.get_indexes(table)
        },
        "foreign_keys": sorted(
            (tuple(fk["constrained_columns"]), fk["referred_table"])
            for fk in inspector.get_foreign_keys(table)
        ),
    }


def declared(table: str) -> dict[str, Any]:
    t = metadata.tables[table]
    return {
        "columns": {c.name: (type_family(c.type), c.nullable) for c in t.columns},
        "primary_key": [c.name for c in t.primary_key.columns],
        "indexes": {i.name: (tuple(c.name for c in i.columns), i.unique) for i in t.indexes},
        "foreign_keys": sorted(((fk.parent.name,), fk.column.table.name) for fk in t.foreign_keys),
    }


class TestIdentityMigration:
    @pytest.mark.parametrize("table", TABLES)
    async def test_migrated_table_matches_its_declaration(
        self, database: Database, table: str
    ) -> None:
        async with database.engine.connect() as conn:
            reflected = await conn.run_sync(reflect, table)
        assert reflected == declared(table)

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
