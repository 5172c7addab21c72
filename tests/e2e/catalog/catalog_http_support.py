"""The catalog endpoints as short calls for HTTP tests: shops, products, ETags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from bazaar.testing.identity import IdentityApi, bearer

__all__ = ["CatalogApi", "Shop", "product_body"]


@dataclass
class Shop:
    tenant_id: str
    admin_token: str
    merchant_token: str
    customer_token: str
    other_customer_token: str


def product_body(name: str = "Brass Lamp", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "description": "A reading lamp with a linen shade.",
        "price": {"amount": "49.90", "currency": "EUR"},
        "category": "home",
        "attributes": {"color": "brass", "watts": 40},
    }
    return body | overrides


class CatalogApi:
    """Catalog calls; remembers the tenants it made (for cleanup)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.identity = IdentityApi(client)
        self.tenants: list[int] = []

    async def shop(self, name: str = "Acme") -> Shop:
        tenant = await self.identity.create_tenant(name)
        self.tenants.append(int(tenant.id))
        merchant = await self.identity.user_token(
            tenant.id, "merchant@acme.test", "merchant", tenant.admin_token
        )
        customers = []
        for email in ("customer@acme.test", "other@acme.test"):
            response = await self.identity.register(tenant.id, email)
            assert response.status_code == 201, response.text
            customers.append(await self.identity.access_token(tenant.id, email))
        return Shop(tenant.id, tenant.admin_token, merchant, customers[0], customers[1])

    async def create(self, token: str | None, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post("/api/v1/products", json=body, headers=bearer(token))

    async def created(self, token: str, **overrides: Any) -> httpx.Response:
        response = await self.create(token, product_body(**overrides))
        assert response.status_code == 201, response.text
        return response

    async def get(
        self,
        token: str | None,
        product_id: str,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> httpx.Response:
        return await self.client.get(
            f"/api/v1/products/{product_id}",
            params=params,
            headers=bearer(token) | (headers or {}),
        )

    async def list(self, token: str | None, **params: Any) -> httpx.Response:
        return await self.client.get("/api/v1/products", params=params, headers=bearer(token))

    async def patch(
        self, token: str | None, product_id: str, body: dict[str, Any], if_match: str | None
    ) -> httpx.Response:
        headers = bearer(token) | ({} if if_match is None else {"if-match": if_match})
        return await self.client.patch(f"/api/v1/products/{product_id}", json=body, headers=headers)

    async def delete(
        self, token: str | None, product_id: str, if_match: str | None
    ) -> httpx.Response:
        headers = bearer(token) | ({} if if_match is None else {"if-match": if_match})
        return await self.client.delete(f"/api/v1/products/{product_id}", headers=headers)

    async def set_stock(self, token: str | None, product_id: str, body: Any) -> httpx.Response:
        return await self.client.put(
            f"/api/v1/products/{product_id}/stock", json=body, headers=bearer(token)
        )

    async def reviews(self, token: str | None, product_id: str, **params: Any) -> httpx.Response:
        return await self.client.get(
            f"/api/v1/products/{product_id}/reviews", params=params, headers=bearer(token)
        )

    async def review(self, token: str | None, product_id: str, body: Any) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/products/{product_id}/reviews", json=body, headers=bearer(token)
        )
