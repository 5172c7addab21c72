"""Fixtures for the checkout saga on a real database, a real PSP simulator and real services."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bazaar.api.idempotency import IdempotencyTicket
from bazaar.bootstrap import (
    Container,
    build_container,
    build_inventory_service,
    build_order_service,
)
from bazaar.contexts.inventory import InventoryService, StockLevel
from bazaar.contexts.orders import OrderDetails, OrderItem, OrderService, PlaceOrder
from bazaar.infra.db.migrate import upgrade
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.idempotency import Decision, StoredResponse
from bazaar.kernel.money import Money
from bazaar.kernel.saga import SagaRecord
from bazaar.psp.testing import TEST_API_KEY, TEST_WEBHOOK_SECRET, PspHarness, running_psp
from bazaar.settings import Settings

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


@pytest.fixture
def clock() -> ManualClock:
    # Real time at the start: snowflake ids of successive tests on the shared PostgreSQL
    # database never meet. Sleeps (retry backoff) advance it instead of waiting.
    return ManualClock(start=time.time())


@pytest.fixture
async def psp(tmp_path: Path) -> AsyncIterator[PspHarness]:
    async with running_psp(
        tmp_path / "psp", clock=ManualClock(start=time.time()), rng=random.Random(SEED)
    ) as harness:
        yield harness


@pytest.fixture
async def shop(
    database_url: str, tmp_path: Path, clock: ManualClock, psp: PspHarness
) -> AsyncIterator[Shop]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        demo=True,
        psp_url="http://psp.test",
        psp_api_key=TEST_API_KEY,
        psp_webhook_secret=TEST_WEBHOOK_SECRET,
        # The oversell test sends 200 orders at once to SQLite's single writer: a request
        # may queue for it longer than the default 5 s while the sagas also write.
        database={"pool_timeout_s": 60.0},
        # The PSP simulator runs in this test's event loop: under that rush a call can wait
        # for the loop longer than the default 2 s, which is not what these tests are about.
        psp_timeout_s=15.0,
    )
    container = await build_container(
        settings, clock=clock, psp_transport=httpx.ASGITransport(app=psp.app)
    )
    try:
        await upgrade(container.database.engine)
        prices = FixedPrices()
        orders = build_order_service(
            settings,
            clock,
            container.database,
            ids=container.ids,
            payments=container.payments,
            prices=prices,
        )
        yield Shop(
            container=container,
            orders=orders,
            inventory=build_inventory_service(clock, container.database),
            price_list=prices,
            psp=psp,
            clock=clock,
            tenant_id=container.ids.next_id(),
        )
        await orders.aclose()
    finally:
        await container.aclose()
