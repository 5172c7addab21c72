"""What the v1 and v2 catalog routes share: dependencies, parameters, ids, fields, headers.

Both versions serve the same products through the same service, with the same cursors,
filters, ETags and caching; only the body shapes differ (docs/api-versioning.md). So
everything about reading a request and the headers of an answer lives here, once.

Caching of ``GET /products/{id}`` (capabilities §8.6; docs/caching.md):
``Cache-Control: private, max-age=60, stale-while-revalidate=30`` for an active product and
``private, no-cache`` for a hidden one, with ``Vary: Authorization, X-API-Key``, and
``If-None-Match`` → 304. Never ``public``: ids are global but answers are per tenant and
per role, and a shared cache keyed on the URL (many CDNs ignore ``Vary`` but for
``Accept-Encoding``) would hand one tenant's product, or a merchant's view of a draft, to
someone else. A browser may reuse an active product's answer for a minute, then show it
for 30 s more while it revalidates in the background for the price of a 304.

``X-Cache: HIT | MISS | STALE`` says how the server's own cache served the answer
(api.md); ``STALE`` (the catalog store could not be read, the last copy was served) also
carries ``Warning: 110``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request

from bazaar.api.problems import FieldError, ProblemError
from bazaar.api.security import current_principal, require_permission
from bazaar.contexts.catalog.api.etags import product_etag
from bazaar.contexts.catalog.api.schemas import PRODUCT_FIELDS
from bazaar.contexts.catalog.application import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    MAX_CURSOR_LENGTH,
    MAX_LIMIT,
    CatalogService,
    ListProducts,
    ProductSort,
)
from bazaar.contexts.catalog.domain import model
from bazaar.contexts.catalog.domain.model import Product, ProductStatus
from bazaar.contexts.identity import Permission, Principal
from bazaar.kernel.cache import CacheStatus
from bazaar.kernel.ids import MAX_SNOWFLAKE_ID

__all__ = [
    "ACTIVE_CACHE_CONTROL",
    "HIDDEN_CACHE_CONTROL",
    "PROBLEM_RESPONSES",
    "VARY",
    "Cursor",
    "Fields",
    "IfMatch",
    "IfNoneMatch",
    "Limit",
    "Merchant",
    "ProductListing",
    "Reader",
    "Reviewer",
    "Service",
    "Stocker",
    "cache_headers",
    "catalog_service",
    "parse_product_id",
    "picked_fields",
    "product_headers",
    "product_listing",
]

ACTIVE_CACHE_CONTROL = "private, max-age=60, stale-while-revalidate=30"
HIDDEN_CACHE_CONTROL = "private, no-cache"
VARY = "Authorization, X-API-Key"

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": "problem+json"} for status in (401, 403, 404, 409, 412, 422, 428)
}


async def catalog_service(request: Request) -> CatalogService:
    service: CatalogService = request.app.state.container.catalog
    return service


Service = Annotated[CatalogService, Depends(catalog_service)]
Reader = Annotated[Principal, Depends(current_principal)]
Merchant = Annotated[Principal, Depends(require_permission(Permission.PRODUCTS_WRITE))]
Stocker = Annotated[Principal, Depends(require_permission(Permission.INVENTORY_WRITE))]
Reviewer = Annotated[Principal, Depends(require_permission(Permission.REVIEWS_WRITE))]
IfMatch = Annotated[str | None, Header(alias="If-Match")]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_LENGTH, description="next_cursor of the previous page"),
]
Fields = Annotated[
    str | None,
    Query(
        max_length=300,
        description="Comma-separated product fields to return (e.g. id,name,price).",
    ),
]
PriceBound = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{1,7}(\.[0-9]{1,6})?$",
        description="A decimal amount in major units, whatever each product's currency.",
    ),
]


def parse_product_id(raw: str) -> int:
    """The id in a product path; anything that cannot be a product id answers 404."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_SNOWFLAKE_ID:
        return int(raw)
    raise ProblemError(404, "not-found", "No such resource.")


def picked_fields(raw: str | None) -> frozenset[str] | None:
    """The fields ``?fields=`` picks (capabilities §1.11); None for all of them."""
    if raw is None:
        return None
    names = frozenset(name.strip() for name in raw.split(","))
    if not names or not names <= set(PRODUCT_FIELDS):
        known = ", ".join(PRODUCT_FIELDS)
        raise ProblemError(
            422,
            "validation",
            "One or more fields are invalid.",
            errors=[FieldError("query.fields", f"names unknown fields; known: {known}", "enum")],
        )
    return names


def cache_headers(status: CacheStatus | None) -> dict[str, str]:
    """``X-Cache`` (and ``Warning`` on a stale copy) for an answer a cache served."""
    if status is None:
        return {}
    if status is CacheStatus.STALE:
        return {"x-cache": status.value, "warning": '110 - "Response is Stale"'}
    return {"x-cache": status.value}


def product_headers(product: Product) -> dict[str, str]:
    """``ETag``, ``Cache-Control`` and ``Vary`` of an answer holding one product."""
    return {
        "etag": product_etag(product.id, product.version),
        "cache-control": (
            ACTIVE_CACHE_CONTROL if product.visible_to_customers else HIDDEN_CACHE_CONTROL
        ),
        "vary": VARY,
    }


@dataclass(frozen=True, slots=True)
class ProductListing:
    """A product list request: the query for the service and the fields to answer with."""

    query: ListProducts
    fields: frozenset[str] | None


async def product_listing(
    principal: Reader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    sort: Annotated[ProductSort, Query()] = DEFAULT_SORT,
    category: Annotated[
        str | None, Query(max_length=model.CATEGORY_MAX, pattern=model.CATEGORY_PATTERN)
    ] = None,
    min_price: PriceBound = None,
    max_price: PriceBound = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    status: Annotated[
        ProductStatus | None,
        Query(description="Merchants only; customers always see active products only."),
    ] = None,
    fields: Fields = None,
) -> ProductListing:
    """The list parameters of ``GET /products`` (every version reads the same ones)."""
    picked = picked_fields(fields)
    query = ListProducts(
        tenant_id=principal.tenant_id,
        include_hidden=principal.can(Permission.PRODUCTS_WRITE),
        status=status,
        category=category,
        min_price=None if min_price is None else Decimal(min_price),
        max_price=None if max_price is None else Decimal(max_price),
        q=q,
        sort=sort,
        limit=limit,
        cursor=cursor,
        with_stock=picked is None or "stock" in picked,
    )
    return ProductListing(query, picked)
