"""The payments unit of work and its repositories, as ports (tenant-scoped where a tenant is known).

The exceptions look rows up by an identifier the PSP issued (an authorization or refund id in
a signed webhook): holding the PSP's signature is the authority, and the row names its tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bazaar.contexts.payments.domain.events import PaymentsEvent
from bazaar.contexts.payments.domain.model import Payment, Refund, RefundStatus
from bazaar.kernel.domain import UnitOfWork
from bazaar.kernel.idempotency import Claim, IdempotencyRecords

__all__ = [
    "PaymentRepository",
    "PaymentsReadModel",
    "PaymentsUnitOfWork",
    "RefundRepository",
    "WebhookEventRepository",
]


class PaymentRepository(Protocol):
    async def add(self, payment: Payment) -> None: ...

    async def add_unless_present(self, payment: Payment) -> bool:
        """Add ``payment`` unless one with its ``provider_key`` exists; False when one did
        (a concurrent run of the same operation committed it first)."""
        ...

    async def get(self, tenant_id: int, payment_id: int) -> Payment | None: ...

    async def get_by_provider_key(self, tenant_id: int, provider_key: str) -> Payment | None: ...

    async def get_by_authorization(self, psp_authorization_id: str) -> Payment | None:
        """Unscoped: the PSP's authorization id comes from a signed webhook."""
        ...

    async def reserve_refund(
        self, tenant_id: int, payment_id: int, amount_minor: int, at: datetime
    ) -> bool:
        """Add ``amount_minor`` to the refunded total unless that would pass the amount.

        One conditional write, so of concurrent reservations only those that fit succeed
        (False: the payment is not succeeded, or too little is left).
        """
        ...

    async def release_refund(
        self, tenant_id: int, payment_id: int, amount_minor: int, at: datetime
    ) -> None:
        """Give a reservation back (its refund failed)."""
        ...

    async def mark_captured(self, payment_id: int, at: datetime) -> bool:
        """Set ``captured_at`` if it was unset; False when it already was."""
        ...

    async def record_capture(
        self, tenant_id: int, payment_id: int, captured_at: datetime, at: datetime
    ) -> bool:
        """authorized → succeeded, in one conditional write; False unless it was authorized."""
        ...

    async def record_void(self, tenant_id: int, payment_id: int, at: datetime) -> bool:
        """authorized → voided, in one conditional write; False unless it was authorized."""
        ...


class RefundRepository(Protocol):
    async def add(self, refund: Refund) -> None: ...

    async def get_by_provider_key(self, tenant_id: int, provider_key: str) -> Refund | None: ...

    async def set_status(
        self,
        tenant_id: int,
        refund_id: int,
        status: RefundStatus,
        at: datetime,
        *,
        psp_refund_id: str | None = None,
    ) -> None: ...

    async def get_by_psp_refund_id(self, psp_refund_id: str) -> Refund | None:
        """Unscoped: the PSP's refund id comes from a signed webhook."""
        ...

    async def delete(self, tenant_id: int, refund_id: int) -> None:
        """Forget a pending refund that certainly never reached the PSP."""
        ...

    async def has_pending(self, payment_id: int) -> bool:
        """Whether the payment has a refund in progress (unscoped, as above)."""
        ...


class WebhookEventRepository(Protocol):
    async def add(self, event_id: str, event_type: str, payload: bytes, at: datetime) -> bool:
        """Record an event id; False when it was recorded before (a replayed delivery)."""
        ...

    async def set_effect(self, event_id: str, effect: str) -> None: ...


class PaymentsReadModel(Protocol):
    """Reads outside any write transaction (a replica or SQLite's read-only pool)."""

    async def get_payment(self, tenant_id: int, payment_id: int) -> Payment | None: ...

    async def refunds_of(self, tenant_id: int, payment_id: int) -> list[Refund]: ...

    async def payment_for_order(self, tenant_id: int, order_id: int) -> Payment | None:
        """The order's newest payment (an order paid again after a decline has several)."""
        ...

    async def peek_key(self, scope: str, key: str, fingerprint: str, now: float) -> Claim:
        """What claiming the key would decide, read-only (replays while the PSP is down)."""
        ...


class PaymentsUnitOfWork(UnitOfWork[PaymentsEvent], Protocol):
    """One transaction over the payments repositories and the idempotency-key records.

    ``idempotency`` joins the same transaction, so completing a key and the business write
    commit together or not at all (capabilities §5.4).
    """

    @property
    def payments(self) -> PaymentRepository: ...

    @property
    def refunds(self) -> RefundRepository: ...

    @property
    def webhook_events(self) -> WebhookEventRepository: ...

    @property
    def idempotency(self) -> IdempotencyRecords: ...
