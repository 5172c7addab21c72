"""Fixtures for the checkout saga on a real database, a real PSP simulator and real services."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from orders_saga_support import SEED, FixedPrices, Shop

from bazaar.bootstrap import build_container, build_inventory_service, build_order_service
from bazaar.infra.db.migrate import upgrade
from bazaar.kernel.clock import ManualClock
from bazaar.psp.testing import TEST_API_KEY, TEST_WEBHOOK_SECRET, PspHarness, running_psp
from bazaar.settings import Settings


@pytest.fixture
def clock() -> ManualClock:
    # Real time at the start: snowflake ids of successive tests on the shared PostgreSQL
    # database never meet. Sleeps (retry backoff) advance it instead of waiting.
    return ManualClock(start=time.time())


@pytest.fixture
async def psp(tmp_path: Path) -> AsyncIterator[PspHarness]:
    async with running_psp(
        tmp_path / "psp", clock=ManualClock(start=time.time()), rng=random.Random(SEED)
    ) as harness:
        yield harness


@pytest.fixture
async def shop(
    database_url: str, tmp_path: Path, clock: ManualClock, psp: PspHarness
) -> AsyncIterator[Shop]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        demo=True,
        psp_url="http://psp.test",
        psp_api_key=TEST_API_KEY,
        psp_webhook_secret=TEST_WEBHOOK_SECRET,
        # The oversell test sends 200 orders at once to SQLite's single writer: a request
        # may queue for it longer than the default 5 s while the sagas also write.
        database={"pool_timeout_s": 60.0},
        # The PSP simulator runs in this test's event loop: under that rush a call can wait
        # for the loop longer than the default 2 s, which is not what these tests are about.
        psp_timeout_s=15.0,
    )
    container = await build_container(
        settings, clock=clock, psp_transport=httpx.ASGITransport(app=psp.app)
    )
    try:
        await upgrade(container.database.engine)
        prices = FixedPrices()
        orders = build_order_service(
            settings,
            clock,
            container.database,
            ids=container.ids,
            payments=container.payments,
            prices=prices,
        )
        yield Shop(
            container=container,
            orders=orders,
            inventory=build_inventory_service(clock, container.database),
            price_list=prices,
            psp=psp,
            clock=clock,
            tenant_id=container.ids.next_id(),
        )
        await orders.aclose()
    finally:
        await container.aclose()
