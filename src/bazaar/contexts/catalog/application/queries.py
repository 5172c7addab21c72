"""Read-side value objects: what a product list asks for, where a page starts, what it holds.

A list is a keyset walk (no OFFSET): rows come in ``(sort key, id)`` order and the next page
starts strictly after the last row's pair, so a page costs the same at row 10 and at row
10 million, and rows inserted meanwhile never shift a page (capabilities §1.4).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Generic, TypeVar

from bazaar.contexts.catalog.application.cursors import query_fingerprint
from bazaar.contexts.catalog.domain.model import Product, ProductStatus, ProductStock
from bazaar.kernel.cache import CacheStatus

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_SORT",
    "MAX_LIMIT",
    "Keyset",
    "ListProducts",
    "ListReviews",
    "Page",
    "ProductDetails",
    "ProductFilter",
    "ProductSort",
    "SortKey",
    "datetime_from_micros",
    "micros_from_datetime",
]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SortKey(enum.StrEnum):
    """The column a list is ordered by (with the id after it, so the order is total)."""

    PRICE = "price"
    CREATED_AT = "created_at"
    NAME = "name"


class ProductSort(enum.StrEnum):
    """The orders a client may ask for (a whitelist: nothing else reaches SQL)."""

    PRICE = "price"
    PRICE_DESC = "-price"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    NAME = "name"

    @property
    def key(self) -> SortKey:
        return SortKey(self.value.removeprefix("-"))

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


DEFAULT_SORT = ProductSort.CREATED_AT_DESC


def micros_from_datetime(at: datetime) -> int:
    """Microseconds since the epoch, exactly (no float on the way)."""
    return (at - _EPOCH) // timedelta(microseconds=1)


def datetime_from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True, slots=True)
class Keyset:
    """Where a page starts: strictly after the row with this sort value and id."""

    value: int | str | datetime
    id: int


@dataclass(frozen=True, slots=True)
class ProductFilter:
    """Which of a tenant's products a list holds (what the SQL ``WHERE`` says).

    ``statuses`` None means every status; ``terms`` None means no text search, while an
    empty tuple is a search with nothing searchable in it, which matches nothing.
    """

    tenant_id: int
    statuses: frozenset[ProductStatus] | None = None
    category: str | None = None
    min_price_micros: int | None = None
    max_price_micros: int | None = None
    terms: tuple[str, ...] | None = None

    def fingerprint(self, sort: ProductSort) -> str:
        """Identifies this filter and order: a cursor is only good for the query it came from."""
        return query_fingerprint(
            "products",
            self.tenant_id,
            None if self.statuses is None else sorted(self.statuses),
            self.category,
            self.min_price_micros,
            self.max_price_micros,
            None if self.terms is None else list(self.terms),
            sort.value,
        )


@dataclass(frozen=True, slots=True)
class ListProducts:
    """A product list as the caller asked for it (the service turns it into a filter).

    ``include_hidden``: the caller manages the catalog (merchants, admins) and may see drafts
    and archived products; everyone else sees active products only, whatever ``status`` says.
    """

    tenant_id: int
    include_hidden: bool = False
    status: ProductStatus | None = None
    category: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    q: str | None = None
    sort: ProductSort = DEFAULT_SORT
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    with_stock: bool = True


@dataclass(frozen=True, slots=True)
class ListReviews:
    """A product's reviews, newest first."""

    tenant_id: int
    product_id: int
    include_hidden: bool = False
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ProductDetails:
    """A product with its stock (None when the caller did not ask for stock)."""

    product: Product
    stock: ProductStock | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is None on the last page; ``cache`` says how a
    cache served it (None: not through a cache)."""

    items: list[T]
    next_cursor: str | None
    cache: CacheStatus | None = None
