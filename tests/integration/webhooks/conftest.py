"""Fixtures for webhooks on real engines: tenants of their own, cleaned up, on a manual clock."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import AsyncIterator, Callable

import pytest
from webhooks_integration_support import (
    EVENT_TYPES,
    PublicResolver,
    ScriptedReceiver,
    Shop,
    forget_tenants,
)

from bazaar.contexts.webhooks import (
    DispatcherConfig,
    FanOutHandler,
    UrlGuard,
    WebhookDispatcher,
    WebhookService,
)
from bazaar.contexts.webhooks.adapters import SqlWebhooksReadModel, SqlWebhooksUnitOfWork
from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import MAX_WORKER_ID, SnowflakeGenerator
from bazaar.kernel.locks.memory import InMemoryLeaseStore
from bazaar.kernel.ssrf import SsrfPolicy

# The PostgreSQL database is shared by the session: ids and tenants of their own per test.
_worker_ids = itertools.count(start=900)
_tenant_ids = itertools.count(start=int(time.time() * 1000) + 10**9)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def ids(clock: ManualClock) -> SnowflakeGenerator:
    return SnowflakeGenerator(next(_worker_ids) % (MAX_WORKER_ID + 1), clock)


@pytest.fixture
async def tenant_id(database: Database) -> AsyncIterator[int]:
    tenant = next(_tenant_ids)
    yield tenant
    await forget_tenants(database, [tenant])


@pytest.fixture
async def other_tenant_id(database: Database) -> AsyncIterator[int]:
    tenant = next(_tenant_ids)
    yield tenant
    await forget_tenants(database, [tenant])


@pytest.fixture
def unit_of_work(database: Database, clock: ManualClock) -> Callable[[], SqlWebhooksUnitOfWork]:
    return lambda: SqlWebhooksUnitOfWork(database.sessions, clock=clock)


@pytest.fixture
def resolver() -> PublicResolver:
    return PublicResolver()


@pytest.fixture
def service(
    database: Database,
    unit_of_work: Callable[[], SqlWebhooksUnitOfWork],
    resolver: PublicResolver,
    ids: SnowflakeGenerator,
    clock: ManualClock,
) -> WebhookService:
    return WebhookService(
        unit_of_work=unit_of_work,
        reads=SqlWebhooksReadModel(database.read_sessions),
        guard=UrlGuard(SsrfPolicy(), resolver),
        ids=ids,
        clock=clock,
        event_types=EVENT_TYPES,
    )


@pytest.fixture
def receiver(tenant_id: int) -> ScriptedReceiver:
    return ScriptedReceiver(host=f"t{tenant_id}.hooks.test")


@pytest.fixture
def dispatcher(
    unit_of_work: Callable[[], SqlWebhooksUnitOfWork],
    receiver: ScriptedReceiver,
    resolver: PublicResolver,
    clock: ManualClock,
) -> WebhookDispatcher:
    return WebhookDispatcher(
        unit_of_work=unit_of_work,
        sender=receiver.sender(),
        guard=UrlGuard(SsrfPolicy(), resolver),
        clock=clock,
        leases=InMemoryLeaseStore(clock),
        holder="dispatcher-under-test",
        # A large batch: leftovers of other tests on the shared database cannot crowd ours.
        config=DispatcherConfig(batch_size=200, max_concurrent=8),
        rng=random.Random(2026),
    )


@pytest.fixture
def handler(
    unit_of_work: Callable[[], SqlWebhooksUnitOfWork], ids: SnowflakeGenerator, clock: ManualClock
) -> FanOutHandler:
    return FanOutHandler(unit_of_work=unit_of_work, ids=ids, clock=clock)


@pytest.fixture
async def shop(
    service: WebhookService, handler: FanOutHandler, tenant_id: int, receiver: ScriptedReceiver
) -> Shop:
    made = Shop(service, handler, tenant_id, receiver)
    await made.register()
    return made
