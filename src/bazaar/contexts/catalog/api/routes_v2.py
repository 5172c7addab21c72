"""Catalog routes v2 (capabilities §1.6): products with money in integer minor units.

The one change from v1 is the shape of ``price``, in answers and in bodies:
``{"amount_minor": 1999, "currency": "EUR", "exponent": 2}`` instead of
``{"amount": "19.99", "currency": "EUR"}`` (docs/api-versioning.md). Everything else is
v1's, through the same code: the service and its queries, cursors (a v1 cursor continues
on v2 and back), filters, ``?fields=``, ETags and ``If-None-Match``/``If-Match``, caching,
problems. v1's ``/products`` and ``/products/{id}`` are deprecated in favour of these
routes (``SUPERSEDED_ROUTES``); stock and reviews stay in v1, unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from bazaar.api.middleware.deprecation import Deprecation
from bazaar.contexts.catalog.api import products, schemas
from bazaar.contexts.catalog.api.params import (
    PROBLEM_RESPONSES,
    Fields,
    IfMatch,
    IfNoneMatch,
    Merchant,
    ProductListing,
    Reader,
    Service,
    product_listing,
)

__all__ = [
    "SUPERSEDED_ROUTES",
    "V1_PRODUCTS_DEPRECATED_AT",
    "V1_PRODUCTS_SUNSET_AT",
    "router",
]

router = APIRouter(prefix="/api/v2", tags=["catalog v2"])

# The one place these dates are written; docs/api-versioning.md repeats them (a test checks).
# A year between the two: long enough for a client's release cycle, short enough that v1
# does not become forever.
V1_PRODUCTS_DEPRECATED_AT = datetime(2026, 12, 1, tzinfo=UTC)
V1_PRODUCTS_SUNSET_AT = datetime(2027, 12, 1, tzinfo=UTC)

# v1 route templates → their deprecation (for ``DeprecationMiddleware``). Every method of
# these two templates has a v2 twin; /products/{id}/stock and /reviews have none and stay.
SUPERSEDED_ROUTES: dict[str, Deprecation] = {
    f"/api/v1{path}": Deprecation(
        V1_PRODUCTS_DEPRECATED_AT, V1_PRODUCTS_SUNSET_AT, f"/api/v2{path}"
    )
    for path in ("/products", "/products/{product_id}")
}

_V2 = products.V2_SHAPE


@router.post(
    "/products",
    status_code=201,
    response_model=schemas.ProductPublicV2,
    responses=PROBLEM_RESPONSES,
)
async def create_product_v2(
    body: schemas.ProductCreateV2, principal: Merchant, service: Service
) -> Response:
    """Add a product, its price in minor units; ``stock`` as in v1."""
    return await products.create_product(_V2, body, principal, service)


@router.get("/products", response_model=schemas.ProductPageV2, responses=PROBLEM_RESPONSES)
async def list_products_v2(
    listing: Annotated[ProductListing, Depends(product_listing)], service: Service
) -> Response:
    """Browse and search the tenant's products, as in v1; prices in minor units.

    ``min_price`` and ``max_price`` stay decimal amounts in major units: they compare
    products of every currency at once, which a count of minor units cannot express.
    """
    return await products.list_products(_V2, listing, service)


@router.get(
    "/products/{product_id}", response_model=schemas.ProductPublicV2, responses=PROBLEM_RESPONSES
)
async def get_product_v2(
    product_id: str,
    principal: Reader,
    service: Service,
    if_none_match: IfNoneMatch = None,
    fields: Fields = None,
) -> Response:
    """One product, with the same ``ETag`` as in v1; ``If-None-Match`` → 304."""
    return await products.read_product(_V2, product_id, principal, service, if_none_match, fields)


@router.patch(
    "/products/{product_id}", response_model=schemas.ProductPublicV2, responses=PROBLEM_RESPONSES
)
async def update_product_v2(
    product_id: str,
    body: schemas.ProductUpdateV2,
    principal: Merchant,
    service: Service,
    if_match: IfMatch = None,
) -> Response:
    """Change a product if ``If-Match`` names its current version; a v1 ETag is as good."""
    return await products.update_product(
        _V2, product_id, body.changes(), principal, service, if_match
    )


@router.delete("/products/{product_id}", status_code=204, responses=PROBLEM_RESPONSES)
async def delete_product_v2(
    product_id: str, principal: Merchant, service: Service, if_match: IfMatch = None
) -> Response:
    """Archive the product, as v1 does; here so a client can leave v1 behind entirely."""
    return await products.archive_product(product_id, principal, service, if_match)
