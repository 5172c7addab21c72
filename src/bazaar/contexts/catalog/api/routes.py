"""Catalog routes (api.md "Catalog and inventory"); HTTP only, no SQL, no rules.

Every route needs a caller of the tenant and sees only that tenant's products: another
tenant's product answers 404. Merchants and admins (``products:write``) write products and
see drafts and archived ones; everyone else sees active products only (a hidden product
answers 404). Product writes need ``If-Match`` (428 without, 412 on a stale ETag).

Caching of ``GET /products/{id}``: ``Cache-Control: private, max-age=60`` for an active
product and ``private, no-cache`` for a hidden one, with ``Vary: Authorization,
X-API-Key``, and ``If-None-Match`` → 304. Never ``public``: ids are global but answers are
per tenant and per role (a shared cache keyed on the URL would hand one tenant's product,
or a merchant's view of a draft, to someone else). A browser may reuse an active
product's answer for up to a minute; after that it revalidates for the price of a 304.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from bazaar.api.problems import FieldError, ProblemError
from bazaar.api.responses import ORJSONResponse
from bazaar.api.security import current_principal, require_permission
from bazaar.contexts.catalog.api import schemas
from bazaar.contexts.catalog.api.etags import expected_versions, if_none_match_hits, product_etag
from bazaar.contexts.catalog.api.problems import catalog_errors
from bazaar.contexts.catalog.application import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    MAX_CURSOR_LENGTH,
    MAX_LIMIT,
    CatalogService,
    ListProducts,
    ListReviews,
    ProductDetails,
    ProductSort,
)
from bazaar.contexts.catalog.domain import model
from bazaar.contexts.catalog.domain.commands import (
    ArchiveProduct,
    CreateProduct,
    PostReview,
    SetStock,
    UpdateProduct,
)
from bazaar.contexts.catalog.domain.model import Product, ProductStatus
from bazaar.contexts.identity import Permission, Principal
from bazaar.kernel.ids import MAX_SNOWFLAKE_ID

__all__ = ["catalog_service", "router"]

router = APIRouter(prefix="/api/v1", tags=["catalog"])

ACTIVE_CACHE_CONTROL = "private, max-age=60"
HIDDEN_CACHE_CONTROL = "private, no-cache"
VARY = "Authorization, X-API-Key"

_PROBLEMS: dict[int | str, dict[str, Any]] = {
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
PriceBound = Annotated[str | None, Query(pattern=r"^[0-9]{1,7}(\.[0-9]{1,6})?$")]


def _id(raw: str) -> int:
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_SNOWFLAKE_ID:
        return int(raw)
    raise ProblemError(404, "not-found", "No such resource.")


def _fields(raw: str | None) -> frozenset[str] | None:
    """The fields ``?fields=`` picks (capabilities §1.11); None for all of them."""
    if raw is None:
        return None
    names = frozenset(name.strip() for name in raw.split(","))
    if not names or not names <= set(schemas.PRODUCT_FIELDS):
        known = ", ".join(schemas.PRODUCT_FIELDS)
        raise ProblemError(
            422,
            "validation",
            "One or more fields are invalid.",
            errors=[FieldError("query.fields", f"names unknown fields; known: {known}", "enum")],
        )
    return names


def _body(details: ProductDetails, fields: frozenset[str] | None) -> dict[str, Any]:
    body = schemas.ProductPublic.of(details).model_dump(mode="json")
    if fields is None:
        return body
    return {name: value for name, value in body.items() if name in fields}


def _product_headers(product: Product) -> dict[str, str]:
    return {
        "etag": product_etag(product.id, product.version),
        "cache-control": (
            ACTIVE_CACHE_CONTROL if product.visible_to_customers else HIDDEN_CACHE_CONTROL
        ),
        "vary": VARY,
    }


@router.post(
    "/products", status_code=201, response_model=schemas.ProductPublic, responses=_PROBLEMS
)
async def create_product(
    body: schemas.ProductCreate, principal: Merchant, service: Service
) -> Response:
    """Add a product (version 1); ``stock`` sets its available units through inventory."""
    command = CreateProduct(
        tenant_id=principal.tenant_id,
        name=body.name,
        description=body.description,
        price=body.price.money(),
        category=body.category,
        attributes=body.attributes,
        status=ProductStatus(body.status),
        stock=body.stock,
    )
    with catalog_errors():
        details = await service.create_product(command)
    product = details.product
    return ORJSONResponse(
        _body(details, None),
        status_code=201,
        headers={
            "location": f"/api/v1/products/{product.id}",
            "etag": product_etag(product.id, product.version),
        },
    )


@router.get("/products", response_model=schemas.ProductPage, responses=_PROBLEMS)
async def list_products(
    principal: Reader,
    service: Service,
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
) -> Response:
    """Browse and search the tenant's products, one keyset page at a time."""
    picked = _fields(fields)
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
    with catalog_errors():
        page = await service.list_products(query)
    return ORJSONResponse(
        {"items": [_body(d, picked) for d in page.items], "next_cursor": page.next_cursor}
    )


@router.get("/products/{product_id}", response_model=schemas.ProductPublic, responses=_PROBLEMS)
async def get_product(
    product_id: str,
    principal: Reader,
    service: Service,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
    fields: Fields = None,
) -> Response:
    """One product, with ``ETag``; ``If-None-Match`` with the current tag → 304."""
    picked = _fields(fields)
    with catalog_errors():
        product = await service.get_product(
            principal.tenant_id,
            _id(product_id),
            include_hidden=principal.can(Permission.PRODUCTS_WRITE),
        )
    headers = _product_headers(product)
    if if_none_match_hits(if_none_match, headers["etag"]):
        return Response(status_code=304, headers=headers)
    if picked is not None and "stock" not in picked:
        details = ProductDetails(product, None)
    else:
        details = (await service.with_stock(principal.tenant_id, [product]))[0]
    return ORJSONResponse(_body(details, picked), headers=headers)


@router.patch("/products/{product_id}", response_model=schemas.ProductPublic, responses=_PROBLEMS)
async def update_product(
    product_id: str,
    body: schemas.ProductUpdate,
    principal: Merchant,
    service: Service,
    if_match: IfMatch = None,
) -> Response:
    """Change a product if ``If-Match`` names its current version (428 without, 412 if not)."""
    pid = _id(product_id)
    command = UpdateProduct(
        tenant_id=principal.tenant_id,
        product_id=pid,
        expected_versions=expected_versions(if_match, pid),
        changes=body.changes(),
    )
    with catalog_errors():
        details = await service.update_product(command)
    return ORJSONResponse(_body(details, None), headers=_product_headers(details.product))


@router.delete("/products/{product_id}", status_code=204, responses=_PROBLEMS)
async def delete_product(
    product_id: str, principal: Merchant, service: Service, if_match: IfMatch = None
) -> Response:
    """Archive the product (a soft delete); customers stop seeing it at once."""
    pid = _id(product_id)
    command = ArchiveProduct(
        tenant_id=principal.tenant_id,
        product_id=pid,
        expected_versions=expected_versions(if_match, pid),
    )
    with catalog_errors():
        product = await service.archive_product(command)
    return Response(status_code=204, headers={"etag": product_etag(product.id, product.version)})


@router.put(
    "/products/{product_id}/stock",
    response_model=schemas.StockLevelPublic,
    responses=_PROBLEMS,
)
async def set_stock(
    product_id: str, body: schemas.StockUpdate, principal: Stocker, service: Service
) -> Response:
    """Set the units available to sell; units held by reservations are left alone."""
    command = SetStock(
        tenant_id=principal.tenant_id, product_id=_id(product_id), available=body.available
    )
    with catalog_errors():
        stock = await service.set_stock(command)
    public = schemas.StockLevelPublic(
        product_id=str(stock.product_id), available=stock.available, reserved=stock.reserved
    )
    return ORJSONResponse(public.model_dump(mode="json"))


@router.get(
    "/products/{product_id}/reviews", response_model=schemas.ReviewPage, responses=_PROBLEMS
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
        product_id=_id(product_id),
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
    responses=_PROBLEMS,
)
async def post_review(
    product_id: str, body: schemas.ReviewCreate, principal: Reviewer, service: Service
) -> Response:
    """Review an active product: one review per customer per product (a second → 409)."""
    command = PostReview(
        tenant_id=principal.tenant_id,
        product_id=_id(product_id),
        user_id=principal.user_id,
        rating=body.rating,
        text=body.text,
    )
    with catalog_errors():
        review = await service.post_review(command)
    return ORJSONResponse(schemas.ReviewPublic.of(review).model_dump(mode="json"), 201)
