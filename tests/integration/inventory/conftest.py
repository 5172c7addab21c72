"""Fixtures for inventory on real engines: the service on a migrated database, a clock."""

from __future__ import annotations

import time
import uuid

import pytest

from bazaar.contexts.inventory import InventoryService
from bazaar.contexts.inventory.adapters import SqlInventoryReadModel, SqlInventoryUnitOfWork
from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock


def new_id() -> int:
    """A tenant or reservation id no other test uses (the PostgreSQL database is shared)."""
    return uuid.uuid4().int >> 66


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def tenant_id() -> int:
    return new_id()


@pytest.fixture
def inventory(database: Database, clock: ManualClock) -> InventoryService:
    return InventoryService(
        unit_of_work=lambda: SqlInventoryUnitOfWork(database.sessions, clock=clock),
        reads=SqlInventoryReadModel(database.read_sessions),
        clock=clock,
    )
