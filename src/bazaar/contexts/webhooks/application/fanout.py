"""The ``webhooks`` consumer: an event in, one delivery row per subscribed endpoint out.

It reads topics ``payments`` and ``orders`` and handles every event type an endpoint may
subscribe to. For an event it opens one transaction that records the event id in the
consumer's inbox, finds the tenant's active endpoints subscribed to the type, inserts a
pending delivery for each (due at once), and commits — so a redelivered event finds its
inbox record and changes nothing, and a crash half-way leaves neither (capabilities §6.3).
No HTTP happens here: the dispatcher sends, on its own schedule, so a slow or dead
endpoint never holds up the consumer's partition.

An event of a type nobody subscribed to is only recorded. The payload must carry the
tenant (``tenant_id``, an integer or a decimal string); without one the event is
dead-lettered (``PermanentHandlerError``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bazaar.contexts.webhooks.application.ports import IdGenerator
from bazaar.contexts.webhooks.application.unit_of_work import WebhooksUnitOfWork
from bazaar.contexts.webhooks.domain.model import DeliveryStatus, WebhookDelivery, event_body
from bazaar.kernel.clock import Clock, utc_from_timestamp
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.messaging.handlers import Handler, PermanentHandlerError, Subscription

__all__ = ["CONSUMER", "TOPICS", "FanOutHandler", "webhook_subscription"]

CONSUMER = "webhooks"
TOPICS = ("payments", "orders")


def _tenant_id(payload: Mapping[str, Any]) -> int:
    value = payload.get("tenant_id")
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise PermanentHandlerError(f"payload field 'tenant_id' must be an integer id, got {value!r}")


class FanOutHandler:
    """The handler of every deliverable event type (one instance per consumer)."""

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], WebhooksUnitOfWork],
        ids: IdGenerator,
        clock: Clock,
        consumer: str = CONSUMER,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.ids = ids
        self.clock = clock
        self.consumer = consumer

    async def __call__(self, envelope: Envelope) -> None:
        """Record the event and queue its deliveries, once.

        Raises:
            PermanentHandlerError: the payload names no tenant.
        """
        tenant_id = _tenant_id(envelope.payload)
        now = utc_from_timestamp(self.clock.now())
        uow = self.unit_of_work()
        async with uow:
            if not await uow.inbox.record(self.consumer, envelope.id, now):
                return  # handled before: its deliveries exist already
            endpoints = [
                endpoint
                for endpoint in await uow.endpoints.active_for(tenant_id)
                if endpoint.subscribes_to(envelope.type)
            ]
            body = event_body(
                event_id=envelope.id,
                event_type=envelope.type,
                version=envelope.version,
                occurred_at=envelope.occurred_at,
                tenant_id=tenant_id,
                data=envelope.payload,
            )
            for endpoint in endpoints:
                await uow.deliveries.add(
                    WebhookDelivery(
                        id=self.ids.next_id(),
                        tenant_id=tenant_id,
                        endpoint_id=endpoint.id,
                        event_id=envelope.id,
                        event_type=envelope.type,
                        payload=body,
                        status=DeliveryStatus.PENDING,
                        attempts=0,
                        created_at=now,
                        next_attempt_at=now,
                    )
                )
            await uow.commit()


def webhook_subscription(
    *,
    unit_of_work: Callable[[], WebhooksUnitOfWork],
    ids: IdGenerator,
    clock: Clock,
    event_types: Iterable[str],
) -> Subscription:
    """The ``webhooks`` consumer group: topics ``payments`` and ``orders``.

    Args:
        unit_of_work: a fresh unit of work per event (its ``inbox`` is the consumer's).
        ids: the process's Snowflake generator (delivery ids).
        clock: the time of inbox records and deliveries.
        event_types: the types to handle (those endpoints may subscribe to).
    """
    handler = FanOutHandler(unit_of_work=unit_of_work, ids=ids, clock=clock)
    handlers: dict[str, Handler] = dict.fromkeys(event_types, handler)
    # The fan-out records its inbox entry with the deliveries it inserts (one transaction).
    return Subscription(consumer=CONSUMER, topics=TOPICS, handlers=handlers, records_inbox=True)
