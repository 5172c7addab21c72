"""The webhooks application layer: the merchant service, the fan-out consumer, the dispatcher."""

from __future__ import annotations

from bazaar.contexts.webhooks.application.dispatcher import (
    DISPATCHER_LEASE,
    DispatcherConfig,
    WebhookDispatcher,
)
from bazaar.contexts.webhooks.application.fanout import (
    CONSUMER,
    TOPICS,
    FanOutHandler,
    webhook_subscription,
)
from bazaar.contexts.webhooks.application.ports import IdGenerator, UrlGuard, WebhookSender
from bazaar.contexts.webhooks.application.service import WebhookService, url_refusal_message
from bazaar.contexts.webhooks.application.unit_of_work import (
    DeliveryRepository,
    DueDelivery,
    EndpointRepository,
    EndpointStreak,
    WebhooksReadModel,
    WebhooksUnitOfWork,
)

__all__ = [
    "CONSUMER",
    "DISPATCHER_LEASE",
    "TOPICS",
    "DeliveryRepository",
    "DispatcherConfig",
    "DueDelivery",
    "EndpointRepository",
    "EndpointStreak",
    "FanOutHandler",
    "IdGenerator",
    "UrlGuard",
    "WebhookDispatcher",
    "WebhookSender",
    "WebhookService",
    "WebhooksReadModel",
    "WebhooksUnitOfWork",
    "url_refusal_message",
    "webhook_subscription",
]
