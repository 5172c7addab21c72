"""Adapters of the webhooks ports: SQL tables, repositories and reads, the HTTP sender."""

from __future__ import annotations

from bazaar.contexts.webhooks.adapters.http_sender import HttpWebhookSender, TransportFactory
from bazaar.contexts.webhooks.adapters.read_model import SqlWebhooksReadModel
from bazaar.contexts.webhooks.adapters.repository import (
    SqlDeliveryRepository,
    SqlEndpointRepository,
    SqlWebhooksUnitOfWork,
)
from bazaar.contexts.webhooks.adapters.tables import metadata

__all__ = [
    "HttpWebhookSender",
    "SqlDeliveryRepository",
    "SqlEndpointRepository",
    "SqlWebhooksReadModel",
    "SqlWebhooksUnitOfWork",
    "TransportFactory",
    "metadata",
]
