"""Fixtures for payments over HTTP: the app on SQLite or PostgreSQL, wired to an in-process PSP."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from payments_http_support import FlakyPspTransport, PaymentsApi

from bazaar.bootstrap import build_payment_service
from bazaar.kernel.clock import ManualClock
from bazaar.psp.testing import (
    TEST_API_KEY,
    TEST_WEBHOOK_SECRET,
    TEST_WEBHOOK_URL,
    PspHarness,
    WebhookRecorder,
    running_psp,
)
from bazaar.testing.app import AppHarness, running_app
from bazaar.testing.identity import AppFactory

SEED = 20251127


@pytest.fixture
def clock() -> ManualClock:
    # Real time at the start: snowflake ids of successive tests on the shared PostgreSQL
    # database never meet, and the PSP's webhook timestamps are within the ±5 min tolerance.
    return ManualClock(start=time.time())


@pytest.fixture
def psp_clock() -> ManualClock:
    # The simulator's own clock: its waits (tok_slow, webhook backoff) must not move ours.
    return ManualClock(start=time.time())


@pytest.fixture
def webhooks() -> WebhookRecorder:
    return WebhookRecorder()


@pytest.fixture
async def psp(
    tmp_path: Path, psp_clock: ManualClock, webhooks: WebhookRecorder
) -> AsyncIterator[PspHarness]:
    async with running_psp(
        tmp_path / "psp",
        clock=psp_clock,
        rng=random.Random(SEED),
        webhook_url=TEST_WEBHOOK_URL,
        webhook_transport=webhooks.transport(),
    ) as harness:
        yield harness


@pytest.fixture
def psp_transport(psp: PspHarness) -> FlakyPspTransport:
    """bazaar's way to the simulator: in process, well-behaved until a test says otherwise."""
    return FlakyPspTransport(httpx.ASGITransport(app=psp.app), rng=random.Random(SEED))


@pytest.fixture
def open_app(
    database_url: str, tmp_path: Path, clock: ManualClock, psp_transport: FlakyPspTransport
) -> AppFactory:
    """Open the app with extra settings; its PSP client talks to the in-process simulator."""

    @asynccontextmanager
    async def open_(**settings: Any) -> AsyncIterator[AppHarness]:
        options: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "demo": True,
            "psp_url": "http://psp.test",
            "psp_api_key": TEST_API_KEY,
            "psp_webhook_secret": TEST_WEBHOOK_SECRET,
        }
        async with running_app(
            clock=clock, fast_password_hashing=True, **(options | settings)
        ) as harness:
            c = harness.container
            guard = c.dependencies.get("psp")
            assert guard is not None
            wired_by_url = c.payments
            c.payments = build_payment_service(
                c.settings, c.clock, c.database, ids=c.ids, guard=guard, psp_transport=psp_transport
            )
            await wired_by_url.aclose()
            yield harness

    return open_


@pytest.fixture
async def app(open_app: AppFactory) -> AsyncIterator[AppHarness]:
    async with open_app() as harness:
        yield harness


@pytest.fixture
def api(app: AppHarness) -> PaymentsApi:
    return PaymentsApi(app.client)
