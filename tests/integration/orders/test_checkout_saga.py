"""The checkout saga end to end on SQLite and PostgreSQL, against the real PSP simulator."""

from __future__ import annotations

import asyncio

import pytest
from orders_saga_support import Shop

from bazaar.contexts.orders import CancelOrder, OrderNotCancellableError, OrderStatus, Viewer
from bazaar.contexts.payments import PaymentStatus
from bazaar.kernel.saga import SagaState, StepStatus


class TestHappyPath:
    async def test_tok_ok_completes_and_sells_the_stock(self, shop: Shop) -> None:
        product = shop.new_product("12.50")
        await shop.inventory.set_available(shop.tenant_id, product, 5)

        placed = await shop.place([(product, 2)])
        assert placed.order.status is OrderStatus.PENDING
        assert placed.order.total.to_json() == {"amount": "25.00", "currency": "EUR"}

        saga = await shop.settle(placed.order.id)
        assert saga is not None
        assert saga.state is SagaState.COMPLETED
        assert [step.status for step in saga.steps] == [StepStatus.SUCCEEDED] * 5
        details = await shop.orders.get_order(Viewer(shop.tenant_id, 1, False), placed.order.id)
        assert details.order.status is OrderStatus.COMPLETED
        assert details.order.failure_reason is None
        level = await shop.stock(product)
        assert (level.available, level.reserved, level.sold) == (3, 0, 2)
        payment = await shop.container.payments.payment_for_order(shop.tenant_id, placed.order.id)
        assert payment is not None
        assert payment.status is PaymentStatus.SUCCEEDED


class TestCompensation:
    async def test_a_declined_card_cancels_and_restores_the_stock(self, shop: Shop) -> None:
        product = shop.new_product()
        await shop.inventory.set_available(shop.tenant_id, product, 4)

        placed = await shop.place([(product, 3)], card="tok_declined")
        saga = await shop.settle(placed.order.id)

        assert saga is not None
        assert saga.state is SagaState.COMPENSATED
        assert saga.failure_reason == "payment_declined"
        details = await shop.orders.get_order(Viewer(shop.tenant_id, 1, False), placed.order.id)
        assert details.order.status is OrderStatus.CANCELLED
        assert details.order.failure_reason == "payment_declined"
        statuses = {step.name: step.status for step in saga.steps}
        assert statuses["reserve_inventory"] is StepStatus.COMPENSATED
        assert statuses["capture_payment"] is StepStatus.SKIPPED
        level = await shop.stock(product)
        assert (level.available, level.reserved, level.sold) == (4, 0, 0)

    async def test_out_of_stock_cancels_without_touching_the_psp(self, shop: Shop) -> None:
        product = shop.new_product()
        await shop.inventory.set_available(shop.tenant_id, product, 1)
        before = await shop.psp.stats()

        placed = await shop.place([(product, 2)])
        saga = await shop.settle(placed.order.id)

        assert saga is not None
        assert saga.state is SagaState.COMPENSATED
        assert saga.failure_reason == "out_of_stock"
        assert await shop.psp.stats() == before
        level = await shop.stock(product)
        assert (level.available, level.reserved) == (1, 0)

    async def test_a_psp_outage_cancels_as_payment_unavailable(self, shop: Shop) -> None:
        product = shop.new_product()
        await shop.inventory.set_available(shop.tenant_id, product, 2)
        await shop.psp.client.put("/v1/admin/faults", json={"outage": True})

        placed = await shop.place([(product, 1)])
        saga = await shop.settle(placed.order.id)

        assert saga is not None
        assert saga.state is SagaState.COMPENSATED
        assert saga.failure_reason == "payment_unavailable"
        assert saga.step("authorize_payment").attempts == 4  # bounded, then given up
        level = await shop.stock(product)
        assert (level.available, level.reserved) == (2, 0)
        assert (
            await shop.container.payments.payment_for_order(shop.tenant_id, placed.order.id) is None
        )


class TestCancel:
    async def test_cancel_after_completion_is_refused(self, shop: Shop) -> None:
        product = shop.new_product()
        await shop.inventory.set_available(shop.tenant_id, product, 1)
        placed = await shop.place([(product, 1)])
        await shop.settle(placed.order.id)

        viewer = Viewer(shop.tenant_id, 1, False)
        with pytest.raises(OrderNotCancellableError) as refused:
            await shop.orders.cancel_order(CancelOrder(viewer, placed.order.id))
        assert refused.value.status == "completed"


class TestOversell:
    async def test_200_orders_for_10_units_complete_exactly_10(self, shop: Shop) -> None:
        product = shop.new_product()
        await shop.inventory.set_available(shop.tenant_id, product, 10)

        placed = await asyncio.gather(
            *(shop.place([(product, 1)], user_id=n % 7 + 1) for n in range(200))
        )
        sagas = await asyncio.gather(*(shop.settle(p.order.id) for p in placed))

        states = [saga.state for saga in sagas if saga is not None]
        reasons = sorted(
            (s.state.value, s.failure_reason or "", [st.error for st in s.steps if st.error])
            for s in sagas
            if s and s.failure_reason != "out_of_stock"
        )
        assert states.count(SagaState.COMPLETED) == 10, reasons
        assert states.count(SagaState.COMPENSATED) == 190
        assert {s.failure_reason for s in sagas if s and s.state is SagaState.COMPENSATED} == {
            "out_of_stock"
        }
        level = await shop.stock(product)
        assert (level.available, level.reserved, level.sold) == (0, 0, 10)
