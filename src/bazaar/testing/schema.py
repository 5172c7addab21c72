"""Compare a migrated schema with the ``tables.py`` that declares it (one helper per context)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CHAR,
    JSON,
    BigInteger,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    inspect,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["describe", "reflect", "type_family"]


def type_family(column_type: TypeEngine[Any]) -> str:
    """A column type reduced to what both engines agree on when reflected."""
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
    """Columns, primary key, indexes and foreign keys as ``tables.py`` declares them."""
    return {
        "columns": {c.name: (type_family(c.type), c.nullable) for c in table.columns},
        "primary_key": [c.name for c in table.primary_key.columns],
        "indexes": {i.name: (tuple(c.name for c in i.columns), i.unique) for i in table.indexes},
        "foreign_keys": sorted(
            ((fk.parent.name,), fk.column.table.name) for fk in table.foreign_keys
        ),
    }


def reflect(connection: Connection, table: str) -> dict[str, Any]:
    """The same description, read back from the database (run with ``conn.run_sync``)."""
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
