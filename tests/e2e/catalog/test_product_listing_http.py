"""Browsing over HTTP: keyset pages behind signed cursors, filters, sorts, search, fields,
injection payloads, and a statement count that does not grow with the page (no N+1)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from catalog_http_support import CatalogApi, Shop, product_body

from bazaar.testing.app import AppHarness
from bazaar.testing.identity import assert_problem
from bazaar.testing.statements import count_statements

PRICES = ["5.00", "9.99", "12.00", "5.00", "120.00", "9.99", "0.50"]


@pytest.fixture
async def stocked(api: CatalogApi, shop: Shop) -> list[dict[str, Any]]:
    """Seven active products (kitchen and home, prices with ties) and one draft."""
    made = []
    for n, price in enumerate(PRICES):
        response = await api.created(
            shop.merchant_token,
            name=f"{['Mug', 'Lamp', 'Rug'][n % 3]} {n}",
            price={"amount": price, "currency": "EUR"},
            category="kitchen" if n % 2 else "home",
            description="Stoneware" if n == 4 else "Plain",
            stock=n,
        )
        made.append(response.json())
    await api.created(shop.merchant_token, name="Secret Draft", status="draft")
    return made


async def walk(api: CatalogApi, token: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await api.list(token, **params, **({} if cursor is None else {"cursor": cursor}))
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


class TestPages:
    async def test_pages_of_two_walk_the_catalog_by_price_then_id(
        self, api: CatalogApi, shop: Shop, stocked: list[dict[str, Any]]
    ) -> None:
        items = await walk(api, shop.customer_token, sort="price", limit=2)
        expected = sorted(stocked, key=lambda p: (float(p["price"]["amount"]), int(p["id"])))
        assert [p["id"] for p in items] == [p["id"] for p in expected]
        assert [p["stock"]["available"] for p in items] == [
            p["stock"]["available"] for p in expected
        ]

    async def test_default_order_is_newest_first_and_the_last_page_has_no_cursor(
        self, api: CatalogApi, shop: Shop, stocked: list[dict[str, Any]]
    ) -> None:
        body = (await api.list(shop.customer_token)).json()
        assert [p["id"] for p in body["items"]] == [p["id"] for p in reversed(stocked)]
        assert body["next_cursor"] is None

    async def test_merchants_see_drafts_customers_never(
        self, api: CatalogApi, shop: Shop, stocked: list[dict[str, Any]]
    ) -> None:
        merchant = await walk(api, shop.merchant_token, limit=100)
        drafts = await walk(api, shop.merchant_token, status="draft")
        customer_drafts = await walk(api, shop.customer_token, status="draft")
        assert len(merchant) == len(stocked) + 1
        assert [p["name"] for p in drafts] == ["Secret Draft"]
        assert customer_drafts == []

    async def test_filters_combine(
        self, api: CatalogApi, shop: Shop, stocked: list[dict[str, Any]]
    ) -> None:
        items = await walk(
            api, shop.customer_token, category="kitchen", min_price="5", max_price="10"
        )
        assert sorted(p["price"]["amount"] for p in items) == ["5.00", "9.99", "9.99"]
        assert {p["category"] for p in items} == {"kitchen"}

    async def test_full_text_search_and_sparse_fields(
        self, api: CatalogApi, shop: Shop, stocked: list[dict[str, Any]]
    ) -> None:
        body = (await api.list(shop.customer_token, q="stoneware", fields="id,name")).json()
        assert body == {"items": [{"id": stocked[4]["id"], "name": "Lamp 4"}], "next_cursor": None}

    async def test_another_tenants_products_are_never_listed(
        self, api: CatalogApi, shop: Shop, stocked: list[dict[str, Any]]
    ) -> None:
        other = await api.shop("Globex")
        assert await walk(api, other.merchant_token, limit=100) == []
        assert await walk(api, other.customer_token, q="mug") == []


class TestRefusals:
    @pytest.mark.parametrize("limit", ["0", "101", "-5", "ten"])
    async def test_limit_outside_1_to_100_is_refused(
        self, api: CatalogApi, shop: Shop, limit: str
    ) -> None:
        response = await api.list(shop.customer_token, limit=limit)
        assert_problem(response, 422, "validation", field="query.limit")

    @pytest.mark.parametrize("sort", ["price;", "id", "-name", "random()", "price DESC"])
    async def test_sort_outside_the_whitelist_is_refused(
        self, api: CatalogApi, shop: Shop, sort: str
    ) -> None:
        assert_problem(
            await api.list(shop.customer_token, sort=sort), 422, "validation", field="query.sort"
        )

    async def test_a_tampered_cursor_is_refused(
        self, api: CatalogApi, shop: Shop, stocked: list[dict[str, Any]]
    ) -> None:
        cursor = (await api.list(shop.customer_token, limit=2)).json()["next_cursor"]
        payload, tag = cursor.split(".")
        data = base64.urlsafe_b64decode(payload + "==").replace(b'"p":[', b'"p":[1')
        forged = base64.urlsafe_b64encode(data).rstrip(b"=").decode() + "." + tag
        for bad in (forged, cursor[:-2] + "AA", "not-a-cursor", "a.b.c", cursor + "x"):
            response = await api.list(shop.customer_token, limit=2, cursor=bad)
            assert_problem(response, 422, "validation", field="query.cursor")

    async def test_a_cursor_for_another_query_or_tenant_is_refused(
        self, api: CatalogApi, shop: Shop, stocked: list[dict[str, Any]]
    ) -> None:
        cursor = (await api.list(shop.customer_token, limit=2)).json()["next_cursor"]
        other = await api.shop("Globex")
        for token, params in [
            (shop.customer_token, {"sort": "name"}),
            (shop.customer_token, {"category": "home"}),
            (shop.merchant_token, {}),  # a merchant's list holds drafts: another query
            (other.customer_token, {}),
        ]:
            response = await api.list(token, limit=2, cursor=cursor, **params)
            body = assert_problem(response, 422, "validation", field="query.cursor")
            assert "different query" in body["errors"][0]["message"]

    @pytest.mark.parametrize(
        "params",
        [
            {"min_price": "-1"},
            {"min_price": "1e3"},
            {"max_price": "abc"},
            {"min_price": "5", "max_price": "1"},
        ],
    )
    async def test_bad_price_bounds_are_refused(
        self, api: CatalogApi, shop: Shop, params: dict[str, str]
    ) -> None:
        response = await api.list(shop.customer_token, **params)
        body = assert_problem(response, 422, "validation")
        assert {e["field"] for e in body["errors"]} <= {"query.min_price", "query.max_price"}


INJECTIONS = [
    "' OR 1=1 --",
    '"; DROP TABLE products; --',
    "1; DELETE FROM products",
    "NEAR(mug lamp",
    "*",
    '"',
    'mug" OR "',
    "')) UNION SELECT * FROM users --",
    "mug & !lamp | rug:*",
    "%' AND '1'='1",
    "\\",
    "\u0000",
]


class TestInjection:
    @pytest.mark.parametrize("payload", INJECTIONS)
    async def test_payloads_in_text_filters_and_sort_have_no_effect(
        self, api: CatalogApi, shop: Shop, stocked: list[dict[str, Any]], payload: str
    ) -> None:
        for params in ({"q": payload}, {"category": payload}, {"sort": payload}):
            response = await api.list(shop.customer_token, **params)
            assert response.status_code in (200, 422), response.text
            if response.status_code == 200:
                # Plain words only: whatever matched holds them; nothing else came back.
                assert len(response.json()["items"]) <= len(stocked)
        everything = await walk(api, shop.customer_token, limit=100)
        assert len(everything) == len(stocked)

    async def test_search_words_never_become_query_syntax(
        self, api: CatalogApi, shop: Shop, stocked: list[dict[str, Any]]
    ) -> None:
        # 'OR' is a word here, not an operator: nothing holds all of "mug", "or", "lamp".
        assert (await api.list(shop.customer_token, q="mug OR lamp")).json()["items"] == []
        found = (await api.list(shop.customer_token, q='"mug*')).json()["items"]
        assert {p["name"].split()[0] for p in found} == {"Mug"}


class TestStatementCounts:
    async def test_a_page_costs_the_same_statements_for_1_20_and_100_products(
        self, app: AppHarness, api: CatalogApi, shop: Shop
    ) -> None:
        for n in range(100):
            await api.created(shop.merchant_token, name=f"Item {n}", stock=n)
        database = app.container.database
        # Warm identity's key lookups and the like, with a page none of the measured ones
        # is: each measured page is a cache miss, its queries those of a cold read.
        await api.list(shop.customer_token, limit=2)
        counts = {}
        for limit in (1, 20, 100):
            with count_statements(database.engine, database.read_engine) as counter:
                response = await api.list(shop.customer_token, limit=limit)
            assert len(response.json()["items"]) == limit
            counts[limit] = counter.count
            # One page query and one stock query, whatever the page size.
            assert len(counter.matching("FROM products")) == 1, counter.statements
            assert len(counter.matching("FROM stock")) == 1, counter.statements
        assert counts[1] == counts[20] == counts[100], counts

    async def test_a_product_body_never_asks_for_stock_it_does_not_show(
        self, app: AppHarness, api: CatalogApi, shop: Shop
    ) -> None:
        await api.create(shop.merchant_token, product_body(stock=3))
        database = app.container.database
        with count_statements(database.engine, database.read_engine) as counter:
            response = await api.list(shop.customer_token, fields="id,name")
        assert response.status_code == 200
        assert counter.matching("FROM stock") == []
