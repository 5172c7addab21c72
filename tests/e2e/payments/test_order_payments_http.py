"""A checkout's payment seen over HTTP: GET shows authorized and voided payments; an
authorized payment cannot be refunded (it is voided instead)."""

from __future__ import annotations

from payments_http_support import PaymentsApi

from bazaar.contexts.payments import AuthorizeOrderPayment
from bazaar.kernel.money import Money
from bazaar.testing.app import AppHarness
from bazaar.testing.identity import assert_problem


class TestOrderPaymentOverHttp:
    async def test_get_shows_the_authorization_then_the_void(
        self, api: PaymentsApi, app: AppHarness
    ) -> None:
        shop = await api.shop()
        me = await api.identity.me(shop.customer.token)
        assert me.status_code == 200, me.text
        payments = app.container.payments
        tenant_id = int(shop.tenant_id)
        payment = await payments.authorize_order_payment(
            AuthorizeOrderPayment(
                tenant_id=tenant_id,
                user_id=int(me.json()["id"]),
                order_id=99,
                amount=Money.of("12.00", "EUR"),
                card_token="tok_ok",
                operation_key="order:99:authorize",
            )
        )

        seen = await api.get(shop.customer.token, str(payment.id))
        assert seen.status_code == 200, seen.text
        assert (seen.json()["status"], seen.json()["captured_at"]) == ("authorized", None)
        refused = await api.refund(shop.merchant_token, str(payment.id), "refund-authorized")
        assert_problem(refused, 409, "conflict")

        await payments.void_payment(tenant_id, payment.id)
        seen = await api.get(shop.merchant_token, str(payment.id))
        assert seen.status_code == 200, seen.text
        assert seen.json()["status"] == "voided"
