"""Fixtures for webhooks over HTTP: the app on SQLite or PostgreSQL, DNS answered in process."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from webhooks_http_support import PublicResolver, WebhooksApi

from bazaar.bootstrap import build_webhook_service
from bazaar.contexts.webhooks.adapters.tables import (
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
)
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
        c = harness.container
        c.webhooks = build_webhook_service(
            c.settings, c.clock, c.database, ids=c.ids, resolver=PublicResolver()
        )
        yield harness


@pytest.fixture
async def api(app: AppHarness) -> AsyncIterator[WebhooksApi]:
    client = WebhooksApi(app.client)
    yield client
    await _forget(app.container.database, client.tenants)


async def _forget(database: Database, tenants: list[int]) -> None:
    """Delete the tenants' webhook rows: the PostgreSQL database outlives each test."""
    if not tenants:
        return
    e, d, a = webhook_endpoints, webhook_deliveries, webhook_delivery_attempts
    async with database.sessions() as session, session.begin():
        deliveries = select(d.c.id).where(d.c.tenant_id.in_(tenants))
        await session.execute(delete(a).where(a.c.delivery_id.in_(deliveries)))
        await session.execute(delete(d).where(d.c.tenant_id.in_(tenants)))
        await session.execute(delete(e).where(e.c.tenant_id.in_(tenants)))
