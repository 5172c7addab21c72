"""The observed pool on real SQLite and PostgreSQL: checkout waits, timeouts, usage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import exc, text

from bazaar.infra.db import Database, create_database
from bazaar.infra.db.engine import PoolConfig
from bazaar.infra.db.pool import PoolWaited, observe_pools, pool_stats

# One connection and no overflow, so a second caller must wait (and give up quickly).
ONE_CONNECTION = PoolConfig(pool_size=1, max_overflow=0, pool_timeout_s=0.2)


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = create_database(url, ONE_CONNECTION)
    try:
        yield db
    finally:
        await db.dispose()


async def test_checkouts_waits_and_timeouts_are_reported(database: Database) -> None:
    seen: list[PoolWaited] = []
    observe_pools(database.engines, seen.append)
    async with database.engine.connect() as held:
        await held.execute(text("SELECT 1"))
        (primary,) = [s for s in pool_stats(database.engines) if s.pool == "primary"]
        assert (primary.in_use, primary.max_connections) == (1, 1)
        with pytest.raises(exc.TimeoutError):
            async with database.engine.connect():
                pass
    waits = [event for event in seen if event.pool == "primary"]
    assert [event.timed_out for event in waits] == [False, True]
    assert waits[1].seconds >= ONE_CONNECTION.pool_timeout_s * 0.9
    (primary,) = [s for s in pool_stats(database.engines) if s.pool == "primary"]
    assert (primary.in_use, primary.idle, primary.waiting) == (0, 1, 0)


async def test_the_observer_survives_a_dispose(database: Database) -> None:
    seen: list[PoolWaited] = []
    observe_pools(database.engines, seen.append)
    await database.engine.dispose()  # replaces the pool with a fresh copy
    async with database.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    assert [event.pool for event in seen] == ["primary"]
