"""Catalog routes v1 (api.md "Catalog and inventory"); HTTP only, no SQL, no rules.

Every route needs a caller of the tenant and sees only that tenant's products: another
tenant's product answers 404. Merchants and admins (``products:write``) write products and
see drafts and archived ones; everyone else sees active products only (a hidden product
answers 404). Product writes need ``If-Match`` (428 without, 412 on a stale ETag). Caching
and the parameters every version shares are in ``params``.

``/products`` and ``/products/{id}`` are deprecated in favour of v2 (``routes_v2``, money
in minor units); they keep working, unchanged, until the sunset date. Stock and reviews
have no v2: their shapes did not change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from bazaar.api.responses import ORJSONResponse
from bazaar.contexts.catalog.api import products, schemas
from bazaar.contexts.catalog.api.params import (
    PROBLEM_RESPONSES,
    Cursor,
    Fields,
    IfMatch,
    IfNoneMatch,
    Limit,
    Merchant,
    ProductListing,
    Reader,
    Reviewer,
    Service,
    Stocker,
    catalog_service,
    parse_product_id,
    product_listing,
)
from bazaar.contexts.catalog.api.problems import catalog_errors
from bazaar.contexts.catalog.application import DEFAULT_LIMIT, ListReviews
from bazaar.contexts.catalog.domain.commands import PostReview, SetStock
from bazaar.contexts.identity import Permission

__all__ = ["catalog_service", "router"]

router = APIRouter(prefix="/api/v1", tags=["catalog"])

_V1 = products.V1_SHAPE


@router.post(
    "/products",
    status_code=201,
    response_model=schemas.ProductPublic,
    responses=PROBLEM_RESPONSES,
    deprecated=True,
)
async def create_product(
    body: schemas.ProductCreate, principal: Merchant, service: Service
) -> Response:
    """Add a product (version 1); ``stock`` sets its available units through inventory."""
    return await products.create_product(_V1, body, principal, service)


@router.get(
    "/products", response_model=schemas.ProductPage, responses=PROBLEM_RESPONSES, deprecated=True
)
async def list_products(
    listing: Annotated[ProductListing, Depends(product_listing)], service: Service
) -> Response:
    """Browse and search the tenant's products, one keyset page at a time."""
    return await products.list_products(_V1, listing, service)


@router.get(
    "/products/{product_id}",
    response_model=schemas.ProductPublic,
    responses=PROBLEM_RESPONSES,
    deprecated=True,
)
async def get_product(
    product_id: str,
    principal: Reader,
    service: Service,
    if_none_match: IfNoneMatch = None,
    fields: Fields = None,
) -> Response:
    """One product, with ``ETag``; ``If-None-Match`` with the current tag → 304."""
    return await products.read_product(_V1, product_id, principal, service, if_none_match, fields)


@router.patch(
    "/products/{product_id}",
    response_model=schemas.ProductPublic,
    responses=PROBLEM_RESPONSES,
    deprecated=True,
)
async def update_product(
    product_id: str,
    body: schemas.ProductUpdate,
    principal: Merchant,
    service: Service,
    if_match: IfMatch = None,
) -> Response:
    """Change a product if ``If-Match`` names its current version (428 without, 412 if not)."""
    return await products.update_product(
        _V1, product_id, body.changes(), principal, service, if_match
    )


@router.delete(
    "/products/{product_id}", status_code=204, responses=PROBLEM_RESPONSES, deprecated=True
)
async def delete_product(
    product_id: str, principal: Merchant, service: Service, if_match: IfMatch = None
) -> Response:
    """Archive the product (a soft delete); customers stop seeing it at once."""
    return await products.archive_product(product_id, principal, service, if_match)


@router.put(
    "/products/{product_id}/stock",
    response_model=schemas.StockLevelPublic,
    responses=PROBLEM_RESPONSES,
)
async def set_stock(
    product_id: str, body: schemas.StockUpdate, principal: Stocker, service: Service
) -> Response:
    """Set the units available to sell; units held by reservations are left alone."""
    command = SetStock(
        tenant_id=principal.tenant_id,
        product_id=parse_product_id(product_id),
        available=body.available,
    )
    with catalog_errors():
        stock = await service.set_stock(command)
    public = schemas.StockLevelPublic(
        product_id=str(stock.product_id), available=stock.available, reserved=stock.reserved
    )
    return ORJSONResponse(public.model_dump(mode="json"))


@router.get(
    "/products/{product_id}/views",
    response_model=schemas.ProductViewsPublic,
    responses=PROBLEM_RESPONSES,
)
async def product_views(product_id: str, principal: Merchant, service: Service) -> Response:
    """How many times customers read the product: flushed to the database, plus the views
    this process counted since its last flush (write-behind, capabilities §8.2)."""
    with catalog_errors():
        count = await service.view_count(principal.tenant_id, parse_product_id(product_id))
    public = schemas.ProductViewsPublic(
        product_id=str(count.product_id), views=count.total, pending=count.pending
    )
    return ORJSONResponse(public.model_dump(mode="json"))


@router.get(
    "/products/{product_id}/reviews", response_model=schemas.ReviewPage, responses=PROBLEM_RESPONSES
)
async def list_reviews(
    product_id: str,
    principal: Reader,
    service: Service,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The product's reviews, newest first."""
    query = ListReviews(
        tenant_id=principal.tenant_id,
        product_id=parse_product_id(product_id),
        include_hidden=principal.can(Permission.PRODUCTS_WRITE),
        limit=limit,
        cursor=cursor,
    )
    with catalog_errors():
        page = await service.list_reviews(query)
    body = schemas.ReviewPage(
        items=[schemas.ReviewPublic.of(r) for r in page.items], next_cursor=page.next_cursor
    )
    return ORJSONResponse(body.model_dump(mode="json"))


@router.post(
    "/products/{product_id}/reviews",
    status_code=201,
    response_model=schemas.ReviewPublic,
    responses=PROBLEM_RESPONSES,
)
async def post_review(
    product_id: str, body: schemas.ReviewCreate, principal: Reviewer, service: Service
) -> Response:
    """Review an active product: one review per customer per product (a second → 409)."""
    command = PostReview(
        tenant_id=principal.tenant_id,
        product_id=parse_product_id(product_id),
        user_id=principal.user_id,
        rating=body.rating,
        text=body.text,
    )
    with catalog_errors():
        review = await service.post_review(command)
    return ORJSONResponse(schemas.ReviewPublic.of(review).model_dump(mode="json"), 201)
