"""Fixtures for payments on real engines: a migrated SQLite or PostgreSQL database per test."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bazaar.infra.db import Database, create_database
from bazaar.infra.db.migrate import upgrade
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import MAX_WORKER_ID, SnowflakeGenerator

# The PostgreSQL database is shared by the session: ids and tenants of their own per test.
_worker_ids = itertools.count(start=500)
_tenant_ids = itertools.count(start=int(time.time() * 1000))
_migrated: set[str] = set()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'payments.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = create_database(database_url)
    try:
        if database_url not in _migrated:
            await upgrade(db.engine)
            _migrated.add(database_url)
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def ids(clock: ManualClock) -> SnowflakeGenerator:
    return SnowflakeGenerator(next(_worker_ids) % (MAX_WORKER_ID + 1), clock)


@pytest.fixture
def tenant_id() -> int:
    return next(_tenant_ids)
