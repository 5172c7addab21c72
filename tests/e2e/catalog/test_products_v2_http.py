"""Products v2 over HTTP (capabilities §1.6): money in minor units, everything else as v1,
and the deprecation of the v1 routes it supersedes (``Deprecation``, ``Sunset``, ``Link``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from catalog_http_support import CatalogApi, Shop, product_body

from bazaar.testing.app import AppHarness
from bazaar.testing.identity import assert_problem, bearer

V2 = "/api/v2/products"
DEPRECATION = "@1796083200"  # 2026-12-01T00:00:00Z
SUNSET = "Wed, 01 Dec 2027 00:00:00 GMT"


def v2_body(**overrides: Any) -> dict[str, Any]:
    body = product_body() | {"price": {"amount_minor": 4990, "currency": "EUR"}}
    return body | overrides


class V2Api:
    """The v2 product calls."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def create(self, token: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(V2, json=body, headers=bearer(token))

    async def get(
        self, token: str, product_id: str, headers: dict[str, str] | None = None, **params: Any
    ) -> httpx.Response:
        return await self.client.get(
            f"{V2}/{product_id}", params=params, headers=bearer(token) | (headers or {})
        )

    async def list(self, token: str, **params: Any) -> httpx.Response:
        return await self.client.get(V2, params=params, headers=bearer(token))

    async def patch(
        self, token: str, product_id: str, body: dict[str, Any], if_match: str | None
    ) -> httpx.Response:
        headers = bearer(token) | ({} if if_match is None else {"if-match": if_match})
        return await self.client.patch(f"{V2}/{product_id}", json=body, headers=headers)

    async def delete(self, token: str, product_id: str, if_match: str) -> httpx.Response:
        headers = bearer(token) | {"if-match": if_match}
        return await self.client.delete(f"{V2}/{product_id}", headers=headers)


@pytest.fixture
def v2(app: AppHarness) -> V2Api:
    return V2Api(app.client)


def assert_deprecated(response: httpx.Response, successor: str) -> None:
    assert response.headers["deprecation"] == DEPRECATION
    assert response.headers["sunset"] == SUNSET
    assert response.headers["link"] == f'<{successor}>; rel="successor-version"'


def assert_current(response: httpx.Response) -> None:
    for name in ("deprecation", "sunset", "link"):
        assert name not in response.headers, name


class TestShape:
    async def test_a_product_reads_the_same_in_both_versions_but_for_its_price(
        self, api: CatalogApi, v2: V2Api, shop: Shop
    ) -> None:
        created = (await api.created(shop.merchant_token, stock=3)).json()
        v1 = (await api.get(shop.customer_token, created["id"])).json()
        response = await v2.get(shop.customer_token, created["id"])
        assert response.status_code == 200
        body = response.json()
        assert body["price"] == {"amount_minor": 4990, "currency": "EUR", "exponent": 2}
        assert {k: v for k, v in body.items() if k != "price"} == {
            k: v for k, v in v1.items() if k != "price"
        }
        assert list(body) == list(v1), "the same fields, in the same order"

    @pytest.mark.parametrize(
        ("amount", "currency", "minor", "exponent"),
        [("1500", "JPY", 1500, 0), ("12.345", "KWD", 12345, 3), ("0.00", "EUR", 0, 2)],
    )
    async def test_minor_units_follow_each_currencys_exponent(
        self,
        api: CatalogApi,
        v2: V2Api,
        shop: Shop,
        amount: str,
        currency: str,
        minor: int,
        exponent: int,
    ) -> None:
        price = {"amount": amount, "currency": currency}
        created = (await api.created(shop.merchant_token, price=price)).json()
        body = (await v2.get(shop.customer_token, created["id"])).json()
        assert body["price"] == {"amount_minor": minor, "currency": currency, "exponent": exponent}

    async def test_sparse_fieldsets_work_as_in_v1(
        self, api: CatalogApi, v2: V2Api, shop: Shop
    ) -> None:
        created = (await api.created(shop.merchant_token)).json()
        response = await v2.get(shop.customer_token, created["id"], fields="id,price")
        assert response.json() == {
            "id": created["id"],
            "price": {"amount_minor": 4990, "currency": "EUR", "exponent": 2},
        }
        refused = await v2.get(shop.customer_token, created["id"], fields="amount")
        assert_problem(refused, 422, "validation", field="query.fields")


class TestConditionalRequests:
    async def test_the_etag_is_v1s_and_if_none_match_answers_304(
        self, api: CatalogApi, v2: V2Api, shop: Shop
    ) -> None:
        created = await api.created(shop.merchant_token)
        pid, etag = created.json()["id"], created.headers["etag"]
        response = await v2.get(shop.customer_token, pid)
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "private, max-age=60, stale-while-revalidate=30"
        again = await v2.get(shop.customer_token, pid, headers={"if-none-match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag

    async def test_a_v2_patch_takes_a_v1_etag_and_speaks_minor_units(
        self, api: CatalogApi, v2: V2Api, shop: Shop
    ) -> None:
        created = await api.created(shop.merchant_token)
        pid = created.json()["id"]
        body = {"price": {"amount_minor": 3900, "currency": "EUR", "exponent": 2}}
        response = await v2.patch(shop.merchant_token, pid, body, created.headers["etag"])
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'"{pid}-v2"'
        assert response.json()["price"]["amount_minor"] == 3900
        v1 = (await api.get(shop.merchant_token, pid)).json()
        assert v1["price"] == {"amount": "39.00", "currency": "EUR"}

    async def test_v2_writes_need_if_match_as_v1_writes_do(
        self, api: CatalogApi, v2: V2Api, shop: Shop
    ) -> None:
        created = await api.created(shop.merchant_token)
        pid = created.json()["id"]
        blind = await v2.patch(shop.merchant_token, pid, {"name": "Blind"}, None)
        assert_problem(blind, 428, "precondition-required")
        stale = await v2.patch(shop.merchant_token, pid, {"name": "Stale"}, f'"{pid}-v9"')
        assert_problem(stale, 412, "version-mismatch")
        deleted = await v2.delete(shop.merchant_token, pid, created.headers["etag"])
        assert deleted.status_code == 204
        assert deleted.headers["etag"] == f'"{pid}-v2"'
        assert_problem(await v2.get(shop.customer_token, pid), 404, "not-found")


class TestWrites:
    async def test_create_in_minor_units_answers_201_with_a_v2_location(
        self, api: CatalogApi, v2: V2Api, shop: Shop
    ) -> None:
        response = await v2.create(shop.merchant_token, v2_body(stock=4))
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["location"] == f"{V2}/{body['id']}"
        assert response.headers["etag"] == f'"{body["id"]}-v1"'
        assert body["price"] == {"amount_minor": 4990, "currency": "EUR", "exponent": 2}
        assert body["stock"] == {"available": 4, "reserved": 0}
        v1 = (await api.get(shop.customer_token, body["id"])).json()
        assert v1["price"] == {"amount": "49.90", "currency": "EUR"}

    @pytest.mark.parametrize(
        ("price", "field"),
        [
            ({"amount_minor": "4990", "currency": "EUR"}, "price.amount_minor"),
            ({"amount_minor": 49.9, "currency": "EUR"}, "price.amount_minor"),
            ({"amount_minor": -1, "currency": "EUR"}, "price.amount_minor"),
            ({"amount_minor": 100_000_001, "currency": "EUR"}, "price.amount_minor"),
            ({"amount_minor": 4990, "currency": "EUR", "exponent": 3}, "price.exponent"),
            ({"amount_minor": 4990, "currency": "EURO"}, "price.currency"),
            ({"amount": "49.90", "currency": "EUR"}, "price.amount_minor"),
        ],
    )
    async def test_refuses_a_price_that_is_not_minor_units_of_a_currency(
        self, v2: V2Api, shop: Shop, price: dict[str, Any], field: str
    ) -> None:
        response = await v2.create(shop.merchant_token, v2_body(price=price))
        assert_problem(response, 422, "validation", field=field)

    async def test_customers_cannot_write(self, v2: V2Api, shop: Shop) -> None:
        assert_problem(await v2.create(shop.customer_token, v2_body()), 403, "forbidden")


class TestLists:
    async def test_pages_walk_the_catalog_with_cursors_and_a_v1_cursor_continues_on_v2(
        self, api: CatalogApi, v2: V2Api, shop: Shop
    ) -> None:
        made = [
            (await api.created(shop.merchant_token, name=f"Mug {n}")).json()["id"] for n in range(5)
        ]
        first = (await api.list(shop.customer_token, limit=2)).json()
        seen = [p["id"] for p in first["items"]]
        cursor = first["next_cursor"]
        while cursor is not None:
            page = (await v2.list(shop.customer_token, limit=2, cursor=cursor)).json()
            assert all("amount_minor" in p["price"] for p in page["items"])
            seen += [p["id"] for p in page["items"]]
            cursor = page["next_cursor"]
        assert seen == list(reversed(made))

    async def test_filters_and_sorts_are_v1s(self, api: CatalogApi, v2: V2Api, shop: Shop) -> None:
        for amount in ("5.00", "12.00", "120.00"):
            await api.created(shop.merchant_token, price={"amount": amount, "currency": "EUR"})
        response = await v2.list(shop.customer_token, min_price="6", sort="-price")
        assert response.status_code == 200
        assert [p["price"]["amount_minor"] for p in response.json()["items"]] == [12000, 1200]
        tampered = await v2.list(shop.customer_token, cursor="not-a-cursor")
        assert_problem(tampered, 422, "validation", field="query.cursor")


class TestNotFound:
    @pytest.mark.parametrize("product_id", ["384329147199279125", "abc", "-1"])
    async def test_an_unknown_product_is_a_404_problem(
        self, v2: V2Api, shop: Shop, product_id: str
    ) -> None:
        response = await v2.get(shop.customer_token, product_id)
        assert_problem(response, 404, "not-found")
        assert_current(response)

    async def test_v2_needs_a_caller_as_v1_does(self, app: AppHarness) -> None:
        assert_problem(await app.client.get(V2), 401, "unauthenticated")


class TestDeprecationOfV1:
    async def test_every_answer_of_the_superseded_v1_routes_announces_v2(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        created = await api.created(shop.merchant_token)
        pid, etag = created.json()["id"], created.headers["etag"]
        assert_deprecated(created, V2)
        item = f"{V2}/{pid}"
        assert_deprecated(await api.list(shop.customer_token), V2)
        assert_deprecated(await api.get(shop.customer_token, pid), item)
        not_modified = await api.get(shop.customer_token, pid, headers={"if-none-match": etag})
        assert not_modified.status_code == 304
        assert_deprecated(not_modified, item)
        patched = await api.patch(shop.merchant_token, pid, {"name": "New"}, etag)
        assert_deprecated(patched, item)
        assert_deprecated(await api.delete(shop.merchant_token, pid, patched.headers["etag"]), item)
        # Errors too: from the handler (404), from the auth dependency (401).
        missing = await api.get(shop.customer_token, "123")
        assert_problem(missing, 404, "not-found")
        assert_deprecated(missing, f"{V2}/123")
        anonymous = await api.list(None)
        assert_problem(anonymous, 401, "unauthenticated")
        assert_deprecated(anonymous, V2)

    async def test_routes_v2_does_not_supersede_are_not_deprecated(
        self, api: CatalogApi, v2: V2Api, shop: Shop
    ) -> None:
        pid = (await api.created(shop.merchant_token)).json()["id"]
        assert_current(await api.set_stock(shop.merchant_token, pid, {"available": 2}))
        assert_current(await api.reviews(shop.customer_token, pid))
        assert_current(await v2.get(shop.customer_token, pid))
        assert_current(await v2.list(shop.customer_token))

    async def test_openapi_marks_exactly_the_superseded_operations_deprecated(
        self, app: AppHarness
    ) -> None:
        spec = (await app.client.get("/openapi.json")).json()
        deprecated = {
            (method.upper(), path)
            for path, operations in spec["paths"].items()
            for method, operation in operations.items()
            if operation.get("deprecated")
        }
        assert deprecated == {
            ("POST", "/api/v1/products"),
            ("GET", "/api/v1/products"),
            ("GET", "/api/v1/products/{product_id}"),
            ("PATCH", "/api/v1/products/{product_id}"),
            ("DELETE", "/api/v1/products/{product_id}"),
        }
        v2_operations = {
            (method.upper(), path)
            for path, operations in spec["paths"].items()
            if path.startswith("/api/v2/")
            for method in operations
        }
        assert {(m, p.replace("/api/v1/", "/api/v2/")) for m, p in deprecated} == v2_operations
        money = spec["components"]["schemas"]["MinorMoneyPublic"]
        assert money["properties"]["amount_minor"]["type"] == "integer"
