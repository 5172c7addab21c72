"""The catalog's read caches over HTTP (capabilities §8.1–8.5, §4.4; api.md ``X-Cache``)."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from catalog_http_support import CatalogApi, Shop

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import first_id_at
from bazaar.testing.app import AppHarness, running_app
from bazaar.testing.identity import bearer
from bazaar.testing.processes import free_port
from bazaar.testing.statements import count_statements


def _loads(app: AppHarness, cache: str = "products") -> float:
    value = app.container.metrics.registry.get_sample_value(
        "bazaar_cache_loads_total", {"cache": cache}
    )
    return value or 0.0


def _requests(app: AppHarness, result: str) -> float:
    value = app.container.metrics.registry.get_sample_value(
        "bazaar_cache_requests_total", {"cache": "products", "result": result}
    )
    return value or 0.0


class TestCacheAside:
    async def test_the_first_read_misses_and_the_next_one_hits(
        self, app: AppHarness, api: CatalogApi, shop: Shop
    ) -> None:
        product = (await api.created(shop.merchant_token)).json()
        # Creating invalidated nothing cached yet; the first read loads it.
        first = await api.get(shop.customer_token, product["id"])
        second = await api.get(shop.customer_token, product["id"])
        assert first.headers["x-cache"] == "MISS"
        assert second.headers["x-cache"] == "HIT"
        assert first.json() == second.json()
        database = app.container.database
        with count_statements(database.engine, database.read_engine) as counter:
            third = await api.get(shop.customer_token, product["id"])
        assert third.headers["x-cache"] == "HIT"
        assert counter.matching("FROM products") == []

    async def test_a_patch_is_seen_by_the_next_read(self, api: CatalogApi, shop: Shop) -> None:
        created = await api.created(shop.merchant_token)
        product_id = created.json()["id"]
        await api.get(shop.customer_token, product_id)
        assert (await api.get(shop.customer_token, product_id)).headers["x-cache"] == "HIT"
        patched = await api.patch(
            shop.merchant_token, product_id, {"name": "Copper Lamp"}, created.headers["etag"]
        )
        assert patched.status_code == 200
        after = await api.get(shop.customer_token, product_id)
        assert after.headers["x-cache"] == "MISS"
        assert after.json()["name"] == "Copper Lamp"
        assert after.headers["etag"] == patched.headers["etag"]

    async def test_archiving_hides_the_cached_product_at_once(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        created = await api.created(shop.merchant_token)
        product_id = created.json()["id"]
        assert (await api.get(shop.customer_token, product_id)).status_code == 200
        deleted = await api.delete(shop.merchant_token, product_id, created.headers["etag"])
        assert deleted.status_code == 204
        assert (await api.get(shop.customer_token, product_id)).status_code == 404

    async def test_set_stock_is_seen_by_the_next_read(self, api: CatalogApi, shop: Shop) -> None:
        product_id = (await api.created(shop.merchant_token, stock=3)).json()["id"]
        assert (await api.get(shop.customer_token, product_id)).json()["stock"]["available"] == 3
        await api.set_stock(shop.merchant_token, product_id, {"available": 7})
        assert (await api.get(shop.customer_token, product_id)).json()["stock"]["available"] == 7

    async def test_another_tenant_never_gets_a_cached_product(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        product_id = (await api.created(shop.merchant_token)).json()["id"]
        assert (await api.get(shop.customer_token, product_id)).status_code == 200
        other = await api.shop("Globex")
        assert (await api.get(other.customer_token, product_id)).status_code == 404

    async def test_lists_are_cached_under_a_version_a_change_bumps(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        created = await api.created(shop.merchant_token)
        first = await api.list(shop.customer_token)
        second = await api.list(shop.customer_token)
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
        await api.patch(
            shop.merchant_token, created.json()["id"], {"name": "Tin Lamp"}, created.headers["etag"]
        )
        third = await api.list(shop.customer_token)
        assert third.headers["x-cache"] == "MISS"
        assert [p["name"] for p in third.json()["items"]] == ["Tin Lamp"]

    async def test_the_cache_control_of_a_product_allows_stale_while_revalidate(
        self, api: CatalogApi, shop: Shop
    ) -> None:
        product_id = (await api.created(shop.merchant_token)).json()["id"]
        response = await api.get(shop.customer_token, product_id)
        assert response.headers["cache-control"] == (
            "private, max-age=60, stale-while-revalidate=30"
        )
        assert response.headers["vary"].startswith("Authorization, X-API-Key")


class TestStampede:
    async def test_200_concurrent_reads_of_a_cold_product_load_it_once(
        self, app: AppHarness, api: CatalogApi, shop: Shop
    ) -> None:
        product_id = (await api.created(shop.merchant_token)).json()["id"]
        before = _loads(app)
        responses = await asyncio.gather(
            *(api.get(shop.customer_token, product_id) for _ in range(200))
        )
        assert {r.status_code for r in responses} == {200}
        assert _loads(app) - before == 1
        assert sum(r.headers["x-cache"] == "MISS" for r in responses) >= 1


class TestPenetration:
    async def test_unknown_ids_are_answered_without_a_query(
        self, app: AppHarness, api: CatalogApi, shop: Shop, clock: ManualClock
    ) -> None:
        product_id = (await api.created(shop.merchant_token)).json()["id"]
        cache = app.container.catalog.cache
        assert cache is not None
        assert cache.known_ids is not None
        clock.advance(120)  # the product is older than the filter's watermark
        await cache.known_ids.refresh(app.container.catalog_background.id_source)
        rng = random.Random(7)
        hour_ago = first_id_at(int((clock.now() - 3600) * 1000))
        unknown = [hour_ago + rng.randrange(1 << 22) for _ in range(50)]
        future = first_id_at(int((clock.now() + 86_400) * 1000))
        database = app.container.database
        with count_statements(database.engine, database.read_engine) as counter:
            for raw in [*unknown, future]:
                response = await api.get(shop.customer_token, str(raw))
                assert response.status_code == 404, response.text
            known = await api.get(shop.customer_token, product_id)
        assert known.status_code == 200
        assert counter.matching("FROM products") != []  # the known one was loaded
        assert len(counter.matching("FROM products")) == 1
        assert _requests(app, "filtered") >= len(unknown)

    async def test_an_unknown_id_too_new_for_the_filter_is_cached_as_absent(
        self, app: AppHarness, api: CatalogApi, shop: Shop
    ) -> None:
        missing = str(app.container.ids.next_id())  # never a product: newer than any filter
        database = app.container.database
        assert (await api.get(shop.customer_token, missing)).status_code == 404
        with count_statements(database.engine, database.read_engine) as counter:
            assert (await api.get(shop.customer_token, missing)).status_code == 404
        assert counter.matching("FROM products") == []


class TestGracefulDegradation:
    async def test_reads_failing_serve_the_last_copy_marked_stale(
        self, app: AppHarness, api: CatalogApi, shop: Shop, clock: ManualClock
    ) -> None:
        cached = (await api.created(shop.merchant_token, name="Cached")).json()["id"]
        never_read = (await api.created(shop.merchant_token, name="Cold")).json()["id"]
        assert (await api.get(shop.customer_token, cached)).status_code == 200
        outage = await app.client.put("/api/v1/admin/faults/db_read", json={"outage": True})
        assert outage.status_code == 200, outage.text
        try:
            clock.advance(app.container.settings.cache.product_ttl_s + 1)  # the copy expired
            stale = await api.get(shop.customer_token, cached)
            assert stale.status_code == 200
            assert stale.headers["x-cache"] == "STALE"
            assert stale.headers["warning"] == '110 - "Response is Stale"'
            assert stale.json()["name"] == "Cached"
            cold = await api.get(shop.customer_token, never_read)
            assert cold.status_code == 503
            assert cold.json()["type"].endswith("/dependency-unavailable")
            assert "retry-after" in cold.headers
        finally:
            await app.client.delete("/api/v1/admin/faults/db_read")


class TestRedisDown:
    async def test_l1_and_the_database_still_serve(self, tmp_path: Path, database_url: str) -> None:
        async with running_app(
            clock=ManualClock(start=time.time()),
            fast_password_hashing=True,
            data_dir=tmp_path / "data",
            database_url=database_url,
            redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            demo=True,
            # Limits have their own Redis-down tests (login fails closed without its store).
            rate_limits={"default": "off", "login": "off"},
        ) as harness:
            api = CatalogApi(harness.client)
            shop = await api.shop()
            product_id = (await api.created(shop.merchant_token)).json()["id"]
            first = await api.get(shop.customer_token, product_id)
            second = await api.get(shop.customer_token, product_id)
            assert (first.status_code, second.status_code) == (200, 200)
            assert second.headers["x-cache"] == "HIT"
            listed = await api.list(shop.customer_token)
            assert listed.status_code == 200
            assert [p["id"] for p in listed.json()["items"]] == [product_id]


class TestViewCounts:
    async def test_views_are_counted_in_memory_and_flushed_in_a_batch(
        self, app: AppHarness, api: CatalogApi, shop: Shop
    ) -> None:
        product_id = (await api.created(shop.merchant_token)).json()["id"]
        for _ in range(3):
            assert (await api.get(shop.customer_token, product_id)).status_code == 200
        await api.get(shop.merchant_token, product_id)  # a merchant's read is no view
        path = f"/api/v1/products/{product_id}/views"
        before = (await app.client.get(path, headers=bearer(shop.merchant_token))).json()
        assert before == {"product_id": product_id, "views": 3, "pending": 3}
        counter = app.container.catalog_background.views
        assert counter is not None
        await counter.flush()
        after = (await app.client.get(path, headers=bearer(shop.merchant_token))).json()
        assert after == {"product_id": product_id, "views": 3, "pending": 0}
        refused = await app.client.get(path, headers=bearer(shop.customer_token))
        assert refused.status_code == 403
