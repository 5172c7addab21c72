"""The webhooks model: endpoints, deliveries, attempts, and the body a delivery carries.

An endpoint is a merchant's URL subscribed to event types. Each event of a subscribed type
becomes one delivery per endpoint (never two: deliveries are unique per endpoint and event
id), which lives through these states::

    pending ──2xx──▶ succeeded
       │  ▲
    fail │  └─replay (from failed or abandoned)
       ▼  │
    failed ──fail, schedule over──▶ abandoned
       └──fail──▶ failed (next attempt later)      failed ──2xx──▶ succeeded

``pending`` waits for its first attempt (or a replayed one), ``failed`` for a retry;
both carry ``next_attempt_at``; ``succeeded`` and ``abandoned`` are final (``next_attempt_at``
is None) until a replay. An endpoint is ``active`` or ``disabled``; while disabled it gets
no new deliveries and its pending ones wait.
"""

from __future__ import annotations

import enum
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "SECRET_PREFIX",
    "DeliveryAttempt",
    "DeliveryStatus",
    "EndpointStatus",
    "WebhookDelivery",
    "WebhookEndpoint",
    "event_body",
    "new_secret",
]

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 256 random bits, URL-safe base64."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class EndpointStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"

    @property
    def replayable(self) -> bool:
        return self in (DeliveryStatus.FAILED, DeliveryStatus.ABANDONED)


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """A merchant's URL and the event types sent to it (an entity of one tenant).

    ``consecutive_failures`` and ``failing_since`` describe the current streak of failed
    attempts (0 and None after a success): what the auto-disable rule reads.
    """

    id: int
    tenant_id: int
    url: str
    event_types: tuple[str, ...]
    secret: str = field(repr=False)
    status: EndpointStatus
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None

    def subscribes_to(self, event_type: str) -> bool:
        return event_type in self.event_types


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One POST of a delivery: when, what came back (a status code or an error), how long."""

    number: int
    at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event on its way to one endpoint; ``payload`` is the exact body every attempt sends."""

    id: int
    tenant_id: int
    endpoint_id: int
    event_id: str
    event_type: str
    payload: bytes = field(repr=False)
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    attempts_log: tuple[DeliveryAttempt, ...] = ()


def _ids_as_strings(value: Any, key: str = "") -> Any:
    # Ids are strings in bazaar's JSON (api.md): 64-bit integers lose digits in JavaScript.
    if isinstance(value, Mapping):
        return {str(k): _ids_as_strings(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_ids_as_strings(item) for item in value]
    if (
        (key == "id" or key.endswith("_id"))
        and isinstance(value, int)
        and not isinstance(value, bool)
    ):
        return str(value)
    return value


def event_body(
    *,
    event_id: str,
    event_type: str,
    version: int,
    occurred_at: datetime,
    tenant_id: int,
    data: Mapping[str, Any],
) -> bytes:
    """The JSON body of a delivery, built once and sent byte for byte on every attempt::

        {"id": "…", "type": "payments.payment_succeeded", "version": 1,
         "occurred_at": "2026-01-01T12:00:00+00:00", "tenant_id": "…",
         "data": {"payment_id": "…", "amount": {"amount": "12.00", "currency": "EUR"}, …}}

    ``data`` is the event's payload; integer ids (``id``, ``*_id``) become strings.
    """
    body = {
        "id": event_id,
        "type": event_type,
        "version": version,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
        "tenant_id": str(tenant_id),
        "data": _ids_as_strings(data),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
