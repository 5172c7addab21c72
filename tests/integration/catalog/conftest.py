"""Fixtures for the catalog on real engines: tenants of their own, cleaned up, a manual clock."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator

import pytest
from catalog_integration_support import forget_tenants

from bazaar.bootstrap import build_catalog_service, build_inventory_service
from bazaar.contexts.catalog import CatalogService
from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import MAX_WORKER_ID, SnowflakeGenerator
from bazaar.settings import Settings

# The PostgreSQL database is shared by the session: ids and tenants of their own per test.
_worker_ids = itertools.count(start=700)
_tenant_ids = itertools.count(start=int(time.time() * 1000) + 3 * 10**9)

CURSOR_KEY = b"catalog integration tests cursor key!"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def ids(clock: ManualClock) -> SnowflakeGenerator:
    return SnowflakeGenerator(next(_worker_ids) % (MAX_WORKER_ID + 1), clock)


@pytest.fixture
async def tenants(database: Database) -> AsyncIterator[list[int]]:
    """Hands out fresh tenant ids; their catalog and stock rows are deleted afterwards."""
    made: list[int] = []
    yield made
    await forget_tenants(database, made)


@pytest.fixture
def tenant_id(tenants: list[int]) -> int:
    tenant = next(_tenant_ids)
    tenants.append(tenant)
    return tenant


@pytest.fixture
def new_tenant(tenants: list[int]) -> object:
    def make() -> int:
        tenant = next(_tenant_ids)
        tenants.append(tenant)
        return tenant

    return make


@pytest.fixture
async def catalog(
    database: Database, clock: ManualClock, ids: SnowflakeGenerator, tmp_path: object
) -> CatalogService:
    """The catalog as bootstrap builds it, with the real inventory as its stock directory."""
    settings = Settings(database_url="sqlite+aiosqlite://", data_dir=tmp_path)
    return await build_catalog_service(
        settings,
        clock,
        database,
        ids=ids,
        stock=build_inventory_service(clock, database),
        cursor_key=CURSOR_KEY,
    )
