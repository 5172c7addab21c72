"""Fixtures for traffic control over HTTP: the app with chosen rate-limit policies."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bazaar.bootstrap import Container
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ratelimit import RateLimitStore, RedisRateLimitStore
from bazaar.testing.app import AppHarness, running_app
from bazaar.testing.identity import AppFactory
from bazaar.testing.servers import find_free_port


@pytest.fixture
def clock() -> ManualClock:
    # Real start time: snowflake ids of successive tests on the shared PostgreSQL never meet.
    return ManualClock(start=time.time())


@pytest.fixture
def open_app(tmp_path: Path, clock: ManualClock) -> AppFactory:
    """Open the app (SQLite, demo mode, cheap hashing) with extra settings."""

    @asynccontextmanager
    async def open_(
        *, rate_limit_store: RateLimitStore | None = None, **settings: Any
    ) -> AsyncIterator[AppHarness]:
        options: dict[str, Any] = {"data_dir": tmp_path / "data", "demo": True}

        def use_store(container: Container) -> None:
            if rate_limit_store is not None:
                container.rate_limit_store = rate_limit_store

        async with running_app(
            clock=clock, fast_password_hashing=True, before_app=use_store, **(options | settings)
        ) as harness:
            yield harness

    return open_


@pytest.fixture
async def dead_redis_store() -> AsyncIterator[RedisRateLimitStore]:
    """A Redis rate-limit store whose server is down (nothing listens on its port)."""
    client = Redis.from_url(f"redis://127.0.0.1:{find_free_port()}/0", socket_connect_timeout=0.2)
    yield RedisRateLimitStore(client)
    await client.aclose()
