"""POST/GET/DELETE /api/v1/webhook-endpoints over HTTP: secrets, the SSRF guard, tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from webhooks_http_support import Shop, WebhooksApi

from bazaar.testing.identity import assert_problem


@pytest.fixture
async def shop(api: WebhooksApi) -> Shop:
    return await api.shop()


class TestRegister:
    async def test_answers_201_with_the_secret_once(self, api: WebhooksApi, shop: Shop) -> None:
        response = await api.register(
            shop.merchant_token,
            "https://Hooks.Example/in?x=1",
            ["payments.payment_succeeded", "payments.refund_succeeded"],
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["id"].isdigit()
        assert body["secret"].startswith("whsec_")
        assert len(body["secret"]) >= 40
        assert body["url"] == "https://hooks.example/in?x=1"
        assert body["events"] == ["payments.payment_succeeded", "payments.refund_succeeded"]
        assert body["status"] == "active"
        assert body["disabled_reason"] is None
        assert body["created_at"].endswith("Z")
        assert response.headers["location"] == f"/api/v1/webhook-endpoints/{body['id']}"

        again = await api.get(shop.merchant_token, body["id"])
        assert again.status_code == 200
        assert "secret" not in again.json()
        listed = (await api.list(shop.merchant_token)).json()
        assert listed["items"] == [again.json()]
        assert "secret" not in listed["items"][0]

    async def test_admins_may_too_and_secrets_differ(self, api: WebhooksApi, shop: Shop) -> None:
        first = await api.registered(shop.admin_token)
        second = await api.registered(shop.merchant_token)
        assert first["secret"] != second["secret"]
        assert first["id"] != second["id"]

    async def test_duplicate_event_types_are_kept_once(self, api: WebhooksApi, shop: Shop) -> None:
        events = ["payments.payment_succeeded", "payments.payment_succeeded"]
        response = await api.register(shop.merchant_token, events=events)
        assert response.json()["events"] == ["payments.payment_succeeded"]

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("http://127.0.0.1", "private-address"),
            ("http://127.0.0.1:8000/hooks", "private-address"),
            ("http://[::1]", "private-address"),
            ("http://169.254.169.254", "private-address"),
            ("http://169.254.169.254/latest/meta-data/", "private-address"),
            ("http://10.0.0.1", "private-address"),
            ("http://192.168.1.10/x", "private-address"),
            ("http://[::ffff:127.0.0.1]/", "private-address"),
            ("http://2130706433/", "private-address"),
            ("ftp://x", "scheme"),
            ("file:///etc/passwd", "scheme"),
            ("https://user:pw@hooks.example/", "userinfo"),
            ("not a url", "malformed"),
        ],
    )
    async def test_unsafe_urls_are_refused_and_nothing_is_stored(
        self, api: WebhooksApi, shop: Shop, url: str, reason: str
    ) -> None:
        response = await api.register(shop.merchant_token, url)
        body = assert_problem(response, 422, "validation", field="url")
        (error,) = body["errors"]
        assert error["code"] == f"ssrf_{reason}"
        assert f"SSRF guard ({reason})" in error["message"]
        assert (await api.list(shop.merchant_token)).json()["items"] == []

    async def test_unknown_event_types_are_refused_on_events(
        self, api: WebhooksApi, shop: Shop
    ) -> None:
        response = await api.register(shop.merchant_token, events=["payments.nope"])
        body = assert_problem(response, 422, "validation", field="events")
        assert "payments.nope" in body["errors"][0]["message"]
        assert "payments.payment_succeeded" in body["errors"][0]["message"]
        assert (await api.list(shop.merchant_token)).json()["items"] == []

    async def test_every_field_at_fault_is_named_at_once(
        self, api: WebhooksApi, shop: Shop
    ) -> None:
        response = await api.register(shop.merchant_token, "http://10.0.0.1", ["x.y"])
        body = assert_problem(response, 422, "validation")
        assert {e["field"] for e in body["errors"]} == {"url", "events"}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"url": "https://hooks.example/"}, "events"),
            ({"url": "https://hooks.example/", "events": []}, "events"),
            ({"events": ["payments.payment_succeeded"]}, "url"),
            ({"url": "", "events": ["payments.payment_succeeded"]}, "url"),
            ({"url": "https://h.example/" + "a" * 2048, "events": ["x"]}, "url"),
            ({"url": "https://hooks.example/", "events": "payments.payment_succeeded"}, "events"),
            (
                {"url": "https://hooks.example/", "events": ["payments.payment_succeeded"], "x": 1},
                "x",
            ),
        ],
    )
    async def test_malformed_bodies_are_refused(
        self, api: WebhooksApi, shop: Shop, body: dict[str, Any], field: str
    ) -> None:
        response = await api.client.post(
            "/api/v1/webhook-endpoints",
            json=body,
            headers={"authorization": f"Bearer {shop.merchant_token}"},
        )
        assert_problem(response, 422, "validation", field=field)


class TestAccess:
    async def test_customers_are_forbidden_everywhere(self, api: WebhooksApi, shop: Shop) -> None:
        endpoint = await api.registered(shop.merchant_token)
        token = shop.customer_token
        for response in (
            await api.register(token),
            await api.list(token),
            await api.get(token, endpoint["id"]),
            await api.delete(token, endpoint["id"]),
            await api.enable(token, endpoint["id"]),
            await api.deliveries(token, endpoint["id"]),
            await api.replay(token, endpoint["id"], "1"),
        ):
            assert_problem(response, 403, "forbidden")

    async def test_anonymous_callers_are_unauthenticated(self, api: WebhooksApi) -> None:
        assert_problem(await api.register(None), 401, "unauthenticated")
        assert_problem(await api.list(None), 401, "unauthenticated")

    async def test_another_tenants_endpoints_are_not_found(
        self, api: WebhooksApi, shop: Shop
    ) -> None:
        endpoint = await api.registered(shop.merchant_token)
        other = await api.shop("Other")
        token = other.merchant_token
        assert (await api.list(token)).json()["items"] == []
        for response in (
            await api.get(token, endpoint["id"]),
            await api.delete(token, endpoint["id"]),
            await api.enable(token, endpoint["id"]),
            await api.deliveries(token, endpoint["id"]),
            await api.replay(token, endpoint["id"], "1"),
        ):
            assert_problem(response, 404, "not-found")
        assert (await api.get(shop.merchant_token, endpoint["id"])).status_code == 200

    @pytest.mark.parametrize("endpoint_id", ["abc", "-1", "99999999999999999999", "1.5"])
    async def test_malformed_ids_are_not_found(
        self, api: WebhooksApi, shop: Shop, endpoint_id: str
    ) -> None:
        assert_problem(await api.get(shop.merchant_token, endpoint_id), 404, "not-found")


class TestListAndDelete:
    async def test_lists_newest_first_in_pages(self, api: WebhooksApi, shop: Shop) -> None:
        made = [(await api.registered(shop.merchant_token))["id"] for _ in range(3)]
        first = (await api.list(shop.merchant_token, limit=2)).json()
        assert [e["id"] for e in first["items"]] == made[::-1][:2]
        assert first["next_cursor"] == made[1]
        rest = (await api.list(shop.merchant_token, limit=2, cursor=first["next_cursor"])).json()
        assert [e["id"] for e in rest["items"]] == [made[0]]
        assert rest["next_cursor"] is None
        bad = await api.list(shop.merchant_token, cursor="abc")
        assert_problem(bad, 422, "validation", field="query.cursor")

    async def test_delete_answers_204_then_404(self, api: WebhooksApi, shop: Shop) -> None:
        endpoint = await api.registered(shop.merchant_token)
        response = await api.delete(shop.merchant_token, endpoint["id"])
        assert response.status_code == 204
        assert response.content == b""
        assert_problem(await api.get(shop.merchant_token, endpoint["id"]), 404, "not-found")
        assert_problem(await api.delete(shop.merchant_token, endpoint["id"]), 404, "not-found")
        assert (await api.list(shop.merchant_token)).json()["items"] == []
