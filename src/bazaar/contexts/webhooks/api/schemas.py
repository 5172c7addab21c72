"""Request and response bodies of the webhooks API: one DTO per use, unknown fields refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bazaar.contexts.webhooks.domain.model import (
    DeliveryAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "AttemptPublic",
    "DeliveryPage",
    "DeliveryPublic",
    "EndpointCreate",
    "EndpointCreated",
    "EndpointPage",
    "EndpointPublic",
]

EventType = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class EndpointCreate(_Request):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        examples=["https://shop.example/hooks/bazaar"],
        description="http(s), reaching a public address (checked by the SSRF guard).",
    )
    events: list[EventType] = Field(
        min_length=1,
        max_length=100,
        examples=[["payments.payment_succeeded", "payments.refund_succeeded"]],
    )


class EndpointPublic(_Response):
    id: str
    url: str
    events: list[str]
    status: Literal["active", "disabled"]
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointPublic:
        return cls(
            id=str(endpoint.id),
            url=endpoint.url,
            events=list(endpoint.event_types),
            status=endpoint.status.value,
            disabled_reason=endpoint.disabled_reason,
            disabled_at=endpoint.disabled_at,
            created_at=endpoint.created_at,
        )


class EndpointCreated(EndpointPublic):
    secret: str = Field(
        description="Signs every delivery (Bazaar-Signature). Shown only in this answer."
    )


class EndpointPage(_Response):
    items: list[EndpointPublic]
    next_cursor: str | None


class AttemptPublic(_Response):
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> AttemptPublic:
        return cls(
            number=attempt.number,
            at=attempt.at,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
        )


class DeliveryPublic(_Response):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "succeeded", "failed", "abandoned"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None = Field(
        description="When the next attempt is due; null once final or while the endpoint "
        "is disabled."
    )
    created_at: datetime
    delivered_at: datetime | None
    attempts_log: list[AttemptPublic]

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryPublic:
        return cls(
            id=str(delivery.id),
            endpoint_id=str(delivery.endpoint_id),
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status.value,
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
            attempts_log=[AttemptPublic.of(a) for a in delivery.attempts_log],
        )


class DeliveryPage(_Response):
    items: list[DeliveryPublic]
    next_cursor: str | None
