"""The catalog service on SQLite and PostgreSQL: writes with optimistic concurrency, keyset
pages in every order, filters, full-text search, reviews, stock through inventory."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from bazaar.contexts.catalog import (
    ArchiveProduct,
    CatalogService,
    CreateProduct,
    DuplicateReviewError,
    InvalidQueryError,
    ListProducts,
    PostReview,
    Product,
    ProductChanges,
    ProductNotFoundError,
    ProductSort,
    ProductStatus,
    SetStock,
    UpdateProduct,
    VersionMismatchError,
    seed_demo_catalog,
)
from bazaar.contexts.catalog.application.queries import ListReviews
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.money import Money


def create(tenant_id: int, name: str = "Lamp", **kwargs: Any) -> CreateProduct:
    defaults: dict[str, Any] = {
        "price": Money.of("19.99", "EUR"),
        "category": "home",
        "description": None,
    }
    return CreateProduct(tenant_id=tenant_id, name=name, **(defaults | kwargs))


async def walk(service: CatalogService, query: ListProducts) -> list[Product]:
    """Every page of ``query``, following next_cursor to the end."""
    seen: list[Product] = []
    cursor: str | None = None
    while True:
        page = await service.list_products(replace(query, cursor=cursor))
        seen.extend(d.product for d in page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


class TestWrites:
    async def test_an_update_bumps_the_version_and_keeps_what_it_does_not_set(
        self, catalog: CatalogService, tenant_id: int
    ) -> None:
        created = (await catalog.create_product(create(tenant_id, description="Warm"))).product
        updated = await catalog.update_product(
            UpdateProduct(
                tenant_id=tenant_id,
                product_id=created.id,
                expected_versions=frozenset({1}),
                changes=ProductChanges(price=Money.of("24.50", "EUR")),
            )
        )
        assert updated.product.version == 2
        assert updated.product.price == Money.of("24.50", "EUR")
        assert updated.product.description == "Warm"
        stored = await catalog.get_product(tenant_id, created.id)
        assert stored == updated.product

    async def test_of_two_concurrent_updates_from_one_version_exactly_one_wins(
        self, catalog: CatalogService, tenant_id: int
    ) -> None:
        created = (await catalog.create_product(create(tenant_id))).product

        async def rename(name: str) -> object:
            try:
                return await catalog.update_product(
                    UpdateProduct(
                        tenant_id=tenant_id,
                        product_id=created.id,
                        expected_versions=frozenset({1}),
                        changes=ProductChanges(name=name),
                    )
                )
            except VersionMismatchError as exc:
                return exc

        outcomes = await asyncio.gather(rename("First"), rename("Second"))
        lost = [o for o in outcomes if isinstance(o, VersionMismatchError)]
        won = [o for o in outcomes if not isinstance(o, VersionMismatchError)]
        assert len(lost) == 1
        assert len(won) == 1
        assert lost[0].current_version == 2
        final = await catalog.get_product(tenant_id, created.id)
        assert final.version == 2

    async def test_an_update_of_another_tenants_product_is_not_found(
        self, catalog: CatalogService, tenant_id: int, new_tenant: Callable[[], int]
    ) -> None:
        created = (await catalog.create_product(create(tenant_id))).product
        with pytest.raises(ProductNotFoundError):
            await catalog.update_product(
                UpdateProduct(
                    tenant_id=new_tenant(),
                    product_id=created.id,
                    expected_versions=None,
                    changes=ProductChanges(name="Stolen"),
                )
            )

    async def test_archiving_twice_changes_nothing_the_second_time(
        self, catalog: CatalogService, tenant_id: int
    ) -> None:
        created = (await catalog.create_product(create(tenant_id))).product
        archived = await catalog.archive_product(
            ArchiveProduct(tenant_id=tenant_id, product_id=created.id, expected_versions=None)
        )
        again = await catalog.archive_product(
            ArchiveProduct(
                tenant_id=tenant_id, product_id=created.id, expected_versions=frozenset({2})
            )
        )
        assert archived.status is ProductStatus.ARCHIVED
        assert archived.version == 2
        assert again == archived
        with pytest.raises(ProductNotFoundError):
            await catalog.get_product(tenant_id, created.id)  # customers no longer see it

    async def test_stock_goes_through_inventory_and_comes_back_in_one_call(
        self, catalog: CatalogService, tenant_id: int
    ) -> None:
        made = await catalog.create_product(create(tenant_id, stock=7))
        assert made.stock is not None
        assert (made.stock.available, made.stock.reserved) == (7, 0)
        level = await catalog.set_stock(
            SetStock(tenant_id=tenant_id, product_id=made.product.id, available=3)
        )
        assert (level.available, level.reserved) == (3, 0)
        (details,) = await catalog.with_stock(tenant_id, [made.product])
        assert details.stock is not None
        assert details.stock.available == 3

    async def test_prices_are_those_of_active_products_only(
        self, catalog: CatalogService, tenant_id: int
    ) -> None:
        on_sale = (await catalog.create_product(create(tenant_id))).product
        draft = (
            await catalog.create_product(create(tenant_id, status=ProductStatus.DRAFT))
        ).product
        prices = await catalog.prices(tenant_id, [on_sale.id, draft.id, 12345])
        assert prices == {on_sale.id: Money.of("19.99", "EUR")}


class TestPages:
    @pytest.fixture
    async def shelf(
        self, catalog: CatalogService, tenant_id: int, clock: ManualClock
    ) -> list[Product]:
        rng = random.Random(5)
        made = []
        for n in range(37):
            clock.advance(rng.choice([0, 0, 1.5]))  # equal creation times too
            price = rng.choice(["5.00", "5.00", "9.99", "12.00", "120.00"])  # many ties
            details = await catalog.create_product(
                create(
                    tenant_id,
                    name=rng.choice(["Mug", "Lamp", "Rug"]) + f" {n % 4}",
                    price=Money.of(price, "EUR"),
                    category=rng.choice(["home", "kitchen"]),
                    status=ProductStatus.DRAFT if n % 9 == 0 else ProductStatus.ACTIVE,
                )
            )
            made.append(details.product)
        return made

    @pytest.mark.parametrize("sort", list(ProductSort))
    async def test_pages_walk_every_visible_product_once_in_order(
        self, catalog: CatalogService, tenant_id: int, shelf: list[Product], sort: ProductSort
    ) -> None:
        seen = await walk(catalog, ListProducts(tenant_id=tenant_id, sort=sort, limit=5))
        key = {
            "price": lambda p: (p.price.amount, p.id),
            "created_at": lambda p: (p.created_at, p.id),
            "name": lambda p: (p.name, p.id),
        }[sort.key.value]
        active = [p for p in shelf if p.status is ProductStatus.ACTIVE]
        assert [p.id for p in seen] == [
            p.id for p in sorted(active, key=key, reverse=sort.descending)
        ]

    async def test_merchants_see_drafts_and_filter_by_status(
        self, catalog: CatalogService, tenant_id: int, shelf: list[Product]
    ) -> None:
        everything = await walk(
            catalog, ListProducts(tenant_id=tenant_id, include_hidden=True, limit=100)
        )
        drafts = await walk(
            catalog,
            ListProducts(tenant_id=tenant_id, include_hidden=True, status=ProductStatus.DRAFT),
        )
        customer_drafts = await walk(
            catalog, ListProducts(tenant_id=tenant_id, status=ProductStatus.DRAFT)
        )
        assert len(everything) == len(shelf)
        assert {p.id for p in drafts} == {p.id for p in shelf if p.status is ProductStatus.DRAFT}
        assert customer_drafts == []

    async def test_category_and_price_range_filter_together(
        self, catalog: CatalogService, tenant_id: int, shelf: list[Product]
    ) -> None:
        found = await walk(
            catalog,
            ListProducts(
                tenant_id=tenant_id,
                category="kitchen",
                min_price=Decimal("5"),
                max_price=Decimal("12"),
                sort=ProductSort.PRICE,
                limit=3,
            ),
        )
        expected = {
            p.id
            for p in shelf
            if p.category == "kitchen"
            and Decimal(5) <= p.price.amount <= Decimal(12)
            and p.status is ProductStatus.ACTIVE
        }
        assert {p.id for p in found} == expected
        assert expected

    async def test_a_cursor_only_pages_the_query_it_came_from(
        self, catalog: CatalogService, tenant_id: int, shelf: list[Product]
    ) -> None:
        first = await catalog.list_products(ListProducts(tenant_id=tenant_id, limit=2))
        assert first.next_cursor is not None
        with pytest.raises(InvalidQueryError) as other_sort:
            await catalog.list_products(
                ListProducts(tenant_id=tenant_id, sort=ProductSort.NAME, cursor=first.next_cursor)
            )
        with pytest.raises(InvalidQueryError):
            await catalog.list_products(
                ListProducts(tenant_id=tenant_id, category="home", cursor=first.next_cursor)
            )
        assert other_sort.value.fields[0].field == "cursor"


class TestSearch:
    async def test_finds_products_by_every_word_in_name_or_description(
        self, catalog: CatalogService, tenant_id: int
    ) -> None:
        lamp = await catalog.create_product(
            create(tenant_id, "Brass Lamp", description="A reading lamp with a linen shade")
        )
        await catalog.create_product(create(tenant_id, "Brass Bell", description="Loud"))
        found = await catalog.list_products(ListProducts(tenant_id=tenant_id, q="LINEN brass"))
        assert [d.product.id for d in found.items] == [lamp.product.id]

    async def test_the_index_follows_updates_of_the_name(
        self, catalog: CatalogService, tenant_id: int
    ) -> None:
        made = (await catalog.create_product(create(tenant_id, "Teapot"))).product
        await catalog.update_product(
            UpdateProduct(
                tenant_id=tenant_id,
                product_id=made.id,
                expected_versions=None,
                changes=ProductChanges(name="Samovar"),
            )
        )
        old = await catalog.list_products(ListProducts(tenant_id=tenant_id, q="teapot"))
        new = await catalog.list_products(ListProducts(tenant_id=tenant_id, q="samovar"))
        assert old.items == []
        assert [d.product.id for d in new.items] == [made.id]

    @pytest.mark.parametrize(
        "q",
        [
            "' OR 1=1 --",
            '"; DROP TABLE products; --',
            "NEAR(lamp chair",
            "*",
            '"',
            'lamp" OR "',
            "lamp AND NOT chair",
            "lamp & !chair | rug:*",
            "\\x00\x00",
            "(((",
            "^lamp",
            "name:lamp",
        ],
    )
    async def test_query_syntax_is_never_interpreted(
        self, catalog: CatalogService, tenant_id: int, q: str
    ) -> None:
        await catalog.create_product(create(tenant_id, "Lamp"))
        page = await catalog.list_products(ListProducts(tenant_id=tenant_id, q=q))
        # Whatever matched, it matched as plain words; and the table is still there.
        assert all("lamp" in d.product.name.lower() for d in page.items)
        everything = await catalog.list_products(ListProducts(tenant_id=tenant_id))
        assert len(everything.items) == 1

    async def test_a_search_is_tenant_scoped(
        self, catalog: CatalogService, tenant_id: int, new_tenant: Callable[[], int]
    ) -> None:
        await catalog.create_product(create(new_tenant(), "Secret Lamp"))
        found = await catalog.list_products(ListProducts(tenant_id=tenant_id, q="secret"))
        assert found.items == []


class TestReviews:
    async def test_a_second_review_by_the_same_customer_is_refused(
        self, catalog: CatalogService, tenant_id: int
    ) -> None:
        product = (await catalog.create_product(create(tenant_id))).product
        review = PostReview(tenant_id=tenant_id, product_id=product.id, user_id=5, rating=4)
        await catalog.post_review(review)
        with pytest.raises(DuplicateReviewError):
            await catalog.post_review(review)

    async def test_of_two_racing_reviews_by_one_customer_one_lands(
        self, catalog: CatalogService, tenant_id: int
    ) -> None:
        product = (await catalog.create_product(create(tenant_id))).product

        async def post(rating: int) -> object:
            try:
                return await catalog.post_review(
                    PostReview(tenant_id=tenant_id, product_id=product.id, user_id=9, rating=rating)
                )
            except DuplicateReviewError as exc:
                return exc

        outcomes = await asyncio.gather(post(1), post(5))
        assert sum(isinstance(o, DuplicateReviewError) for o in outcomes) == 1
        page = await catalog.list_reviews(ListReviews(tenant_id=tenant_id, product_id=product.id))
        assert len(page.items) == 1

    async def test_reviews_page_newest_first(
        self, catalog: CatalogService, tenant_id: int, clock: ManualClock
    ) -> None:
        product = (await catalog.create_product(create(tenant_id))).product
        for user in range(5):
            clock.advance(1)
            await catalog.post_review(
                PostReview(tenant_id=tenant_id, product_id=product.id, user_id=user, rating=3)
            )
        users: list[int] = []
        cursor = None
        while True:
            page = await catalog.list_reviews(
                ListReviews(tenant_id=tenant_id, product_id=product.id, limit=2, cursor=cursor)
            )
            users += [r.user_id for r in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert users == [4, 3, 2, 1, 0]


class TestDemoCatalog:
    async def test_seeds_two_hundred_varied_products_once(
        self, catalog: CatalogService, tenant_id: int
    ) -> None:
        created = await seed_demo_catalog(catalog, tenant_id)
        again = await seed_demo_catalog(catalog, tenant_id)
        assert len(created) == 200
        assert again == []
        assert len({p.category for p in created}) >= 6
        assert len({p.price for p in created}) > 100
        assert any(p.status is ProductStatus.DRAFT for p in created)
        stocked = await catalog.with_stock(tenant_id, created)
        assert any(d.stock and d.stock.available == 0 for d in stocked)
        assert any(d.stock and d.stock.available > 0 for d in stocked)
