"""Two SQLAlchemy idioms every SQL adapter needs, spelled once for SQLite and PostgreSQL.

- ``insert_for``: both dialects write "insert unless present" (``ON CONFLICT DO NOTHING``)
  the same way, but from different modules; the adapter asks by its session's dialect.
- ``rowcount``: how many rows an INSERT/UPDATE/DELETE touched (the decision of every
  conditional write: claimed or not, updated or not).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["DialectInsert", "insert_for", "insert_for_dialect", "rowcount"]


DialectInsert = postgresql.Insert | sqlite.Insert


def insert_for_dialect(dialect: str, table: Table) -> DialectInsert:
    """The dialect's INSERT on ``table``, which offers ``on_conflict_do_nothing``."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def insert_for(session: AsyncSession, table: Table) -> DialectInsert:
    """``insert_for_dialect`` for the dialect ``session`` is bound to."""
    return insert_for_dialect(session.get_bind().dialect.name, table)


def rowcount(result: Any) -> int:
    """Rows a DML statement touched; 0 for a result that is not a cursor result."""
    return int(result.rowcount) if isinstance(result, CursorResult) else 0
