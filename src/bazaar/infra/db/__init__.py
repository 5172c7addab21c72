"""The relational data layer: engines by URL scheme, the unit of work, migrations."""

from __future__ import annotations

from bazaar.infra.db.engine import Database, create_database
from bazaar.infra.db.errors import DatabaseError, DatabaseUnavailableError, UnsupportedDatabaseError
from bazaar.infra.db.unit_of_work import SqlAlchemyUnitOfWork

__all__ = [
    "Database",
    "DatabaseError",
    "DatabaseUnavailableError",
    "SqlAlchemyUnitOfWork",
    "UnsupportedDatabaseError",
    "create_database",
]
