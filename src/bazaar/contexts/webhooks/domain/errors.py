"""Errors of the webhooks context.

BazaarError
└── WebhooksError
    ├── EndpointNotFoundError(endpoint_id)             no such endpoint in the caller's tenant
    ├── DeliveryNotFoundError(delivery_id)             no such delivery of that endpoint
    ├── InvalidEndpointError(fields)                   url refused by the SSRF guard, unknown
    │                                                  event types (one ``InvalidField`` each)
    ├── DeliveryNotReplayableError(delivery_id, status)  only failed/abandoned ones replay
    ├── EndpointDisabledError(endpoint_id)             replaying needs the endpoint enabled
    ├── EndpointUnreachableError(reason)               one attempt got no HTTP answer
    │                                                  (raised by senders: connect, timeout)
    └── InvalidSignatureError(failure, detail)         ``verify`` refused a ``Bazaar-Signature``

Everything but ``EndpointUnreachableError`` and ``InvalidSignatureError`` refuses a request
before any write; ``EndpointUnreachableError`` is a failed attempt the dispatcher records
and retries; ``InvalidSignatureError`` is for receivers of bazaar's webhooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bazaar.kernel.errors import BazaarError
from bazaar.kernel.signing import SignatureFailure

__all__ = [
    "DeliveryNotFoundError",
    "DeliveryNotReplayableError",
    "EndpointDisabledError",
    "EndpointNotFoundError",
    "EndpointUnreachableError",
    "InvalidEndpointError",
    "InvalidField",
    "InvalidSignatureError",
    "SignatureFailure",
    "WebhooksError",
]


class WebhooksError(BazaarError):
    """Raised by the webhooks context on purpose."""


class EndpointNotFoundError(WebhooksError):
    """Unknown, or another tenant's: deliberately alike."""

    def __init__(self, endpoint_id: int) -> None:
        super().__init__(f"no webhook endpoint {endpoint_id}")
        self.endpoint_id = endpoint_id


class DeliveryNotFoundError(WebhooksError):
    """Unknown, or of another endpoint or tenant."""

    def __init__(self, delivery_id: int) -> None:
        super().__init__(f"no webhook delivery {delivery_id}")
        self.delivery_id = delivery_id


@dataclass(frozen=True, slots=True)
class InvalidField:
    """One field of a registration at fault: ``field`` is its name in the request body."""

    field: str
    message: str
    code: str


class InvalidEndpointError(WebhooksError):
    """The endpoint cannot be registered as asked; ``fields`` says every reason."""

    def __init__(self, fields: Sequence[InvalidField]) -> None:
        super().__init__("; ".join(f"{f.field}: {f.message}" for f in fields))
        self.fields = tuple(fields)


class DeliveryNotReplayableError(WebhooksError):
    """Only a failed or abandoned delivery can be replayed (the others are on their way)."""

    def __init__(self, delivery_id: int, status: str) -> None:
        super().__init__(f"delivery {delivery_id} is {status}")
        self.delivery_id = delivery_id
        self.status = status


class EndpointDisabledError(WebhooksError):
    """The endpoint is disabled: nothing is sent to it until it is enabled again."""

    def __init__(self, endpoint_id: int) -> None:
        super().__init__(f"webhook endpoint {endpoint_id} is disabled")
        self.endpoint_id = endpoint_id


class EndpointUnreachableError(WebhooksError):
    """An attempt got no HTTP answer: refused or reset connection, TLS failure, timeout."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidSignatureError(WebhooksError):
    """A delivery's signature does not check out (for receivers: answer 400 and drop it)."""

    def __init__(self, failure: SignatureFailure, detail: str = "") -> None:
        super().__init__(f"{failure}: {detail}" if detail else str(failure))
        self.failure = failure
        self.detail = detail
