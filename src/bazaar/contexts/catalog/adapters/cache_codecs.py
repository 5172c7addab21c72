"""How the catalog's cached values are written to the shared cache (Redis): compact JSON.

Every process of a deployment reads what the others wrote, so the format is explicit (no
pickle: a cache must never be a way to run code) and carries a version: a value written by
an older release with another shape fails to decode, which the cache treats as a miss.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from bazaar.contexts.catalog.application.caching import CachedPage
from bazaar.contexts.catalog.domain.model import Product, ProductStatus, ProductStock
from bazaar.kernel.money import Money

__all__ = ["CachedPageCodec", "ProductCodec", "ProductStockCodec"]

_FORMAT = 1


def _product_json(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "tenant_id": product.tenant_id,
        "name": product.name,
        "description": product.description,
        "price": product.price.to_json(),
        "category": product.category,
        "attributes": product.attributes,
        "status": product.status.value,
        "version": product.version,
        "created_at": product.created_at.isoformat(),
        "updated_at": product.updated_at.isoformat(),
    }


def _product_of(data: dict[str, Any]) -> Product:
    return Product(
        id=data["id"],
        tenant_id=data["tenant_id"],
        name=data["name"],
        description=data["description"],
        price=Money.from_json(data["price"]),
        category=data["category"],
        attributes=data["attributes"],
        status=ProductStatus(data["status"]),
        version=data["version"],
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
    )


def _checked(raw: bytes) -> Any:
    data = orjson.loads(raw)
    if not isinstance(data, dict) or data.get("f") != _FORMAT:
        raise ValueError("a cached value of another format")
    return data["v"]


class ProductCodec:
    def encode(self, value: Product) -> bytes:
        return orjson.dumps({"f": _FORMAT, "v": _product_json(value)})

    def decode(self, raw: bytes) -> Product:
        return _product_of(_checked(raw))


class CachedPageCodec:
    def encode(self, value: CachedPage) -> bytes:
        products = [_product_json(p) for p in value.products]
        return orjson.dumps({"f": _FORMAT, "v": {"p": products, "n": value.next_cursor}})

    def decode(self, raw: bytes) -> CachedPage:
        data = _checked(raw)
        return CachedPage([_product_of(p) for p in data["p"]], data["n"])


class ProductStockCodec:
    def encode(self, value: ProductStock) -> bytes:
        return orjson.dumps(
            {"f": _FORMAT, "v": [value.product_id, value.available, value.reserved]}
        )

    def decode(self, raw: bytes) -> ProductStock:
        product_id, available, reserved = _checked(raw)
        return ProductStock(product_id, available=available, reserved=reserved)
