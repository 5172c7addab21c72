"""The webhooks domain: endpoints and deliveries, retry and disable rules, signatures, errors."""

from __future__ import annotations

from bazaar.contexts.webhooks.domain.commands import Command, RegisterEndpoint, ReplayDelivery
from bazaar.contexts.webhooks.domain.errors import (
    DeliveryNotFoundError,
    DeliveryNotReplayableError,
    EndpointDisabledError,
    EndpointNotFoundError,
    EndpointUnreachableError,
    InvalidEndpointError,
    InvalidField,
    InvalidSignatureError,
    SignatureFailure,
    WebhooksError,
)
from bazaar.contexts.webhooks.domain.model import (
    SECRET_PREFIX,
    DeliveryAttempt,
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
    event_body,
    new_secret,
)
from bazaar.contexts.webhooks.domain.policy import (
    DEFAULT_DELAYS_S,
    DisablePolicy,
    NextStep,
    RetrySchedule,
)
from bazaar.contexts.webhooks.domain.signing import (
    DEFAULT_TOLERANCE_S,
    SIGNATURE_HEADER,
    SIGNATURE_SCHEME,
    compute_signature,
    sign,
    verify,
)

__all__ = [
    "DEFAULT_DELAYS_S",
    "DEFAULT_TOLERANCE_S",
    "SECRET_PREFIX",
    "SIGNATURE_HEADER",
    "SIGNATURE_SCHEME",
    "Command",
    "DeliveryAttempt",
    "DeliveryNotFoundError",
    "DeliveryNotReplayableError",
    "DeliveryStatus",
    "DisablePolicy",
    "EndpointDisabledError",
    "EndpointNotFoundError",
    "EndpointStatus",
    "EndpointUnreachableError",
    "InvalidEndpointError",
    "InvalidField",
    "InvalidSignatureError",
    "NextStep",
    "RegisterEndpoint",
    "ReplayDelivery",
    "RetrySchedule",
    "SignatureFailure",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhooksError",
    "compute_signature",
    "event_body",
    "new_secret",
    "sign",
    "verify",
]
