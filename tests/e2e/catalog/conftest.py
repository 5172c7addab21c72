"""Fixtures for the catalog over HTTP: the app on SQLite or PostgreSQL, real inventory."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from catalog_http_support import CatalogApi, Shop
from sqlalchemy import delete

from bazaar.contexts.catalog.adapters.tables import product_reviews, products
from bazaar.contexts.inventory.adapters.tables import stock
from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock
from bazaar.testing.app import AppHarness, running_app


@pytest.fixture
def clock() -> ManualClock:
    # Real time at the start: snowflake ids of successive tests on the shared PostgreSQL
    # database never meet.
    return ManualClock(start=time.time())


@pytest.fixture
async def app(database_url: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[AppHarness]:
    async with running_app(
        clock=clock,
        fast_password_hashing=True,
        data_dir=tmp_path / "data",
        database_url=database_url,
        demo=True,
    ) as harness:
        yield harness


@pytest.fixture
async def api(app: AppHarness) -> AsyncIterator[CatalogApi]:
    client = CatalogApi(app.client)
    yield client
    await _forget(app.container.database, client.tenants)


@pytest.fixture
async def shop(api: CatalogApi) -> Shop:
    return await api.shop()


async def _forget(database: Database, tenants: list[int]) -> None:
    """Delete the tenants' catalog and stock rows: the PostgreSQL database outlives each test."""
    if not tenants:
        return
    async with database.sessions() as session, session.begin():
        await session.execute(
            delete(product_reviews).where(product_reviews.c.tenant_id.in_(tenants))
        )
        await session.execute(delete(products).where(products.c.tenant_id.in_(tenants)))
        await session.execute(delete(stock).where(stock.c.tenant_id.in_(tenants)))
