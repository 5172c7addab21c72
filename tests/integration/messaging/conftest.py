"""Per-test messaging tables on real engines: tests share the session's PostgreSQL database."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator

import pytest

from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import MAX_WORKER_ID, SnowflakeGenerator
from bazaar.testing.messaging import MessagingTables, scratch_messaging_tables

_worker_ids = itertools.count(start=700)


@pytest.fixture
async def tables(database: Database) -> AsyncIterator[MessagingTables]:
    async with scratch_messaging_tables(database.engine) as made:
        yield made


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def ids(clock: ManualClock) -> SnowflakeGenerator:
    return SnowflakeGenerator(next(_worker_ids) % (MAX_WORKER_ID + 1), clock)
