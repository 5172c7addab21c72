"""Migration 0002_payments builds exactly the tables that ``tables.py`` describes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import (
    CHAR,
    JSON,
    BigInteger,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    inspect,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator, TypeEngine

from bazaar.contexts.payments.adapters.tables import metadata
from bazaar.infra.db import Database
from bazaar.infra.db.migrate import current_revision, head_revision, upgrade
from bazaar.kernel.idempotency.sqlalchemy import idempotency_table

TABLES = sorted(metadata.tables)


def type_family(column_type: TypeEngine[Any]) -> str:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    kinds = (
        (BigInteger, "bigint"),
        (Integer, "integer"),
        (DateTime, "datetime"),
        (Float, "float"),
        (LargeBinary, "binary"),
        (JSON, "json"),
    )
    for kind, name in kinds:
        if isinstance(column_type, kind):
            return name
    if isinstance(column_type, Text) or (
        isinstance(column_type, String) and column_type.length is None
    ):
        return "text"
    if isinstance(column_type, CHAR):
        return f"char({column_type.length})"
    if isinstance(column_type, String):
        return f"string({column_type.length})"
    # PostgreSQL reflects FLOAT as DOUBLE PRECISION, a Float subclass on some versions only.
    if type(column_type).__name__.upper().startswith("DOUBLE"):
        return "float"
    return type(column_type).__name__


def describe(table: Table) -> dict[str, Any]:
    return {
        "columns": {c.name: (type_family(c.type), c.nullable) for c in table.columns},
        "primary_key": [c.name for c in table.primary_key.columns],
        "indexes": {i.name: (tuple(c.name for c in i.columns), i.unique) for i in table.indexes},
        "foreign_keys": sorted(
            ((fk.parent.name,), fk.column.table.name) for fk in table.foreign_keys
        ),
    }


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
            "ix_refunds_payment_id_status",
            "uq_refunds_provider_key",
            "uq_refunds_psp_refund_id",
            "ix_idempotency_keys_expires_at",
        }
