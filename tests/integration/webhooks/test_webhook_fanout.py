"""The ``webhooks`` consumer: one delivery per subscribed endpoint, exactly once per event."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from webhooks_integration_support import EVENT_TYPES, UnitOfWorkFactory, payment_envelope

from bazaar.contexts.webhooks import (
    CONSUMER,
    DeliveryStatus,
    FanOutHandler,
    RegisterEndpoint,
    WebhookEndpoint,
    WebhookService,
    webhook_subscription,
)
from bazaar.contexts.webhooks.adapters.tables import webhook_deliveries
from bazaar.infra.db import Database
from bazaar.infra.db.messaging_tables import inbox
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.locks.memory import InMemoryLeaseStore
from bazaar.kernel.messaging import (
    Delivery,
    HandleResult,
    InMemoryBroker,
    MessageConsumer,
    PermanentHandlerError,
    SqlInboxStore,
)


def event_id() -> str:
    return f"evt-{uuid.uuid4().hex}"


async def register(
    service: WebhookService, tenant_id: int, *events: str, host: str = "hooks.test"
) -> WebhookEndpoint:
    return await service.register_endpoint(
        RegisterEndpoint(
            tenant_id=tenant_id,
            url=f"https://{uuid.uuid4().hex[:8]}.{host}/in",
            event_types=events or ("payments.payment_succeeded",),
        )
    )


async def deliveries_of(database: Database, event: str) -> list[dict[str, Any]]:
    d = webhook_deliveries
    async with database.read_sessions() as session:
        rows = await session.execute(select(d).where(d.c.event_id == event).order_by(d.c.id))
        return [dict(row._mapping) for row in rows]


async def inbox_count(database: Database, event: str) -> int:
    query = select(func.count()).where(inbox.c.consumer == CONSUMER, inbox.c.message_id == event)
    async with database.read_sessions() as session:
        return int((await session.execute(query)).scalar_one())


class TestFanOut:
    async def test_one_pending_delivery_per_subscribed_endpoint(
        self,
        handler: FanOutHandler,
        service: WebhookService,
        database: Database,
        tenant_id: int,
        clock: ManualClock,
    ) -> None:
        first = await register(service, tenant_id, "payments.payment_succeeded")
        second = await register(service, tenant_id, *EVENT_TYPES)
        await register(service, tenant_id, "payments.refund_succeeded")  # not subscribed
        event = event_id()
        await handler(payment_envelope(event, tenant_id))
        rows = await deliveries_of(database, event)
        assert sorted(r["endpoint_id"] for r in rows) == sorted([first.id, second.id])
        for row in rows:
            assert row["status"] == DeliveryStatus.PENDING.value
            assert row["attempts"] == 0
            assert row["tenant_id"] == tenant_id
            assert row["event_type"] == "payments.payment_succeeded"
            assert row["next_attempt_at"] is not None
            assert row["next_attempt_at"].timestamp() == pytest.approx(clock.now(), abs=1e-3)
        body = json.loads(rows[0]["payload"])
        assert body["id"] == event
        assert body["tenant_id"] == str(tenant_id)
        assert body["data"]["payment_id"] == "7"

    async def test_the_same_envelope_twice_makes_one_delivery(
        self,
        handler: FanOutHandler,
        service: WebhookService,
        database: Database,
        tenant_id: int,
    ) -> None:
        await register(service, tenant_id)
        event = event_id()
        envelope = payment_envelope(event, tenant_id)
        await handler(envelope)
        await handler(envelope)
        assert len(await deliveries_of(database, event)) == 1
        assert await inbox_count(database, event) == 1

    async def test_a_redelivery_through_the_consumer_runtime_is_a_duplicate(
        self,
        unit_of_work: UnitOfWorkFactory,
        service: WebhookService,
        database: Database,
        tenant_id: int,
        ids: SnowflakeGenerator,
        clock: ManualClock,
    ) -> None:
        await register(service, tenant_id)
        subscription = webhook_subscription(
            unit_of_work=unit_of_work, ids=ids, clock=clock, event_types=EVENT_TYPES
        )
        broker = InMemoryBroker(partitions=1)
        consumer = MessageConsumer(
            subscription,
            broker,
            leases=InMemoryLeaseStore(clock),
            inbox=SqlInboxStore(database.sessions, inbox),
            dead_letters=_NoDeadLetters(),
            clock=clock,
            ids=ids,
            holder="test",
        )
        event = event_id()
        data = payment_envelope(event, str(tenant_id)).encode()
        delivery = Delivery("payments", 0, "1", "7", data)
        assert await consumer.handle(delivery) == HandleResult.HANDLED
        redelivered = Delivery("payments", 0, "1", "7", data, redelivered=True)
        assert await consumer.handle(redelivered) == HandleResult.DUPLICATE
        assert len(await deliveries_of(database, event)) == 1

    async def test_an_event_nobody_subscribed_to_is_only_recorded(
        self, handler: FanOutHandler, database: Database, tenant_id: int
    ) -> None:
        event = event_id()
        await handler(payment_envelope(event, tenant_id, type_="payments.refund_succeeded"))
        assert await deliveries_of(database, event) == []
        assert await inbox_count(database, event) == 1

    async def test_other_tenants_and_disabled_endpoints_get_nothing(
        self,
        handler: FanOutHandler,
        service: WebhookService,
        unit_of_work: UnitOfWorkFactory,
        database: Database,
        tenant_id: int,
        other_tenant_id: int,
        clock: ManualClock,
    ) -> None:
        await register(service, other_tenant_id)
        disabled = await register(service, tenant_id)
        uow = unit_of_work()
        async with uow:
            assert await uow.endpoints.disable(disabled.id, "test", disabled.created_at)
            await uow.commit()
        event = event_id()
        await handler(payment_envelope(event, tenant_id))
        assert await deliveries_of(database, event) == []

    @pytest.mark.parametrize("tenant", [None, "", "abc", True, 1.5])
    async def test_a_payload_without_a_tenant_is_permanent(
        self, handler: FanOutHandler, tenant: object
    ) -> None:
        envelope = payment_envelope(event_id(), 1)
        payload = {k: v for k, v in envelope.payload.items() if k != "tenant_id"}
        if tenant is not None:
            payload["tenant_id"] = tenant
        with pytest.raises(PermanentHandlerError, match="tenant_id"):
            await handler(
                type(envelope)(
                    id=envelope.id,
                    type=envelope.type,
                    version=1,
                    key=envelope.key,
                    occurred_at=envelope.occurred_at,
                    payload=payload,
                )
            )


class _NoDeadLetters:
    async def add(self, letter: object) -> None:
        raise AssertionError(f"dead-lettered: {letter}")
