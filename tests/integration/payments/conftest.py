"""Fixtures for payments on real engines: a migrated SQLite or PostgreSQL database per test."""

from __future__ import annotations

import itertools
import time

import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import MAX_WORKER_ID, SnowflakeGenerator

# The PostgreSQL database is shared by the session: ids and tenants of their own per test.
_worker_ids = itertools.count(start=500)
_tenant_ids = itertools.count(start=int(time.time() * 1000))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def ids(clock: ManualClock) -> SnowflakeGenerator:
    return SnowflakeGenerator(next(_worker_ids) % (MAX_WORKER_ID + 1), clock)


@pytest.fixture
def tenant_id() -> int:
    return next(_tenant_ids)
