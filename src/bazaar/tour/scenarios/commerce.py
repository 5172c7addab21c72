"""What the commerce scenarios share: a shop with one product, placing orders, waiting."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bazaar.tour.runner import Story, TourFailedError, bearer

__all__ = ["ADDRESS", "TERMINAL", "Shop", "open_shop"]

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}
TERMINAL = frozenset({"completed", "cancelled", "needs_attention"})


class Shop:
    """A fresh tenant with a merchant (its admin), one product and a way to buy it."""

    def __init__(
        self, story: Story, tenant: dict[str, Any], merchant: str, product: dict[str, Any]
    ):
        self.story = story
        self.tenant = tenant
        self.merchant = bearer(merchant)
        self.product = product

    @property
    def product_id(self) -> str:
        return str(self.product["id"])

    async def stock(self) -> dict[str, int]:
        response = await self.story.client.get(
            f"/api/v1/products/{self.product_id}", headers=self.merchant
        )
        if response.status_code != 200:
            raise TourFailedError(f"could not read the product ({response.status_code})")
        stock: dict[str, int] = response.json()["stock"]
        return stock

    async def customer(self) -> dict[str, str]:
        return await self.story.new_customer(self.tenant)

    async def order(
        self,
        customer: dict[str, str],
        *,
        card: str = "tok_ok",
        quantity: int = 1,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return await self.story.client.post(
            "/api/v1/orders",
            json={
                "items": [{"product_id": self.product_id, "quantity": quantity}],
                "payment": {"card_token": card},
                "shipping_address": ADDRESS,
            },
            headers={
                **bearer(customer["token"]),
                "idempotency-key": f"tour-{uuid.uuid4()}",
                **(headers or {}),
            },
        )

    async def settle(
        self, customer: dict[str, str], order_id: str, *, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Poll the order until its saga has ended; the order as last read."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = await self.story.client.get(
                f"/api/v1/orders/{order_id}", headers=bearer(customer["token"])
            )
            order: dict[str, Any] = response.json()
            if response.status_code == 200 and order["status"] in TERMINAL:
                return order
            if time.monotonic() > deadline:
                raise TourFailedError(f"order {order_id} did not finish within {timeout_s:g} s")
            await asyncio.sleep(0.2)


async def open_shop(story: Story, *, stock: int, price: str = "24.90") -> Shop:
    tenant = await story.create_tenant()
    merchant = await story.admin_token(tenant)
    response = await story.client.post(
        "/api/v1/products",
        json={
            "name": f"Tour teapot {uuid.uuid4().hex[:6]}",
            "price": {"amount": price, "currency": "EUR"},
            "category": "kitchen",
            "stock": stock,
        },
        headers=bearer(merchant),
    )
    if response.status_code != 201:
        raise TourFailedError(f"could not create a product ({response.status_code})")
    return Shop(story, tenant, merchant, response.json())


def timeline(story: Story, order: dict[str, Any]) -> None:
    """Print the saga's steps as the order shows them."""
    for step in order["saga"]["steps"]:
        error = f" — {step['error']}" if step.get("error") else ""
        story.step(
            f"   saga step {step['name']:<18} {step['status']:<12} "
            f"attempts {step['attempts']}{error}"
        )
