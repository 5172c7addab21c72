"""POST/GET /api/v1/payments over HTTP: charges, declines, replays, every refusal (api.md)."""

from __future__ import annotations

from typing import Any

import pytest
from payments_http_support import PaymentsApi, Shop, payment_body

from bazaar.psp.testing import PspHarness
from bazaar.testing.identity import assert_problem, bearer


@pytest.fixture
async def shop(api: PaymentsApi) -> Shop:
    return await api.shop()


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


INVALID_BODIES: list[tuple[dict[str, Any], str]] = [
    (payment_body("19.999"), "amount.amount"),
    (payment_body("0"), "amount.amount"),
    (payment_body("-5"), "amount.amount"),
    (payment_body("1000000.01"), "amount.amount"),
    ({"amount": {"amount": 19.99, "currency": "EUR"}, "card_token": "tok_ok"}, "amount.amount"),
    ({"amount": money("10", "XXX"), "card_token": "tok_ok"}, "amount.currency"),
    ({"amount": money("10", "eur"), "card_token": "tok_ok"}, "amount.currency"),
    (payment_body(card=""), "card_token"),
    (payment_body(card="t" * 65), "card_token"),
    (payment_body(tip="1"), "tip"),
    ({"card_token": "tok_ok"}, "amount"),
]


class TestCreatePayment:
    async def test_charges_the_card_and_answers_201(
        self, api: PaymentsApi, shop: Shop, psp: PspHarness
    ) -> None:
        response = await api.pay(
            shop.customer.token, "pay-1", payment_body("19.9", description="Order 7")
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "succeeded"
        assert body["amount"] == money("19.90")
        assert body["refunded_amount"] == money("0.00")
        assert body["psp_reference"].startswith("auth_")
        assert body["description"] == "Order 7"
        assert body["decline_code"] is None
        assert body["id"].isdigit()
        assert body["created_at"].endswith("Z")
        assert response.headers["location"] == f"/api/v1/payments/{body['id']}"
        assert "idempotent-replayed" not in response.headers
        authorizations = (await psp.stats())["authorizations"]
        assert (authorizations["total"], authorizations["by_status"]["captured"]) == (1, 1)

    async def test_a_decline_is_a_201_that_is_stored_and_replayed(
        self, api: PaymentsApi, shop: Shop, psp: PspHarness
    ) -> None:
        first = await api.pay(shop.customer.token, "dec-1", payment_body(card="tok_declined"))
        assert first.status_code == 201, first.text
        assert first.json()["status"] == "declined"
        assert first.json()["decline_code"] == "card_declined"
        again = await api.pay(shop.customer.token, "dec-1", payment_body(card="tok_declined"))
        assert again.status_code == 201
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        assert (await psp.stats())["requests"]["by_operation"] == {"authorize": 1}

    async def test_a_replay_answers_the_stored_response_without_calling_the_psp(
        self, api: PaymentsApi, shop: Shop, psp: PspHarness
    ) -> None:
        first = await api.pay(shop.customer.token, "same")
        # Formatting and key order do not make a different request.
        reordered = {"card_token": "tok_ok", "amount": {"currency": "EUR", "amount": "19.990"}}
        replay = await api.pay(shop.customer.token, "same", reordered)
        assert replay.status_code == 201
        assert replay.content == first.content
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["location"] == first.headers["location"]
        assert (await psp.stats())["authorizations"]["total"] == 1

    async def test_the_same_key_with_another_body_is_422(
        self, api: PaymentsApi, shop: Shop
    ) -> None:
        await api.paid(shop.customer.token, "k")
        response = await api.pay(shop.customer.token, "k", payment_body("20.00"))
        assert_problem(response, 422, "idempotency-key-reused")

    async def test_keys_are_scoped_per_user(
        self, api: PaymentsApi, shop: Shop, psp: PspHarness
    ) -> None:
        other = await api.customer(shop.tenant_id)
        mine = await api.paid(shop.customer.token, "shared-key")
        theirs = await api.paid(other.token, "shared-key", payment_body("5.00"))
        assert mine["id"] != theirs["id"]
        assert (await psp.stats())["authorizations"]["total"] == 2

    async def test_a_missing_or_invalid_key_is_400(self, api: PaymentsApi, shop: Shop) -> None:
        for headers, reason in [
            ({}, "needs an Idempotency-Key"),
            ({"Idempotency-Key": "x" * 256}, "longer than 255"),
            ({"Idempotency-Key": "key\x7f"}, "not printable ASCII"),
        ]:
            response = await api.client.post(
                "/api/v1/payments",
                json=payment_body(),
                headers=bearer(shop.customer.token) | headers,
            )
            body = assert_problem(response, 400, "idempotency-key-missing")
            assert reason in body["detail"]

    async def test_invalid_bodies_are_422_and_store_nothing(
        self, api: PaymentsApi, shop: Shop
    ) -> None:
        for body, field in INVALID_BODIES:
            response = await api.pay(shop.customer.token, "fix-me", body)
            assert_problem(response, 422, "validation", field=field)
        # Nothing was stored: the same key serves the corrected request.
        await api.paid(shop.customer.token, "fix-me")

    async def test_currencies_keep_their_own_minor_units(
        self, api: PaymentsApi, shop: Shop
    ) -> None:
        yen = {"amount": money("1500", "JPY"), "card_token": "tok_ok"}
        assert (await api.paid(shop.customer.token, "jpy", yen))["amount"] == money("1500", "JPY")
        sen = {"amount": money("1500.5", "JPY"), "card_token": "tok_ok"}
        response = await api.pay(shop.customer.token, "jpy-2", sen)
        assert_problem(response, 422, "validation", field="amount.amount")

    async def test_a_card_the_psp_refuses_is_422_and_the_key_stays_usable(
        self, api: PaymentsApi, shop: Shop
    ) -> None:
        response = await api.pay(shop.customer.token, "card", payment_body(card="tok_stolen"))
        body = assert_problem(response, 422, "validation", field="card_token")
        assert body["errors"][0]["code"] == "unknown_card_token"
        await api.paid(shop.customer.token, "card")

    async def test_without_credentials_401_and_without_the_scope_403(
        self, api: PaymentsApi, shop: Shop
    ) -> None:
        assert_problem(await api.pay(None, "k"), 401, "unauthenticated")
        created = await api.client.post(
            "/api/v1/api-keys",
            json={"name": "reader", "scopes": ["payments:read"]},
            headers=bearer(shop.merchant_token),
        )
        assert created.status_code == 201, created.text
        response = await api.client.post(
            "/api/v1/payments",
            json=payment_body(),
            headers={"x-api-key": created.json()["key"], "Idempotency-Key": "k"},
        )
        assert_problem(response, 403, "forbidden")

    async def test_a_body_that_is_not_json_is_415(self, api: PaymentsApi, shop: Shop) -> None:
        response = await api.client.post(
            "/api/v1/payments",
            content=b"amount=1",
            headers=bearer(shop.customer.token)
            | {"Idempotency-Key": "k", "content-type": "application/x-www-form-urlencoded"},
        )
        assert_problem(response, 415, "unsupported-media-type")


class TestGetPayment:
    async def test_the_owner_and_the_tenants_merchant_see_it(
        self, api: PaymentsApi, shop: Shop
    ) -> None:
        created = await api.paid(shop.customer.token, "k")
        for token in (shop.customer.token, shop.merchant_token, shop.admin_token):
            response = await api.get(token, created["id"])
            assert response.status_code == 200, response.text
            body = response.json()
            assert {k: body[k] for k in created} == created
            assert body["refunds"] == []

    async def test_other_customers_and_other_tenants_get_404(
        self, api: PaymentsApi, shop: Shop
    ) -> None:
        created = await api.paid(shop.customer.token, "k")
        other_customer = await api.customer(shop.tenant_id)
        other_shop = await api.shop("Globex")
        for token in (other_customer.token, other_shop.merchant_token, other_shop.admin_token):
            assert_problem(await api.get(token, created["id"]), 404, "not-found")

    async def test_unknown_ids_are_404(self, api: PaymentsApi, shop: Shop) -> None:
        for payment_id in ("nope", "1" * 20, "99999999999"):
            assert_problem(await api.get(shop.customer.token, payment_id), 404, "not-found")

    async def test_without_credentials_401(self, api: PaymentsApi, shop: Shop) -> None:
        created = await api.paid(shop.customer.token, "k")
        assert_problem(await api.get(None, created["id"]), 401, "unauthenticated")
