"""Final deliveries are purged after their retention; waiting ones never are."""

from __future__ import annotations

import random

import pytest
from webhooks_integration_support import PublicResolver, ScriptedReceiver, Shop, UnitOfWorkFactory

from bazaar.contexts.webhooks import (
    DeliveryStatus,
    DispatcherConfig,
    RetrySchedule,
    UrlGuard,
    WebhookDispatcher,
    WebhookService,
)
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.locks.memory import InMemoryLeaseStore
from bazaar.kernel.ssrf import SsrfPolicy

DAY = 86_400.0


@pytest.fixture
def dispatcher(
    unit_of_work: UnitOfWorkFactory,
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
        holder="purge-test",
        config=DispatcherConfig(batch_size=200, schedule=RetrySchedule(delays_s=(3600.0,))),
        rng=random.Random(3),
    )


async def test_only_final_deliveries_past_retention_are_purged(
    shop: Shop, dispatcher: WebhookDispatcher, service: WebhookService, clock: ManualClock
) -> None:
    shop.receiver.answer(200, 500)  # the first delivery succeeds, the second will wait
    await shop.events(2)
    await dispatcher.run_once()
    statuses = sorted(d.status.value for d in await shop.deliveries())
    assert statuses == [DeliveryStatus.FAILED.value, DeliveryStatus.SUCCEEDED.value]

    clock.advance(10 * DAY)
    assert await service.purge_deliveries(older_than_s=30 * DAY) == 0  # too young
    clock.advance(25 * DAY)
    assert await service.purge_deliveries(older_than_s=30 * DAY) == 1
    (left,) = await shop.deliveries()
    assert left.status is DeliveryStatus.FAILED  # still waiting for its retry: kept
