"""Products over HTTP: merchant CRUD with ETags and If-Match, visibility, tenancy, stock."""

from __future__ import annotations

import asyncio

import pytest
from catalog_http_support import CatalogApi, Shop, product_body

from bazaar.testing.identity import assert_problem


class TestCreate:
    async def test_a_merchant_creates_a_product_with_location_etag_and_stock(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        response = await api.create(shop.merchant_token, product_body(stock=12))
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["location"] == f"/api/v1/products/{body['id']}"
        assert response.headers["etag"] == f'"{body["id"]}-v1"'
        assert body == {
            "id": body["id"],
            "tenant_id": shop.tenant_id,
            "name": "Brass Lamp",
            "description": "A reading lamp with a linen shade.",
            "price": {"amount": "49.90", "currency": "EUR"},
            "category": "home",
            "attributes": {"color": "brass", "watts": 40},
            "status": "active",
            "version": 1,
            "created_at": body["created_at"],
            "updated_at": body["created_at"],
            "stock": {"available": 12, "reserved": 0},
        }

    async def test_customers_may_not_create_products(self, api: CatalogApi, shop: Shop) -> None:
        response = await api.create(shop.customer_token, product_body())
        assert_problem(response, 403, "forbidden")

    async def test_anonymous_callers_are_asked_to_authenticate(self, api: CatalogApi) -> None:
        assert_problem(await api.create(None, product_body()), 401, "unauthenticated")
        assert_problem(await api.list(None), 401, "unauthenticated")

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"sku": "X-1"}, "sku"),
            ({"name": ""}, "name"),
            ({"name": "x" * 201}, "name"),
            ({"name": "   "}, "name"),
            ({"description": "y" * 5001}, "description"),
            ({"price": {"amount": 19.99, "currency": "EUR"}}, "price.amount"),
            ({"price": {"amount": "19.999", "currency": "EUR"}}, "price.amount"),
            ({"price": {"amount": "-1", "currency": "EUR"}}, "price.amount"),
            ({"price": {"amount": "1", "currency": "XXQ"}}, "price.currency"),
            ({"category": "Home & Garden"}, "category"),
            ({"attributes": [1, 2]}, "attributes"),
            ({"attributes": {f"k{n}": n for n in range(51)}}, "attributes"),
            ({"attributes": {"a": {"b": {"c": {"d": {"e": 1}}}}}}, "attributes"),
            ({"status": "archived"}, "status"),
            ({"stock": -1}, "stock"),
            ({"stock": "5"}, "stock"),
        ],
    )
    async def test_invalid_bodies_are_refused_naming_the_field(
        self, api: CatalogApi, shop: Shop, overrides: dict[str, object], field: str
    ) -> None:
        response = await api.create(shop.merchant_token, product_body(**overrides))
        assert_problem(response, 422, "validation", field=field)


class TestRead:
    async def test_get_answers_with_a_strong_etag_and_private_caching(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        created = (await api.created(shop.merchant_token)).json()
        response = await api.get(shop.customer_token, created["id"])
        assert response.status_code == 200
        assert response.headers["etag"] == f'"{created["id"]}-v1"'
        assert response.headers["cache-control"] == "private, max-age=60, stale-while-revalidate=30"
        # Accept-Encoding: the compression middleware's (capabilities §1.7).
        assert response.headers["vary"] == "Authorization, X-API-Key, Accept-Encoding"
        assert response.json()["stock"] == {"available": 0, "reserved": 0}

    @pytest.mark.parametrize("tag", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
    async def test_if_none_match_with_the_current_tag_answers_304(
        self, api: CatalogApi, shop: Shop, tag: str
    ) -> None:
        created = await api.created(shop.merchant_token)
        etag = created.headers["etag"]
        response = await api.get(
            shop.customer_token,
            created.json()["id"],
            headers={"if-none-match": tag.format(etag=etag)},
        )
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "private, max-age=60, stale-while-revalidate=30"

    async def test_a_stale_tag_gets_the_full_answer(self, api: CatalogApi, shop: Shop) -> None:
        created = (await api.created(shop.merchant_token)).json()
        response = await api.get(
            shop.customer_token, created["id"], headers={"if-none-match": f'"{created["id"]}-v0"'}
        )
        assert response.status_code == 200

    async def test_customers_do_not_see_drafts_merchants_do(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        draft = (await api.created(shop.merchant_token, status="draft")).json()
        assert_problem(await api.get(shop.customer_token, draft["id"]), 404, "not-found")
        seen = await api.get(shop.merchant_token, draft["id"])
        assert seen.status_code == 200
        assert seen.headers["cache-control"] == "private, no-cache"

    async def test_another_tenants_product_is_not_found(self, api: CatalogApi, shop: Shop) -> None:
        created = (await api.created(shop.merchant_token)).json()
        other = await api.shop("Globex")
        for token in (other.customer_token, other.merchant_token, other.admin_token):
            assert_problem(await api.get(token, created["id"]), 404, "not-found")
        for token in (other.merchant_token, other.admin_token):
            response = await api.patch(token, created["id"], {"name": "Mine"}, "*")
            assert_problem(response, 404, "not-found")
            assert_problem(await api.delete(token, created["id"], "*"), 404, "not-found")
            response = await api.set_stock(token, created["id"], {"available": 1})
            assert_problem(response, 404, "not-found")

    @pytest.mark.parametrize("product_id", ["abc", "-1", "99999999999999999999", "1.5"])
    async def test_malformed_ids_are_not_found(
        self, api: CatalogApi, shop: Shop, product_id: str
    ) -> None:
        assert_problem(await api.get(shop.customer_token, product_id), 404, "not-found")

    async def test_sparse_fieldsets_return_only_the_fields_asked_for(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        created = (await api.created(shop.merchant_token)).json()
        response = await api.get(shop.customer_token, created["id"], fields="id,name,price")
        assert response.json() == {
            "id": created["id"],
            "name": "Brass Lamp",
            "price": {"amount": "49.90", "currency": "EUR"},
        }
        full = await api.get(shop.customer_token, created["id"])
        assert len(response.content) < len(full.content)

    @pytest.mark.parametrize("fields", ["id,secret", "", "id,,name", "ID"])
    async def test_unknown_fields_are_refused(
        self, api: CatalogApi, shop: Shop, fields: str
    ) -> None:
        created = (await api.created(shop.merchant_token)).json()
        response = await api.get(shop.customer_token, created["id"], fields=fields)
        assert_problem(response, 422, "validation", field="query.fields")


class TestUpdate:
    async def test_a_patch_with_the_current_etag_applies_and_bumps_the_version(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        created = await api.created(shop.merchant_token)
        pid = created.json()["id"]
        response = await api.patch(
            shop.merchant_token,
            pid,
            {"price": {"amount": "39.00", "currency": "EUR"}, "description": None},
            created.headers["etag"],
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert response.headers["etag"] == f'"{pid}-v2"'
        assert body["version"] == 2
        assert body["price"] == {"amount": "39.00", "currency": "EUR"}
        assert body["description"] is None
        assert body["name"] == "Brass Lamp"

    async def test_a_patch_without_if_match_is_refused_with_428(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        pid = (await api.created(shop.merchant_token)).json()["id"]
        response = await api.patch(shop.merchant_token, pid, {"name": "New"}, None)
        assert_problem(response, 428, "precondition-required")

    @pytest.mark.parametrize("tag", ['"{pid}-v9"', 'W/"{pid}-v1"', '"1-v1"', "garbage"])
    async def test_a_patch_with_a_stale_or_foreign_tag_is_refused_with_412(
        self, api: CatalogApi, shop: Shop, tag: str
    ) -> None:
        pid = (await api.created(shop.merchant_token)).json()["id"]
        response = await api.patch(shop.merchant_token, pid, {"name": "New"}, tag.format(pid=pid))
        assert_problem(response, 412, "version-mismatch")
        assert response.headers["etag"] == f'"{pid}-v1"'
        assert (await api.get(shop.merchant_token, pid)).json()["name"] == "Brass Lamp"

    async def test_two_concurrent_patches_from_one_etag_do_not_lose_an_update(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        created = await api.created(shop.merchant_token)
        pid, etag = created.json()["id"], created.headers["etag"]
        first, second = await asyncio.gather(
            api.patch(shop.merchant_token, pid, {"name": "First"}, etag),
            api.patch(shop.merchant_token, pid, {"name": "Second"}, etag),
        )
        assert sorted([first.status_code, second.status_code]) == [200, 412]
        winner = first if first.status_code == 200 else second
        final = (await api.get(shop.merchant_token, pid)).json()
        assert final["name"] == winner.json()["name"]
        assert final["version"] == 2

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": None}, "name"),
            ({"price": None}, "price"),
            ({"stock": 3}, "stock"),
            ({"version": 7}, "version"),
            ({"status": "deleted"}, "status"),
        ],
    )
    async def test_invalid_patches_are_refused_naming_the_field(
        self, api: CatalogApi, shop: Shop, body: dict[str, object], field: str
    ) -> None:
        created = await api.created(shop.merchant_token)
        response = await api.patch(
            shop.merchant_token, created.json()["id"], body, created.headers["etag"]
        )
        assert_problem(response, 422, "validation", field=field)

    async def test_customers_may_not_patch(self, api: CatalogApi, shop: Shop) -> None:
        created = await api.created(shop.merchant_token)
        response = await api.patch(
            shop.customer_token, created.json()["id"], {"name": "X"}, created.headers["etag"]
        )
        assert_problem(response, 403, "forbidden")


class TestDelete:
    async def test_delete_archives_and_hides_the_product_from_customers(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        created = await api.created(shop.merchant_token)
        pid = created.json()["id"]
        response = await api.delete(shop.merchant_token, pid, created.headers["etag"])
        assert response.status_code == 204
        assert response.headers["etag"] == f'"{pid}-v2"'
        assert_problem(await api.get(shop.customer_token, pid), 404, "not-found")
        archived = (await api.get(shop.merchant_token, pid)).json()
        assert archived["status"] == "archived"
        again = await api.delete(shop.merchant_token, pid, f'"{pid}-v2"')
        assert again.status_code == 204
        assert (await api.get(shop.merchant_token, pid)).json()["version"] == 2

    async def test_delete_needs_a_current_if_match(self, api: CatalogApi, shop: Shop) -> None:
        pid = (await api.created(shop.merchant_token)).json()["id"]
        assert_problem(
            await api.delete(shop.merchant_token, pid, None), 428, "precondition-required"
        )
        assert_problem(
            await api.delete(shop.merchant_token, pid, f'"{pid}-v3"'), 412, "version-mismatch"
        )
        assert_problem(await api.delete(shop.merchant_token, "123", "*"), 404, "not-found")


class TestStock:
    async def test_a_merchant_sets_available_units(self, api: CatalogApi, shop: Shop) -> None:
        pid = (await api.created(shop.merchant_token, stock=5)).json()["id"]
        response = await api.set_stock(shop.merchant_token, pid, {"available": 42})
        assert response.status_code == 200, response.text
        assert response.json() == {"product_id": pid, "available": 42, "reserved": 0}
        assert (await api.get(shop.customer_token, pid)).json()["stock"]["available"] == 42

    @pytest.mark.parametrize(
        "body", [{"available": -1}, {"available": "3"}, {"available": 1.5}, {}, {"x": 1}]
    )
    async def test_invalid_stock_is_refused(
        self, api: CatalogApi, shop: Shop, body: object
    ) -> None:
        pid = (await api.created(shop.merchant_token)).json()["id"]
        assert_problem(await api.set_stock(shop.merchant_token, pid, body), 422, "validation")

    async def test_customers_may_not_set_stock_and_unknown_products_are_404(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        pid = (await api.created(shop.merchant_token)).json()["id"]
        response = await api.set_stock(shop.customer_token, pid, {"available": 1})
        assert_problem(response, 403, "forbidden")
        response = await api.set_stock(shop.merchant_token, "4242", {"available": 1})
        assert_problem(response, 404, "not-found")
