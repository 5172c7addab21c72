"""Catalog reads on the read sessions (SQLite's read-only pool; a replica later), tenant-scoped.

A product page is one statement: the filters as bound parameters, the order from a
whitelist (``ProductSort``), and the keyset as a row-value comparison ``(sort key, id) >
(?, ?)`` (``<`` when descending), which both engines turn into a range on the matching
index of ``tables.py``. No OFFSET anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.contexts.catalog.adapters.repository import product_from_row, review_from_row
from bazaar.contexts.catalog.adapters.search import search_predicate
from bazaar.contexts.catalog.adapters.tables import product_reviews, products
from bazaar.contexts.catalog.application.queries import (
    Keyset,
    ProductFilter,
    ProductSort,
    SortKey,
)
from bazaar.contexts.catalog.domain.model import Product, Review

__all__ = ["SqlCatalogReadModel", "product_list_statement"]

_SORT_COLUMNS: dict[SortKey, ColumnElement[Any]] = {
    SortKey.PRICE: products.c.price_micros,
    SortKey.CREATED_AT: products.c.created_at,
    SortKey.NAME: products.c.name,
}


def product_list_statement(
    dialect: str, where: ProductFilter, sort: ProductSort, *, after: Keyset | None, limit: int
) -> Select[Any]:
    """The SELECT of one product page (exposed so tests can EXPLAIN exactly what runs)."""
    t = products
    query = select(t).where(t.c.tenant_id == where.tenant_id)
    if where.statuses is not None:
        statuses = sorted(s.value for s in where.statuses)
        # One status (every customer list) is an equality: the indexes' second column.
        status = t.c.status == statuses[0] if len(statuses) == 1 else t.c.status.in_(statuses)
        query = query.where(status)
    if where.category is not None:
        query = query.where(t.c.category == where.category)
    if where.min_price_micros is not None:
        query = query.where(t.c.price_micros >= where.min_price_micros)
    if where.max_price_micros is not None:
        query = query.where(t.c.price_micros <= where.max_price_micros)
    if where.terms:
        query = query.where(search_predicate(dialect, where.terms))
    column = _SORT_COLUMNS[sort.key]
    if after is not None:
        position = tuple_(column, t.c.id)
        start = tuple_(literal(after.value, column.type), literal(after.id, t.c.id.type))
        query = query.where(position < start if sort.descending else position > start)
    order = (column.desc(), t.c.id.desc()) if sort.descending else (column.asc(), t.c.id.asc())
    return query.order_by(*order).limit(limit)


class SqlCatalogReadModel:
    """Reads that never take the write lock (on SQLite the writer's BEGIN IMMEDIATE would)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get_product(self, tenant_id: int, product_id: int) -> Product | None:
        t = products
        query = select(t).where(t.c.tenant_id == tenant_id, t.c.id == product_id)
        async with self._sessions() as session:
            row = (await session.execute(query)).first()
        return None if row is None else product_from_row(row)

    async def products_by_ids(self, tenant_id: int, product_ids: Sequence[int]) -> list[Product]:
        if not product_ids:
            return []
        t = products
        query = select(t).where(t.c.tenant_id == tenant_id, t.c.id.in_(sorted(set(product_ids))))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [product_from_row(row) for row in rows]

    async def list_products(
        self, where: ProductFilter, sort: ProductSort, *, after: Keyset | None, limit: int
    ) -> list[Product]:
        async with self._sessions() as session:
            dialect = session.get_bind().dialect.name
            query = product_list_statement(dialect, where, sort, after=after, limit=limit)
            rows = (await session.execute(query)).all()
        return [product_from_row(row) for row in rows]

    async def list_reviews(
        self, tenant_id: int, product_id: int, *, before_id: int | None, limit: int
    ) -> list[Review]:
        r = product_reviews
        query = (
            select(r)
            .where(r.c.tenant_id == tenant_id, r.c.product_id == product_id)
            .order_by(r.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(r.c.id < before_id)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [review_from_row(row) for row in rows]

    async def product_ids(self, *, from_id: int, limit: int) -> list[int]:
        t = products
        query = select(t.c.id).where(t.c.id >= from_id).order_by(t.c.id).limit(limit)
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())
