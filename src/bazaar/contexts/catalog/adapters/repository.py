"""SQLAlchemy repositories and the unit of work of the catalog context.

Every statement filters by ``tenant_id`` (capabilities §2.5). A product update is one
conditional ``UPDATE … SET …, version = version + 1 WHERE tenant_id = ? AND id = ? AND
version IN (…) RETURNING …``: on PostgreSQL a second writer blocked on the row re-checks the
``WHERE`` against the committed row (READ COMMITTED) and matches nothing; on SQLite writers
are serialized by ``BEGIN IMMEDIATE``. Either way one of two writers that read the same
version wins and the other learns it lost (capabilities §7.5).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.contexts.catalog.adapters.tables import product_reviews, products
from bazaar.contexts.catalog.domain.errors import DuplicateReviewError
from bazaar.contexts.catalog.domain.model import (
    Product,
    ProductChanges,
    ProductStatus,
    Review,
    Unset,
    price_micros,
)
from bazaar.infra.db import SqlAlchemyUnitOfWork
from bazaar.kernel.domain import DomainEvent
from bazaar.kernel.money import Money

__all__ = [
    "SqlCatalogUnitOfWork",
    "SqlProductRepository",
    "SqlReviewRepository",
    "product_from_row",
    "review_from_row",
]

_REVIEW_UNIQUE_INDEX = "uq_product_reviews_tenant_id_product_id_user_id"
_PG_UNIQUE_VIOLATION = "23505"


def product_from_row(row: Row[Any]) -> Product:
    return Product(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        description=row.description,
        price=Money.from_minor(row.price_minor, row.currency),
        category=row.category,
        attributes=orjson.loads(row.attributes),
        status=ProductStatus(row.status),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def review_from_row(row: Row[Any]) -> Review:
    return Review(
        id=row.id,
        tenant_id=row.tenant_id,
        product_id=row.product_id,
        user_id=row.user_id,
        rating=row.rating,
        text=row.text,
        created_at=row.created_at,
    )


def _price_values(price: Money) -> dict[str, Any]:
    return {
        "price_minor": price.minor_units,
        "currency": price.currency,
        "price_micros": price_micros(price),
    }


def _attributes_text(attributes: Mapping[str, Any]) -> str:
    return orjson.dumps(dict(attributes)).decode()


def _change_values(changes: ProductChanges) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if not isinstance(changes.name, Unset):
        values["name"] = changes.name
    if not isinstance(changes.description, Unset):
        values["description"] = changes.description
    if not isinstance(changes.price, Unset):
        values.update(_price_values(changes.price))
    if not isinstance(changes.category, Unset):
        values["category"] = changes.category
    if not isinstance(changes.attributes, Unset):
        values["attributes"] = _attributes_text(changes.attributes)
    if not isinstance(changes.status, Unset):
        values["status"] = changes.status.value
    return values


class SqlProductRepository:
    """Repository pattern over ``products``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, product: Product) -> None:
        await self._session.execute(
            insert(products).values(
                id=product.id,
                tenant_id=product.tenant_id,
                name=product.name,
                description=product.description,
                category=product.category,
                attributes=_attributes_text(product.attributes),
                status=product.status.value,
                version=product.version,
                created_at=product.created_at,
                updated_at=product.updated_at,
                **_price_values(product.price),
            )
        )

    async def get(self, tenant_id: int, product_id: int) -> Product | None:
        t = products
        query = select(t).where(t.c.tenant_id == tenant_id, t.c.id == product_id)
        row = (await self._session.execute(query)).first()
        return None if row is None else product_from_row(row)

    async def update(
        self,
        tenant_id: int,
        product_id: int,
        changes: ProductChanges,
        *,
        expected_versions: frozenset[int] | None,
        at: datetime,
        unless_status: ProductStatus | None = None,
    ) -> Product | None:
        t = products
        statement = update(t).where(t.c.tenant_id == tenant_id, t.c.id == product_id)
        if expected_versions is not None:
            statement = statement.where(t.c.version.in_(sorted(expected_versions)))
        if unless_status is not None:
            statement = statement.where(t.c.status != unless_status.value)
        statement = statement.values(
            **_change_values(changes), version=t.c.version + 1, updated_at=at
        ).returning(*t.c)
        row = (await self._session.execute(statement)).first()
        return None if row is None else product_from_row(row)


def _is_duplicate_review(exc: IntegrityError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == _PG_UNIQUE_VIOLATION:
        return _REVIEW_UNIQUE_INDEX in str(orig)
    return getattr(
        orig, "sqlite_errorcode", None
    ) == sqlite3.SQLITE_CONSTRAINT_UNIQUE and "product_reviews.user_id" in str(orig)


class SqlReviewRepository:
    """Repository pattern over ``product_reviews``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, review: Review) -> None:
        try:
            await self._session.execute(
                insert(product_reviews).values(
                    id=review.id,
                    tenant_id=review.tenant_id,
                    product_id=review.product_id,
                    user_id=review.user_id,
                    rating=review.rating,
                    text=review.text,
                    created_at=review.created_at,
                )
            )
        except IntegrityError as exc:
            # The unique index is the guard; a read before the insert could not be (two
            # posts racing would both find nothing).
            if _is_duplicate_review(exc):
                raise DuplicateReviewError(review.product_id, review.user_id) from exc
            raise


class SqlCatalogUnitOfWork(SqlAlchemyUnitOfWork[DomainEvent]):
    """Unit of Work over the catalog repositories, on one transaction."""

    products: SqlProductRepository
    reviews: SqlReviewRepository

    def _open(self, session: AsyncSession) -> None:
        self.products = SqlProductRepository(session)
        self.reviews = SqlReviewRepository(session)
