"""The webhooks unit of work, its repositories and the read model, as ports (tenant-scoped).

The dispatcher's statements (``claim_due``, ``record_attempt``, the endpoint streak) are
the exceptions to tenant scoping: they act on rows the dispatcher itself claimed by id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bazaar.contexts.webhooks.domain.model import (
    DeliveryAttempt,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from bazaar.contexts.webhooks.domain.policy import NextStep
from bazaar.kernel.domain import DomainEvent, UnitOfWork
from bazaar.kernel.messaging.ports import Inbox

__all__ = [
    "DeliveryRepository",
    "DueDelivery",
    "EndpointRepository",
    "EndpointStreak",
    "WebhooksReadModel",
    "WebhooksUnitOfWork",
]


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery the dispatcher claimed, with what it needs to send it."""

    id: int
    tenant_id: int
    endpoint_id: int
    event_id: str
    event_type: str
    payload: bytes = field(repr=False)
    attempts: int
    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class EndpointStreak:
    """An endpoint's current run of failed attempts, after one more was counted."""

    status: EndpointStatus
    consecutive_failures: int
    failing_since: datetime | None


class EndpointRepository(Protocol):
    async def add(self, endpoint: WebhookEndpoint) -> None: ...

    async def get(self, tenant_id: int, endpoint_id: int) -> WebhookEndpoint | None: ...

    async def active_for(self, tenant_id: int) -> list[WebhookEndpoint]:
        """The tenant's active endpoints (the fan-out filters them by event type)."""
        ...

    async def delete(self, tenant_id: int, endpoint_id: int) -> bool:
        """Delete the endpoint with its deliveries and their attempts; False if unknown."""
        ...

    async def enable(self, tenant_id: int, endpoint_id: int, at: datetime) -> bool:
        """Make it active with a fresh streak; False if unknown."""
        ...

    async def record_success(self, endpoint_id: int) -> None:
        """End the endpoint's streak of failures."""
        ...

    async def record_failure(self, endpoint_id: int, at: datetime) -> EndpointStreak | None:
        """Count one more failed attempt (atomically); None if the endpoint is gone."""
        ...

    async def disable(self, endpoint_id: int, reason: str, at: datetime) -> bool:
        """Disable an active endpoint; False if it was not active (or is gone)."""
        ...


class DeliveryRepository(Protocol):
    async def add(self, delivery: WebhookDelivery) -> bool:
        """Insert; False when the endpoint already has a delivery of this event."""
        ...

    async def get(self, tenant_id: int, delivery_id: int) -> WebhookDelivery | None: ...

    async def claim_due(self, now: datetime, hold_until: datetime, limit: int) -> list[DueDelivery]:
        """Up to ``limit`` deliveries due at ``now`` of active endpoints, soonest first.

        Claiming moves their ``next_attempt_at`` to ``hold_until``, so no other poll takes
        them while they are being sent; if this process dies mid-send, they are due again
        then (at least once: receivers dedupe on the event id).
        """
        ...

    async def record_attempt(
        self, delivery_id: int, attempt: DeliveryAttempt, step: NextStep
    ) -> bool:
        """Append the attempt and move the delivery to ``step``; False if it is gone."""
        ...

    async def purge_final(self, created_before: datetime) -> int:
        """Delete succeeded and abandoned deliveries (and their attempts) created before.

        Deliveries still waiting are never purged, however old. Returns how many went.
        """
        ...

    async def replay(self, tenant_id: int, delivery_id: int, at: datetime) -> bool:
        """Make a failed or abandoned delivery pending and due at ``at``; False otherwise."""
        ...


class WebhooksUnitOfWork(UnitOfWork[DomainEvent], Protocol):
    """One transaction over endpoints, deliveries and the consumer's inbox.

    ``inbox`` joins the same transaction, so the fan-out's delivery rows and the record of
    the event they came from commit together or not at all (capabilities §6.3).
    """

    @property
    def endpoints(self) -> EndpointRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def inbox(self) -> Inbox: ...


class WebhooksReadModel(Protocol):
    """Reads outside any write transaction (a replica or SQLite's read-only pool)."""

    async def get_endpoint(self, tenant_id: int, endpoint_id: int) -> WebhookEndpoint | None: ...

    async def list_endpoints(
        self, tenant_id: int, *, limit: int, before_id: int | None = None
    ) -> list[WebhookEndpoint]:
        """Newest first; ``before_id`` pages on."""
        ...

    async def get_delivery(
        self, tenant_id: int, endpoint_id: int, delivery_id: int
    ) -> WebhookDelivery | None:
        """With its attempts log."""
        ...

    async def list_deliveries(
        self, tenant_id: int, endpoint_id: int, *, limit: int, before_id: int | None = None
    ) -> list[WebhookDelivery]:
        """Newest first, each with its attempts log; ``before_id`` pages on."""
        ...
