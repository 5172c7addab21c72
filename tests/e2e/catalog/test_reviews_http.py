"""Reviews over HTTP: a nested resource, one review per customer per product."""

from __future__ import annotations

import asyncio

import pytest
from catalog_http_support import CatalogApi, Shop

from bazaar.testing.identity import assert_problem


class TestReviews:
    async def test_a_customer_reviews_an_active_product_once(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        pid = (await api.created(shop.merchant_token)).json()["id"]
        response = await api.review(shop.customer_token, pid, {"rating": 5, "text": "Bright!"})
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["product_id"] == pid
        assert (body["rating"], body["text"]) == (5, "Bright!")
        again = await api.review(shop.customer_token, pid, {"rating": 1})
        assert_problem(again, 409, "conflict")

    async def test_racing_reviews_by_one_customer_land_once(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        pid = (await api.created(shop.merchant_token)).json()["id"]
        responses = await asyncio.gather(
            *(api.review(shop.customer_token, pid, {"rating": r}) for r in (1, 2, 3))
        )
        assert sorted(r.status_code for r in responses) == [201, 409, 409]
        listed = (await api.reviews(shop.customer_token, pid)).json()
        assert len(listed["items"]) == 1

    async def test_reviews_are_listed_newest_first_in_pages(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        pid = (await api.created(shop.merchant_token)).json()["id"]
        await api.review(shop.customer_token, pid, {"rating": 4, "text": "first"})
        await api.review(shop.other_customer_token, pid, {"rating": 2, "text": "second"})
        page = (await api.reviews(shop.customer_token, pid, limit=1)).json()
        assert [r["text"] for r in page["items"]] == ["second"]
        rest = (await api.reviews(shop.customer_token, pid, cursor=page["next_cursor"])).json()
        assert [r["text"] for r in rest["items"]] == ["first"]
        assert rest["next_cursor"] is None
        # A review cursor is good for its own product only.
        other = (await api.created(shop.merchant_token, name="Other")).json()["id"]
        response = await api.reviews(shop.customer_token, other, cursor=page["next_cursor"])
        assert_problem(response, 422, "validation", field="query.cursor")

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"rating": 0}, "rating"),
            ({"rating": 6}, "rating"),
            ({"rating": "5"}, "rating"),
            ({"rating": 4.5}, "rating"),
            ({"rating": 3, "text": "x" * 2001}, "text"),
            ({"rating": 3, "title": "Nice"}, "title"),
            ({}, "rating"),
        ],
    )
    async def test_invalid_reviews_are_refused_naming_the_field(
        self, api: CatalogApi, shop: Shop, body: dict[str, object], field: str
    ) -> None:
        pid = (await api.created(shop.merchant_token)).json()["id"]
        response = await api.review(shop.customer_token, pid, body)
        assert_problem(response, 422, "validation", field=field)

    async def test_merchants_do_not_review_and_hidden_products_take_no_reviews(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        pid = (await api.created(shop.merchant_token)).json()["id"]
        draft = (await api.created(shop.merchant_token, status="draft")).json()["id"]
        assert_problem(await api.review(shop.merchant_token, pid, {"rating": 5}), 403, "forbidden")
        response = await api.review(shop.customer_token, draft, {"rating": 5})
        assert_problem(response, 404, "not-found")
        assert_problem(await api.reviews(shop.customer_token, draft), 404, "not-found")
        other = await api.shop("Globex")
        assert_problem(await api.review(other.customer_token, pid, {"rating": 5}), 404, "not-found")
        assert_problem(await api.reviews(other.customer_token, pid), 404, "not-found")
