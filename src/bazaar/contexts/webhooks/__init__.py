"""Outgoing webhooks (capabilities §6.7): the context's public facade.

Merchants register endpoints (``POST /api/v1/webhook-endpoints``: a URL that passes the SSRF
guard, §13.3, and the event types it wants; the answer shows the ``whsec_…`` signing secret
once). The ``webhooks`` consumer turns each ``payments.*`` / ``orders.*`` event into one
delivery row per subscribed endpoint, in the transaction that records the event in its
inbox (an event reaches an endpoint at most once). The dispatcher — one per deployment,
under the ``webhook-dispatcher`` lease — POSTs due deliveries, signed
(``Bazaar-Signature: t=…,v1=…``; receivers check it with ``verify``, ±5 min), retries
failures for about 24 h (``RetrySchedule``: 5 s, 1 min, 5 min, 30 min, 2 h, 5 h, 8 h, 8 h,
±10 % jitter, then abandoned), and disables an endpoint whose last 20 attempts failed over
at least an hour (``DisablePolicy``). Merchants list deliveries with every attempt, replay
failed or abandoned ones, and re-enable disabled endpoints.

Other code uses the context through these names only.
"""

from __future__ import annotations

from bazaar.contexts.webhooks.application import (
    CONSUMER,
    DISPATCHER_LEASE,
    TOPICS,
    DispatcherConfig,
    DueDelivery,
    FanOutHandler,
    UrlGuard,
    WebhookDispatcher,
    WebhookSender,
    WebhookService,
    WebhooksReadModel,
    WebhooksUnitOfWork,
    webhook_subscription,
)
from bazaar.contexts.webhooks.domain import (
    DEFAULT_DELAYS_S,
    DEFAULT_TOLERANCE_S,
    SECRET_PREFIX,
    SIGNATURE_HEADER,
    DeliveryAttempt,
    DeliveryNotFoundError,
    DeliveryNotReplayableError,
    DeliveryStatus,
    DisablePolicy,
    EndpointDisabledError,
    EndpointNotFoundError,
    EndpointStatus,
    EndpointUnreachableError,
    InvalidEndpointError,
    InvalidField,
    InvalidSignatureError,
    RegisterEndpoint,
    ReplayDelivery,
    RetrySchedule,
    SignatureFailure,
    WebhookDelivery,
    WebhookEndpoint,
    WebhooksError,
    compute_signature,
    sign,
    verify,
)

__all__ = [
    "CONSUMER",
    "DEFAULT_DELAYS_S",
    "DEFAULT_TOLERANCE_S",
    "DISPATCHER_LEASE",
    "SECRET_PREFIX",
    "SIGNATURE_HEADER",
    "TOPICS",
    "DeliveryAttempt",
    "DeliveryNotFoundError",
    "DeliveryNotReplayableError",
    "DeliveryStatus",
    "DisablePolicy",
    "DispatcherConfig",
    "DueDelivery",
    "EndpointDisabledError",
    "EndpointNotFoundError",
    "EndpointStatus",
    "EndpointUnreachableError",
    "FanOutHandler",
    "InvalidEndpointError",
    "InvalidField",
    "InvalidSignatureError",
    "RegisterEndpoint",
    "ReplayDelivery",
    "RetrySchedule",
    "SignatureFailure",
    "UrlGuard",
    "WebhookDelivery",
    "WebhookDispatcher",
    "WebhookEndpoint",
    "WebhookSender",
    "WebhookService",
    "WebhooksError",
    "WebhooksReadModel",
    "WebhooksUnitOfWork",
    "compute_signature",
    "sign",
    "verify",
    "webhook_subscription",
]
