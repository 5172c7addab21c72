"""Replaying deliveries, the dispatcher lease, and deleting an endpoint mid-flight."""

from __future__ import annotations

import random

import httpx
import pytest
from webhooks_integration_support import (
    PublicResolver,
    ScriptedReceiver,
    Shop,
    UnitOfWorkFactory,
    seconds_until,
)

from bazaar.contexts.webhooks import (
    DeliveryNotFoundError,
    DeliveryNotReplayableError,
    DeliveryStatus,
    DispatcherConfig,
    EndpointDisabledError,
    EndpointNotFoundError,
    ReplayDelivery,
    RetrySchedule,
    UrlGuard,
    WebhookDispatcher,
    WebhookService,
)
from bazaar.contexts.webhooks.adapters import HttpWebhookSender
from bazaar.kernel.clock import ManualClock, utc_from_timestamp
from bazaar.kernel.locks.memory import InMemoryLeaseStore
from bazaar.kernel.ssrf import SafeTarget, SsrfPolicy


class TestReplay:
    @pytest.fixture
    def short(
        self,
        unit_of_work: UnitOfWorkFactory,
        receiver: ScriptedReceiver,
        resolver: PublicResolver,
        clock: ManualClock,
    ) -> WebhookDispatcher:
        """A dispatcher that gives up after two attempts."""
        return WebhookDispatcher(
            unit_of_work=unit_of_work,
            sender=receiver.sender(),
            guard=UrlGuard(SsrfPolicy(), resolver),
            clock=clock,
            leases=InMemoryLeaseStore(clock),
            holder="short",
            config=DispatcherConfig(batch_size=200, schedule=RetrySchedule(delays_s=(1.0,))),
            rng=random.Random(5),
        )

    async def abandon(self, shop: Shop, short: WebhookDispatcher, clock: ManualClock) -> int:
        shop.receiver.answer(500, 500)
        await shop.events()
        await short.run_once()
        clock.advance(2)
        await short.run_once()
        delivery = await shop.delivery()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.ABANDONED, 2)
        return delivery.id

    async def test_an_abandoned_delivery_is_attempted_again_at_once(
        self, shop: Shop, short: WebhookDispatcher, service: WebhookService, clock: ManualClock
    ) -> None:
        delivery_id = await self.abandon(shop, short, clock)
        assert shop.endpoint is not None
        replayed = await service.replay_delivery(
            ReplayDelivery(
                tenant_id=shop.tenant_id, endpoint_id=shop.endpoint.id, delivery_id=delivery_id
            )
        )
        assert replayed.status is DeliveryStatus.PENDING
        assert seconds_until(clock, replayed) == pytest.approx(0, abs=1e-3)
        await short.run_once()
        done = await shop.delivery()
        assert (done.status, done.attempts) == (DeliveryStatus.SUCCEEDED, 3)
        with pytest.raises(DeliveryNotReplayableError):
            await service.replay_delivery(
                ReplayDelivery(
                    tenant_id=shop.tenant_id, endpoint_id=shop.endpoint.id, delivery_id=done.id
                )
            )

    async def test_a_failed_replay_is_abandoned_again(
        self, shop: Shop, short: WebhookDispatcher, service: WebhookService, clock: ManualClock
    ) -> None:
        delivery_id = await self.abandon(shop, short, clock)
        assert shop.endpoint is not None
        shop.receiver.answer(500)
        await service.replay_delivery(
            ReplayDelivery(
                tenant_id=shop.tenant_id, endpoint_id=shop.endpoint.id, delivery_id=delivery_id
            )
        )
        await short.run_once()
        delivery = await shop.delivery()
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
            DeliveryStatus.ABANDONED,
            3,
            None,
        )

    async def test_replay_refuses_what_it_cannot_do(
        self,
        shop: Shop,
        short: WebhookDispatcher,
        service: WebhookService,
        unit_of_work: UnitOfWorkFactory,
        other_tenant_id: int,
        clock: ManualClock,
    ) -> None:
        delivery_id = await self.abandon(shop, short, clock)
        assert shop.endpoint is not None
        endpoint_id = shop.endpoint.id
        with pytest.raises(EndpointNotFoundError):
            await service.replay_delivery(
                ReplayDelivery(
                    tenant_id=other_tenant_id, endpoint_id=endpoint_id, delivery_id=delivery_id
                )
            )
        with pytest.raises(DeliveryNotFoundError):
            await service.replay_delivery(
                ReplayDelivery(
                    tenant_id=shop.tenant_id, endpoint_id=endpoint_id, delivery_id=delivery_id + 1
                )
            )
        uow = unit_of_work()
        async with uow:
            await uow.endpoints.disable(endpoint_id, "test", utc_from_timestamp(clock.now()))
            await uow.commit()
        with pytest.raises(EndpointDisabledError):
            await service.replay_delivery(
                ReplayDelivery(
                    tenant_id=shop.tenant_id, endpoint_id=endpoint_id, delivery_id=delivery_id
                )
            )
        assert (await shop.delivery()).status is DeliveryStatus.ABANDONED


class TestLeaseAndDeletion:
    async def test_only_the_lease_holder_dispatches(
        self,
        shop: Shop,
        unit_of_work: UnitOfWorkFactory,
        receiver: ScriptedReceiver,
        resolver: PublicResolver,
        clock: ManualClock,
    ) -> None:
        leases = InMemoryLeaseStore(clock)

        def dispatcher(holder: str) -> WebhookDispatcher:
            return WebhookDispatcher(
                unit_of_work=unit_of_work,
                sender=receiver.sender(),
                guard=UrlGuard(SsrfPolicy(), resolver),
                clock=clock,
                leases=leases,
                holder=holder,
                config=DispatcherConfig(batch_size=200),
            )

        leader, standby = dispatcher("a"), dispatcher("b")
        assert await leader.run_once() == 0
        assert leader.leading
        await shop.events()
        assert await standby.run_once() == 0
        assert not standby.leading
        assert receiver.requests == []
        assert await leader.run_once() >= 1
        assert len(receiver.requests) == 1

    async def test_deleting_the_endpoint_mid_flight_records_nothing(
        self,
        shop: Shop,
        service: WebhookService,
        unit_of_work: UnitOfWorkFactory,
        resolver: PublicResolver,
        clock: ManualClock,
        tenant_id: int,
    ) -> None:
        assert shop.endpoint is not None
        endpoint_id = shop.endpoint.id
        answered: list[int] = []

        async def deleting(request: httpx.Request) -> httpx.Response:
            if request.url.host != shop.receiver.host:
                return httpx.Response(410)
            await service.delete_endpoint(tenant_id, endpoint_id)
            answered.append(500)
            return httpx.Response(500)

        def transport(target: SafeTarget) -> httpx.AsyncBaseTransport:
            return httpx.MockTransport(deleting)

        dispatcher = WebhookDispatcher(
            unit_of_work=unit_of_work,
            sender=HttpWebhookSender(transport),
            guard=UrlGuard(SsrfPolicy(), resolver),
            clock=clock,
            leases=InMemoryLeaseStore(clock),
            holder="deleter",
            config=DispatcherConfig(batch_size=200),
        )
        await shop.events()
        await dispatcher.run_once()
        assert answered == [500]
        with pytest.raises(EndpointNotFoundError):
            await service.list_deliveries(tenant_id, endpoint_id)
