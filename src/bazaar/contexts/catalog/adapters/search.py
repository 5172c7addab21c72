"""Full-text search predicates per engine, built from sanitized terms only (never raw text).

The terms come from ``domain.search.search_terms``: letters and digits only. Each engine
still gets them in its least expressive form, so nothing a customer types can become
query syntax (capabilities §13.1):

- SQLite FTS5: every term as a quoted string (``"red" "lamp"``: both must occur), passed as a
  bound parameter to ``MATCH``; a double quote inside a term would be doubled, as FTS5's
  string syntax requires (https://sqlite.org/fts5.html#fts5_strings).
- PostgreSQL: ``plainto_tsquery('simple', 'red lamp')``, which ignores every operator and
  ANDs the words; bound as well.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, bindparam, cast, column, func, literal_column, select, table
from sqlalchemy.dialects.postgresql import REGCONFIG, TSVECTOR

from bazaar.contexts.catalog.adapters.tables import products

__all__ = ["fts5_query", "search_predicate"]

# The PostgreSQL-only generated column and the SQLite-only FTS5 table (made by the migration).
_pg_search = literal_column("products.search", TSVECTOR)
_products_fts = table("products_fts", column("rowid"))


def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 query that matches rows holding every term (each a quoted string)."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


def search_predicate(dialect: str, terms: Sequence[str]) -> ColumnElement[bool]:
    """``products`` rows whose name or description hold every term."""
    if dialect == "postgresql":
        query = func.plainto_tsquery(
            cast(literal_column("'simple'"), REGCONFIG),
            bindparam("search_text", " ".join(terms)),
        )
        return _pg_search.bool_op("@@")(query)
    matches = select(_products_fts.c.rowid).where(
        literal_column("products_fts").bool_op("MATCH")(bindparam("search_text", fts5_query(terms)))
    )
    return products.c.id.in_(matches)
