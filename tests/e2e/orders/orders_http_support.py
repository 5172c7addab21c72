"""The orders endpoints as short calls, for the orders e2e tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from bazaar.testing.app import AppHarness
from bazaar.testing.identity import IdentityApi, bearer

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}


def order_body(product_id: str, quantity: int = 1, card: str = "tok_ok") -> dict[str, Any]:
    return {
        "items": [{"product_id": product_id, "quantity": quantity}],
        "payment": {"card_token": card},
        "shipping_address": ADDRESS,
    }


@dataclass
class Store:
    tenant_id: str
    merchant_token: str


class OrdersApi:
    def __init__(self, app: AppHarness) -> None:
        self.app = app
        self.client: httpx.AsyncClient = app.client
        self.identity = IdentityApi(app.client)
        self._customers = 0

    async def store(self, name: str = "Acme") -> Store:
        tenant = await self.identity.create_tenant(name)
        merchant = await self.identity.user_token(
            tenant.id, "merchant@acme.test", "merchant", tenant.admin_token
        )
        return Store(tenant.id, merchant)

    async def product(self, store: Store, *, stock: int, price: str = "10.00") -> str:
        response = await self.client.post(
            "/api/v1/products",
            json={
                "name": f"Teapot {uuid.uuid4().hex[:6]}",
                "price": {"amount": price, "currency": "EUR"},
                "category": "kitchen",
                "stock": stock,
            },
            headers=bearer(store.merchant_token),
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def customer(self, store: Store) -> str:
        self._customers += 1
        email = f"customer{self._customers}@acme.test"
        response = await self.identity.register(store.tenant_id, email)
        assert response.status_code == 201, response.text
        return await self.identity.access_token(store.tenant_id, email)

    async def place(
        self, token: str, body: dict[str, Any], key: str | None = "default"
    ) -> httpx.Response:
        headers = bearer(token)
        if key is not None:
            headers["Idempotency-Key"] = f"k-{uuid.uuid4()}" if key == "default" else key
        return await self.client.post("/api/v1/orders", json=body, headers=headers)

    async def settled(self, token: str, order_id: str) -> dict[str, Any]:
        """The order once its saga ended (the saga runs in this test's event loop)."""
        await self.app.container.orders.supervisor.wait(int(order_id))
        response = await self.client.get(f"/api/v1/orders/{order_id}", headers=bearer(token))
        assert response.status_code == 200, response.text
        order: dict[str, Any] = response.json()
        return order

    async def stock(self, store: Store, product_id: str) -> dict[str, int]:
        response = await self.client.get(
            f"/api/v1/products/{product_id}", headers=bearer(store.merchant_token)
        )
        assert response.status_code == 200, response.text
        stock: dict[str, int] = response.json()["stock"]
        return stock
