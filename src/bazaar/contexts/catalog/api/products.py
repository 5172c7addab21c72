"""The product endpoints' work, once for every API version: each version passes its shape.

A version differs only in how a product is written out (``ProductShape``) and in its
request bodies' money; the calls to the service, the conditional requests and the headers
are here, so v1 and v2 cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from bazaar.api.responses import ORJSONResponse
from bazaar.contexts.catalog.api import schemas
from bazaar.contexts.catalog.api.etags import expected_versions, if_none_match_hits, product_etag
from bazaar.contexts.catalog.api.params import (
    ProductListing,
    cache_headers,
    parse_product_id,
    picked_fields,
    product_headers,
)
from bazaar.contexts.catalog.api.problems import catalog_errors
from bazaar.contexts.catalog.application import CatalogService, ProductDetails
from bazaar.contexts.catalog.domain.commands import ArchiveProduct, CreateProduct, UpdateProduct
from bazaar.contexts.catalog.domain.model import ProductChanges, ProductStatus
from bazaar.contexts.identity import Permission, Principal

__all__ = [
    "V1_SHAPE",
    "V2_SHAPE",
    "ProductShape",
    "archive_product",
    "create_product",
    "list_products",
    "read_product",
    "update_product",
]


@dataclass(frozen=True, slots=True)
class ProductShape:
    """How one API version writes a product out, and where its products live."""

    prefix: str
    public: Callable[[ProductDetails], BaseModel]

    def body(self, details: ProductDetails, fields: frozenset[str] | None) -> dict[str, Any]:
        body = self.public(details).model_dump(mode="json")
        if fields is None:
            return body
        return {name: value for name, value in body.items() if name in fields}


V1_SHAPE = ProductShape("/api/v1", schemas.ProductPublic.of)
V2_SHAPE = ProductShape("/api/v2", schemas.ProductPublicV2.of)


async def create_product(
    shape: ProductShape,
    body: schemas.ProductCreate | schemas.ProductCreateV2,
    principal: Principal,
    service: CatalogService,
) -> Response:
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
        shape.body(details, None),
        status_code=201,
        headers={
            "location": f"{shape.prefix}/products/{product.id}",
            "etag": product_etag(product.id, product.version),
        },
    )


async def list_products(
    shape: ProductShape, listing: ProductListing, service: CatalogService
) -> Response:
    with catalog_errors():
        page = await service.list_products(listing.query)
    return ORJSONResponse(
        {
            "items": [shape.body(d, listing.fields) for d in page.items],
            "next_cursor": page.next_cursor,
        },
        headers=cache_headers(page.cache),
    )


async def read_product(
    shape: ProductShape,
    raw_id: str,
    principal: Principal,
    service: CatalogService,
    if_none_match: str | None,
    fields: str | None,
) -> Response:
    picked = picked_fields(fields)
    with catalog_errors():
        read = await service.read_product(
            principal.tenant_id,
            parse_product_id(raw_id),
            include_hidden=principal.can(Permission.PRODUCTS_WRITE),
        )
    product = read.product
    assert product is not None  # read_product raises for a product the caller cannot see
    manager = principal.can(Permission.PRODUCTS_WRITE)
    if not manager:
        service.record_view(product)
    headers = product_headers(product) | cache_headers(read.status)
    if if_none_match_hits(if_none_match, headers["etag"]):
        return Response(status_code=304, headers=headers)
    if picked is not None and "stock" not in picked:
        details = ProductDetails(product, None)
    else:
        details = await service.details(product, live_stock=manager)
    return ORJSONResponse(shape.body(details, picked), headers=headers)


async def update_product(
    shape: ProductShape,
    raw_id: str,
    changes: ProductChanges,
    principal: Principal,
    service: CatalogService,
    if_match: str | None,
) -> Response:
    pid = parse_product_id(raw_id)
    command = UpdateProduct(
        tenant_id=principal.tenant_id,
        product_id=pid,
        expected_versions=expected_versions(if_match, pid),
        changes=changes,
    )
    with catalog_errors():
        details = await service.update_product(command)
    return ORJSONResponse(shape.body(details, None), headers=product_headers(details.product))


async def archive_product(
    raw_id: str, principal: Principal, service: CatalogService, if_match: str | None
) -> Response:
    pid = parse_product_id(raw_id)
    command = ArchiveProduct(
        tenant_id=principal.tenant_id,
        product_id=pid,
        expected_versions=expected_versions(if_match, pid),
    )
    with catalog_errors():
        product = await service.archive_product(command)
    return Response(status_code=204, headers={"etag": product_etag(product.id, product.version)})
