"""Every hot catalog query reads an index on realistic row counts (capabilities §7.2).

20,000 products over five tenants (20 categories, ~85 % active, prices spread over
1..500 EUR) are inserted in bulk, statistics refreshed with ANALYZE (as autovacuum and
``PRAGMA optimize`` keep them in production; no planner switches are touched), and then
each query a customer or merchant runs is EXPLAINed exactly as the read model builds it:

- SQLite (``EXPLAIN QUERY PLAN``): the products table is searched through the expected
  index, never ``SCAN products``, and no temporary B-tree sorts the page;
- PostgreSQL (``EXPLAIN``): an Index Scan (or Bitmap Index Scan for full-text) on the
  expected index, never a Seq Scan on products, and no Sort for keyset orders.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from catalog_integration_support import (
    CATEGORIES,
    analyze,
    bulk_products,
    explain,
    forget_tenants,
    product_rows,
)
from sqlalchemy import select

from bazaar.contexts.catalog.adapters import product_list_statement
from bazaar.contexts.catalog.adapters.tables import product_reviews
from bazaar.contexts.catalog.application.queries import Keyset, ProductFilter, ProductSort
from bazaar.contexts.catalog.domain import ProductStatus
from bazaar.infra.db import Database, create_database
from bazaar.infra.db.migrate import upgrade

TENANT_ROWS = 12_000
OTHER_TENANTS = 4
OTHER_ROWS = 2_000
RARE_WORD = "zeppelin"
ACTIVE = frozenset({ProductStatus.ACTIVE})


pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class Planned:
    database: Database
    tenant: int


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def planned(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Planned]:
    """One database per engine with 20,000 products, shared by the module's tests (read only)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('plans') / 'plans.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = create_database(url)
    rng = random.Random(11)
    # Tenant and product ids of their own: the PostgreSQL database is shared by the session.
    first_tenant = int(time.time() * 1000) + 7 * 10**9
    tenants = [first_tenant + n for n in range(OTHER_TENANTS + 1)]
    base = 10**15 + rng.randrange(10**9) * 10**5
    try:
        await upgrade(database.engine)
        rows = product_rows(tenants[0], TENANT_ROWS, first_id=base, rng=rng, rare_word=RARE_WORD)
        for n, tenant in enumerate(tenants[1:]):
            first_id = base + TENANT_ROWS + n * OTHER_ROWS
            rows += product_rows(tenant, OTHER_ROWS, first_id=first_id, rng=rng)
        await bulk_products(database, rows)
        await analyze(database)
        yield Planned(database, tenants[0])
    finally:
        await forget_tenants(database, tenants)
        await database.dispose()


def index_used(plan: str, dialect: str) -> set[str]:
    if dialect == "postgresql":
        return set(
            re.findall(r"(?:Index Scan(?: Backward)?|Bitmap Index Scan) (?:using|on) (\w+)", plan)
        )
    return set(re.findall(r"USING (?:COVERING )?INDEX (\w+)", plan))


def assert_no_full_scan(plan: str, dialect: str) -> None:
    if dialect == "postgresql":
        assert "Seq Scan on products" not in plan, plan
    else:
        assert not re.search(r"SCAN products(?!_fts)(?! USING)", plan), plan


BROWSE = [
    (ProductSort.PRICE, "ix_products_browse_price"),
    (ProductSort.PRICE_DESC, "ix_products_browse_price"),
    (ProductSort.CREATED_AT, "ix_products_browse_created"),
    (ProductSort.CREATED_AT_DESC, "ix_products_browse_created"),
    (ProductSort.NAME, "ix_products_browse_name"),
]
CATEGORY = [
    (ProductSort.PRICE, "ix_products_category_price"),
    (ProductSort.PRICE_DESC, "ix_products_category_price"),
    (ProductSort.CREATED_AT_DESC, "ix_products_category_created"),
    (ProductSort.NAME, "ix_products_category_name"),
]


def keyset_for(sort: ProductSort) -> Keyset:
    value: int | str | datetime = {
        "price": 12_340_000,
        "created_at": datetime(2026, 1, 1, 1, tzinfo=UTC),
        "name": "Mug",
    }[sort.key.value]
    return Keyset(value, 10**15)


class TestBrowsePlans:
    @pytest.mark.parametrize(("sort", "index"), BROWSE)
    @pytest.mark.parametrize("paged", [False, True], ids=["first-page", "next-page"])
    async def test_browse_reads_the_index_of_its_order(
        self, planned: Planned, sort: ProductSort, index: str, paged: bool
    ) -> None:
        database, tenant = planned.database, planned.tenant
        where = ProductFilter(tenant_id=tenant, statuses=ACTIVE)
        after = keyset_for(sort) if paged else None
        statement = product_list_statement(database.dialect, where, sort, after=after, limit=21)
        plan = await explain(database, statement)
        assert index in index_used(plan, database.dialect), plan
        assert_no_full_scan(plan, database.dialect)
        assert "TEMP B-TREE" not in plan, plan
        assert "Sort" not in plan, plan

    @pytest.mark.parametrize(("sort", "index"), CATEGORY)
    async def test_a_category_reads_the_category_index_of_its_order(
        self, planned: Planned, sort: ProductSort, index: str
    ) -> None:
        database, tenant = planned.database, planned.tenant
        where = ProductFilter(tenant_id=tenant, statuses=ACTIVE, category=CATEGORIES[3])
        statement = product_list_statement(
            database.dialect, where, sort, after=keyset_for(sort), limit=21
        )
        plan = await explain(database, statement)
        assert index in index_used(plan, database.dialect), plan
        assert_no_full_scan(plan, database.dialect)
        assert "TEMP B-TREE" not in plan, plan
        assert "Sort" not in plan, plan

    async def test_a_price_range_is_a_range_of_the_price_index(self, planned: Planned) -> None:
        database, tenant = planned.database, planned.tenant
        where = ProductFilter(
            tenant_id=tenant,
            statuses=ACTIVE,
            category=CATEGORIES[5],
            min_price_micros=20_000_000,
            max_price_micros=40_000_000,
        )
        statement = product_list_statement(
            database.dialect, where, ProductSort.PRICE, after=None, limit=21
        )
        plan = await explain(database, statement)
        assert "ix_products_category_price" in index_used(plan, database.dialect), plan
        assert_no_full_scan(plan, database.dialect)

    async def test_a_merchants_status_filter_uses_the_same_indexes(self, planned: Planned) -> None:
        database, tenant = planned.database, planned.tenant
        where = ProductFilter(tenant_id=tenant, statuses=frozenset({ProductStatus.DRAFT}))
        statement = product_list_statement(
            database.dialect, where, ProductSort.NAME, after=None, limit=21
        )
        plan = await explain(database, statement)
        assert "ix_products_browse_name" in index_used(plan, database.dialect), plan
        assert_no_full_scan(plan, database.dialect)


class TestSearchPlans:
    async def test_a_rare_word_is_found_through_the_full_text_index(self, planned: Planned) -> None:
        database, tenant = planned.database, planned.tenant
        where = ProductFilter(tenant_id=tenant, statuses=ACTIVE, terms=(RARE_WORD,))
        statement = product_list_statement(
            database.dialect, where, ProductSort.CREATED_AT_DESC, after=None, limit=21
        )
        plan = await explain(database, statement)
        if database.dialect == "postgresql":
            assert "ix_products_search" in index_used(plan, database.dialect), plan
        else:
            assert "SCAN products_fts VIRTUAL TABLE INDEX" in plan, plan
        assert_no_full_scan(plan, database.dialect)


class TestReviewPlans:
    async def test_a_products_reviews_page_reads_its_index(self, planned: Planned) -> None:
        database, tenant = planned.database, planned.tenant
        r = product_reviews
        statement = (
            select(r)
            .where(r.c.tenant_id == tenant, r.c.product_id == 10**15, r.c.id < 10**18)
            .order_by(r.c.id.desc())
            .limit(21)
        )
        plan = await explain(database, statement)
        assert (
            "ix_product_reviews_tenant_id_product_id_id" in index_used(plan, database.dialect)
            or "uq_product_reviews" in plan
        ), plan
        assert "Seq Scan" not in plan, plan
        assert "SCAN product_reviews" not in plan, plan
