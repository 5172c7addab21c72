"""POST /api/v1/webhooks/psp over HTTP: real signed deliveries of the simulator, applied once."""

from __future__ import annotations

import httpx
import orjson
from payments_http_support import PaymentsApi, payment_body

from bazaar.kernel.clock import ManualClock
from bazaar.psp import SIGNATURE_HEADER, sign
from bazaar.psp.testing import TEST_WEBHOOK_SECRET, PspHarness, ReceivedWebhook, WebhookRecorder
from bazaar.testing.identity import assert_problem

WEBHOOKS = "/api/v1/webhooks/psp"


async def deliver(api: PaymentsApi, delivery: ReceivedWebhook) -> httpx.Response:
    """Hand bazaar a delivery exactly as the simulator sent it: the same bytes and signature."""
    headers = {"content-type": "application/json", SIGNATURE_HEADER: delivery.signature or ""}
    return await api.client.post(WEBHOOKS, content=delivery.body, headers=headers)


async def signed(api: PaymentsApi, body: bytes, timestamp: float) -> httpx.Response:
    signature = sign(TEST_WEBHOOK_SECRET, body, int(timestamp))
    headers = {"content-type": "application/json", SIGNATURE_HEADER: signature}
    return await api.client.post(WEBHOOKS, content=body, headers=headers)


class TestPspWebhooks:
    async def test_a_refund_made_at_the_psp_is_applied_once(
        self, api: PaymentsApi, psp: PspHarness, webhooks: WebhookRecorder
    ) -> None:
        shop = await api.shop()
        payment = await api.paid(shop.customer.token, "p", payment_body("40.00"))
        # A refund made at the processor itself (its dashboard), not through bazaar.
        refunded = await psp.client.post(
            f"/v1/authorizations/{payment['psp_reference']}/refunds",
            json={"amount": "15.00"},
            headers={"Idempotency-Key": "dashboard-refund"},
        )
        assert refunded.status_code == 201, refunded.text
        await psp.api.webhooks.drain()
        deliveries = webhooks.accepted()
        assert sorted(d.event()["type"] for d in deliveries) == [
            "authorization.captured",
            "authorization.created",
            "refund.succeeded",
        ]

        for delivery in deliveries:
            response = await deliver(api, delivery)
            assert response.status_code == 200, response.text
            assert response.json() == {"id": delivery.event()["id"], "duplicate": False}
        details = (await api.get(shop.merchant_token, payment["id"])).json()
        assert details["refunded_amount"]["amount"] == "15.00"
        [refund] = details["refunds"]
        assert (refund["amount"]["amount"], refund["status"]) == ("15.00", "succeeded")

        # The PSP retries deliveries: a replayed event id is 200 and changes nothing.
        for delivery in deliveries:
            again = await deliver(api, delivery)
            assert again.status_code == 200
            assert again.json()["duplicate"] is True
        assert (await api.get(shop.merchant_token, payment["id"])).json() == details
        # What bazaar recorded of the refund still bounds its own refunds.
        rest = await api.refund(shop.merchant_token, payment["id"], "r")
        assert rest.json()["amount"]["amount"] == "25.00"

    async def test_bad_missing_or_stale_signatures_are_400(
        self, api: PaymentsApi, clock: ManualClock
    ) -> None:
        body = orjson.dumps({"id": "evt_1", "type": "authorization.captured", "data": {}})
        forged = sign("not-the-secret", body, int(clock.now()))
        for headers in ({SIGNATURE_HEADER: forged}, {}, {SIGNATURE_HEADER: "t=1"}):
            response = await api.client.post(
                WEBHOOKS, content=body, headers={"content-type": "application/json", **headers}
            )
            assert_problem(response, 400, "invalid-signature")
        stale = await signed(api, body, clock.now() - 301)
        problem = assert_problem(stale, 400, "invalid-signature")
        assert "timestamp_out_of_tolerance" in problem["detail"]
        # Within ±5 minutes it is accepted (an unknown type is recorded and ignored).
        fresh = await signed(api, body, clock.now() - 299)
        assert fresh.status_code == 200, fresh.text

    async def test_a_signed_body_that_is_not_an_event_is_400(
        self, api: PaymentsApi, clock: ManualClock
    ) -> None:
        for body in (b"[1]", b"{", b'{"id": "evt_2", "type": "x"}'):
            response = await signed(api, body, clock.now())
            assert_problem(response, 400, "malformed-body")
