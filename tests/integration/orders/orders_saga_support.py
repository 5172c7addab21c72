"""The checkout saga's test shop: real services on a real database, prices from a dict."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bazaar.api.idempotency import IdempotencyTicket
from bazaar.bootstrap import (
    Container,
)
from bazaar.contexts.inventory import InventoryService, StockLevel
from bazaar.contexts.orders import OrderDetails, OrderItem, OrderService, PlaceOrder
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.idempotency import Decision, StoredResponse
from bazaar.kernel.money import Money
from bazaar.kernel.saga import SagaRecord
from bazaar.psp.testing import PspHarness

SEED = 20261126
ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


class FixedPrices:
    """The catalog's price list, as a dict: checkout's tests are not about the catalog."""

    def __init__(self) -> None:
        self.table: dict[tuple[int, int], Money] = {}

    async def prices(self, tenant_id: int, product_ids: Sequence[int]) -> Mapping[int, Money]:
        return {
            pid: self.table[(tenant_id, pid)]
            for pid in product_ids
            if (tenant_id, pid) in self.table
        }


@dataclass(slots=True)
class Shop:
    container: Container
    orders: OrderService
    inventory: InventoryService
    price_list: FixedPrices
    psp: PspHarness
    clock: ManualClock
    tenant_id: int

    def new_product(self, price: str = "10.00") -> int:
        product_id = self.container.ids.next_id()
        self.price_list.table[(self.tenant_id, product_id)] = Money.of(price, "EUR")
        return product_id

    async def stock(self, product_id: int) -> StockLevel:
        return (await self.inventory.stock_levels(self.tenant_id, [product_id]))[product_id]

    async def place(
        self,
        items: Sequence[tuple[int, int]],
        *,
        card: str = "tok_ok",
        user_id: int = 1,
        key: str | None = None,
    ) -> OrderDetails:
        """Place an order the way the API does: claim a key, then the operation."""
        key = key or f"k-{uuid.uuid4()}"
        scope = f"{self.tenant_id}:{user_id}"
        claim = await self.orders.claim_key(scope, key, "fingerprint")
        assert claim.decision is Decision.PROCEED
        assert claim.lock_token is not None
        ticket = IdempotencyTicket(scope, key, claim.lock_token)
        placed: list[OrderDetails] = []

        def render(details: OrderDetails) -> StoredResponse:
            placed.append(details)
            return StoredResponse(202, b"{}", {})

        command = PlaceOrder(
            tenant_id=self.tenant_id,
            user_id=user_id,
            items=tuple(OrderItem(pid, qty) for pid, qty in items),
            card_token=card,
            shipping_address=ADDRESS,
        )
        await self.orders.place_order(command, ticket, render)
        return placed[0]

    async def settle(self, order_id: int) -> SagaRecord | None:
        return await self.orders.supervisor.wait(order_id)
