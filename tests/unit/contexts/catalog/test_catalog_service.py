"""CatalogService on the in-memory fakes: what it checks, writes and asks inventory for."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from bazaar.contexts.catalog import (
    ArchiveProduct,
    CatalogService,
    CreateProduct,
    InvalidProductError,
    InvalidQueryError,
    ListProducts,
    ProductChanges,
    ProductNotFoundError,
    ProductSort,
    ProductStatus,
    SetStock,
    UpdateProduct,
    VersionMismatchError,
    seed_demo_catalog,
)
from bazaar.contexts.catalog.adapters import InMemoryCatalogStore, InMemoryStockDirectory
from bazaar.contexts.catalog.application import CursorCodec
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.money import Money

TENANT = 7


class Ids:
    def __init__(self) -> None:
        self._next = itertools.count(1000)

    def next_id(self) -> int:
        return next(self._next)


class FailingStock(InMemoryStockDirectory):
    async def set_available(self, tenant_id: int, product_id: int, available: int) -> object:  # type: ignore[override]
        raise RuntimeError("inventory is down")


@pytest.fixture
def store() -> InMemoryCatalogStore:
    return InMemoryCatalogStore()


@pytest.fixture
def stock() -> InMemoryStockDirectory:
    return InMemoryStockDirectory()


@pytest.fixture
def service(store: InMemoryCatalogStore, stock: InMemoryStockDirectory) -> CatalogService:
    return CatalogService(
        unit_of_work=store.unit_of_work,
        reads=store.read_model(),
        stock=stock,
        ids=Ids(),
        clock=ManualClock(),
        cursors=CursorCodec(b"c" * 32),
    )


def create(name: str = "Lamp", **kwargs: object) -> CreateProduct:
    defaults: dict[str, object] = {"price": Money.of("10.00", "EUR"), "category": "home"}
    return CreateProduct(tenant_id=TENANT, name=name, **(defaults | kwargs))  # type: ignore[arg-type]


class TestCreate:
    async def test_sets_stock_through_inventory_before_storing_the_product(
        self, service: CatalogService, store: InMemoryCatalogStore, stock: InMemoryStockDirectory
    ) -> None:
        made = await service.create_product(create(stock=4))
        assert stock.calls == [("set_available", TENANT, (made.product.id,))]
        assert made.stock is not None
        assert made.stock.available == 4
        assert store.products[made.product.id].version == 1

    async def test_a_failed_stock_call_stores_no_product(self, store: InMemoryCatalogStore) -> None:
        service = CatalogService(
            unit_of_work=store.unit_of_work,
            reads=store.read_model(),
            stock=FailingStock(),
            ids=Ids(),
            clock=ManualClock(),
            cursors=CursorCodec(b"c" * 32),
        )
        with pytest.raises(RuntimeError):
            await service.create_product(create(stock=4))
        assert store.products == {}

    async def test_lists_every_problem_and_writes_nothing(
        self, service: CatalogService, store: InMemoryCatalogStore, stock: InMemoryStockDirectory
    ) -> None:
        with pytest.raises(InvalidProductError) as refused:
            await service.create_product(
                create(" ", category="Bad", attributes={"x": float("nan")}, stock=-1)
            )
        assert [f.field for f in refused.value.fields] == [
            "name",
            "category",
            "attributes",
            "stock",
        ]
        assert store.commits == 0
        assert stock.calls == []


class TestUpdate:
    async def test_an_empty_update_only_checks_the_version(
        self, service: CatalogService, store: InMemoryCatalogStore
    ) -> None:
        made = (await service.create_product(create())).product
        commits = store.commits
        same = await service.update_product(
            UpdateProduct(
                tenant_id=TENANT,
                product_id=made.id,
                expected_versions=frozenset({1}),
                changes=ProductChanges(),
            )
        )
        assert same.product == made
        assert store.commits == commits
        with pytest.raises(VersionMismatchError):
            await service.update_product(
                UpdateProduct(
                    tenant_id=TENANT,
                    product_id=made.id,
                    expected_versions=frozenset({2}),
                    changes=ProductChanges(),
                )
            )

    async def test_a_stale_version_is_a_mismatch_naming_the_current_one(
        self, service: CatalogService
    ) -> None:
        made = (await service.create_product(create())).product
        change = ProductChanges(name="Two")
        await service.update_product(
            UpdateProduct(
                tenant_id=TENANT, product_id=made.id, expected_versions=None, changes=change
            )
        )
        with pytest.raises(VersionMismatchError) as stale:
            await service.update_product(
                UpdateProduct(
                    tenant_id=TENANT,
                    product_id=made.id,
                    expected_versions=frozenset({1}),
                    changes=change,
                )
            )
        assert stale.value.current_version == 2

    async def test_unknown_products_are_not_found(self, service: CatalogService) -> None:
        with pytest.raises(ProductNotFoundError):
            await service.update_product(
                UpdateProduct(
                    tenant_id=TENANT,
                    product_id=1,
                    expected_versions=None,
                    changes=ProductChanges(name="x"),
                )
            )
        with pytest.raises(ProductNotFoundError):
            await service.archive_product(
                ArchiveProduct(tenant_id=TENANT, product_id=1, expected_versions=None)
            )
        with pytest.raises(ProductNotFoundError):
            await service.set_stock(SetStock(tenant_id=TENANT, product_id=1, available=1))


class TestList:
    async def test_asks_inventory_once_per_page(
        self, service: CatalogService, stock: InMemoryStockDirectory
    ) -> None:
        for n in range(5):
            await service.create_product(create(f"P{n}"))
        stock.calls.clear()
        page = await service.list_products(ListProducts(tenant_id=TENANT, limit=5))
        assert len(page.items) == 5
        assert [call[0] for call in stock.calls] == ["stock_levels"]

    async def test_skips_inventory_when_stock_is_not_wanted(
        self, service: CatalogService, stock: InMemoryStockDirectory
    ) -> None:
        await service.create_product(create())
        stock.calls.clear()
        page = await service.list_products(ListProducts(tenant_id=TENANT, with_stock=False))
        assert page.items[0].stock is None
        assert stock.calls == []

    async def test_customers_asking_for_drafts_get_nothing(self, service: CatalogService) -> None:
        await service.create_product(create(status=ProductStatus.DRAFT))
        customer = await service.list_products(
            ListProducts(tenant_id=TENANT, status=ProductStatus.DRAFT)
        )
        merchant = await service.list_products(
            ListProducts(tenant_id=TENANT, include_hidden=True, status=ProductStatus.DRAFT)
        )
        assert customer.items == []
        assert len(merchant.items) == 1

    async def test_a_search_without_words_matches_nothing(self, service: CatalogService) -> None:
        await service.create_product(create())
        page = await service.list_products(ListProducts(tenant_id=TENANT, q="*"))
        assert page.items == []

    @pytest.mark.parametrize(
        ("min_price", "max_price", "field"),
        [
            (Decimal("-1"), None, "min_price"),
            (Decimal("0.0000001"), None, "min_price"),
            (None, Decimal("2000000"), "max_price"),
            (Decimal("5"), Decimal("1"), "max_price"),
            (Decimal("NaN"), None, "min_price"),
        ],
    )
    async def test_refuses_price_bounds(
        self,
        service: CatalogService,
        min_price: Decimal | None,
        max_price: Decimal | None,
        field: str,
    ) -> None:
        with pytest.raises(InvalidQueryError) as refused:
            await service.list_products(
                ListProducts(tenant_id=TENANT, min_price=min_price, max_price=max_price)
            )
        assert refused.value.fields[0].field == field

    async def test_pages_end_without_a_cursor(self, service: CatalogService) -> None:
        for n in range(3):
            await service.create_product(create(f"P{n}"))
        first = await service.list_products(
            ListProducts(tenant_id=TENANT, sort=ProductSort.NAME, limit=2)
        )
        rest = await service.list_products(
            ListProducts(tenant_id=TENANT, sort=ProductSort.NAME, limit=2, cursor=first.next_cursor)
        )
        assert [d.product.name for d in first.items + rest.items] == ["P0", "P1", "P2"]
        assert rest.next_cursor is None


class TestDemo:
    async def test_the_demo_catalog_is_the_same_on_every_run(
        self, store: InMemoryCatalogStore
    ) -> None:
        catalogs = []
        for _ in range(2):
            fresh = InMemoryCatalogStore()
            service = CatalogService(
                unit_of_work=fresh.unit_of_work,
                reads=fresh.read_model(),
                stock=InMemoryStockDirectory(),
                ids=Ids(),
                clock=ManualClock(),
                cursors=CursorCodec(b"c" * 32),
            )
            made = await seed_demo_catalog(service, TENANT, count=50)
            catalogs.append([(p.name, p.price, p.category, dict(p.attributes)) for p in made])
        assert catalogs[0] == catalogs[1]
        assert len(catalogs[0]) == 50
