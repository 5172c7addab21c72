"""POST /api/v1/payments/{id}/refunds over HTTP: bounded by the capture, idempotent, concurrent."""

from __future__ import annotations

import asyncio

import pytest
from payments_http_support import PaymentsApi, Shop, payment_body

from bazaar.psp.testing import PspHarness
from bazaar.testing.identity import assert_problem


@pytest.fixture
async def shop(api: PaymentsApi) -> Shop:
    return await api.shop()


class TestRefunds:
    async def test_partial_refunds_up_to_the_captured_amount_then_409(
        self, api: PaymentsApi, shop: Shop, psp: PspHarness
    ) -> None:
        payment = await api.paid(shop.customer.token, "p", payment_body("30.00"))
        first = await api.refund(shop.merchant_token, payment["id"], "r1", "10.00")
        assert first.status_code == 201, first.text
        refund = first.json()
        assert refund["payment_id"] == payment["id"]
        assert refund["amount"] == {"amount": "10.00", "currency": "EUR"}
        assert refund["status"] == "succeeded"
        # The default is everything left.
        rest = await api.refund(shop.admin_token, payment["id"], "r2")
        assert rest.status_code == 201, rest.text
        assert rest.json()["amount"]["amount"] == "20.00"
        over = await api.refund(shop.merchant_token, payment["id"], "r3", "0.01")
        assert_problem(over, 409, "conflict")

        details = (await api.get(shop.customer.token, payment["id"])).json()
        assert details["refunded_amount"]["amount"] == "30.00"
        assert [r["amount"]["amount"] for r in details["refunds"]] == ["10.00", "20.00"]
        assert (await psp.stats())["refunds"]["total"] == 2

    async def test_replays_answer_the_stored_201_and_the_stored_409(
        self, api: PaymentsApi, shop: Shop, psp: PspHarness
    ) -> None:
        payment = await api.paid(shop.customer.token, "p", payment_body("5.00"))
        done = await api.refund(shop.merchant_token, payment["id"], "all")
        replay = await api.refund(shop.merchant_token, payment["id"], "all")
        assert (replay.status_code, replay.content) == (201, done.content)
        assert replay.headers["idempotent-replayed"] == "true"

        refused = await api.refund(shop.merchant_token, payment["id"], "more", "1.00")
        assert_problem(refused, 409, "conflict")
        again = await api.refund(shop.merchant_token, payment["id"], "more", "1.00")
        assert (again.status_code, again.content) == (409, refused.content)
        assert again.headers["idempotent-replayed"] == "true"
        assert (await psp.stats())["refunds"]["total"] == 1

    async def test_a_declined_payment_cannot_be_refunded(
        self, api: PaymentsApi, shop: Shop
    ) -> None:
        payment = await api.paid(shop.customer.token, "p", payment_body(card="tok_declined"))
        response = await api.refund(shop.merchant_token, payment["id"], "r")
        body = assert_problem(response, 409, "conflict")
        assert "declined" in body["detail"]

    async def test_who_may_refund_and_what_they_can_see(self, api: PaymentsApi, shop: Shop) -> None:
        payment = await api.paid(shop.customer.token, "p")
        assert_problem(await api.refund(None, payment["id"], "r"), 401, "unauthenticated")
        # Customers pay; refunds are the merchant's decision.
        assert_problem(await api.refund(shop.customer.token, payment["id"], "r"), 403, "forbidden")
        other = await api.shop("Globex")
        assert_problem(await api.refund(other.merchant_token, payment["id"], "r"), 404, "not-found")
        assert_problem(await api.refund(shop.merchant_token, "12345", "r"), 404, "not-found")
        assert_problem(await api.refund(shop.merchant_token, payment["id"], None), 400,
                       "idempotency-key-missing")  # fmt: skip
        wrong_currency = await api.client.post(
            f"/api/v1/payments/{payment['id']}/refunds",
            json={"amount": {"amount": "1.00", "currency": "USD"}},
            headers={"authorization": f"Bearer {shop.merchant_token}", "Idempotency-Key": "r"},
        )
        assert_problem(wrong_currency, 422, "validation", field="amount.currency")
        # None of these stored anything: the key still refunds.
        assert (await api.refund(shop.merchant_token, payment["id"], "r")).status_code == 201

    async def test_concurrent_refunds_of_everything_succeed_once(
        self, api: PaymentsApi, shop: Shop, psp: PspHarness
    ) -> None:
        payment = await api.paid(shop.customer.token, "p", payment_body("50.00"))
        responses = await asyncio.gather(
            *(api.refund(shop.merchant_token, payment["id"], f"all-{i}") for i in range(12))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 11, [r.text for r in responses]
        details = (await api.get(shop.merchant_token, payment["id"])).json()
        assert details["refunded_amount"]["amount"] == "50.00"
        assert len(details["refunds"]) == 1
        assert (await psp.stats())["refunds"]["total"] == 1
