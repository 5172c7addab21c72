"""Fixtures for orders over HTTP: the app on SQLite or PostgreSQL, with an in-process PSP."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from orders_http_support import OrdersApi

from bazaar.kernel.clock import ManualClock
from bazaar.psp.testing import TEST_API_KEY, TEST_WEBHOOK_SECRET, PspHarness, running_psp
from bazaar.testing.app import AppHarness, running_app

SEED = 20261126


@pytest.fixture
async def psp(tmp_path: Path) -> AsyncIterator[PspHarness]:
    async with running_psp(
        tmp_path / "psp", clock=ManualClock(start=time.time()), rng=random.Random(SEED)
    ) as harness:
        yield harness


@pytest.fixture
async def app(database_url: str, tmp_path: Path, psp: PspHarness) -> AsyncIterator[AppHarness]:
    # Real time at the start so snowflake ids of tests on the shared PostgreSQL database
    # never meet; retry waits of sagas advance this clock instead of sleeping.
    clock = ManualClock(start=time.time())
    async with running_app(
        clock,
        fast_password_hashing=True,
        psp_transport=httpx.ASGITransport(app=psp.app),
        data_dir=tmp_path / "data",
        database_url=database_url,
        demo=True,
        psp_url="http://psp.test",
        psp_api_key=TEST_API_KEY,
        psp_webhook_secret=TEST_WEBHOOK_SECRET,
        psp_timeout_s=15.0,
        database={"pool_timeout_s": 60.0},
    ) as harness:
        yield harness


@pytest.fixture
def api(app: AppHarness) -> OrdersApi:
    return OrdersApi(app)
