"""In-memory payments store and unit of work (unit tests; the fakes ship with the ports)."""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from bazaar.contexts.payments.domain.events import PaymentsEvent
from bazaar.contexts.payments.domain.model import (
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from bazaar.kernel.idempotency import Claim, InMemoryIdempotencyRecords
from bazaar.kernel.money import Money

__all__ = [
    "InMemoryPaymentRepository",
    "InMemoryPaymentsReadModel",
    "InMemoryPaymentsStore",
    "InMemoryPaymentsUnitOfWork",
    "InMemoryRefundRepository",
    "InMemoryWebhookEventRepository",
]


@dataclasses.dataclass
class InMemoryPaymentsStore:
    """The committed state; inspect it in tests (``payments``, ``refunds``, ``idempotency``)."""

    payments: dict[int, Payment] = dataclasses.field(default_factory=dict)
    refunds: dict[int, Refund] = dataclasses.field(default_factory=dict)
    webhook_events: dict[str, tuple[str, str | None]] = dataclasses.field(default_factory=dict)
    idempotency: InMemoryIdempotencyRecords = dataclasses.field(
        default_factory=InMemoryIdempotencyRecords
    )
    commits: int = 0

    def unit_of_work(self) -> InMemoryPaymentsUnitOfWork:
        return InMemoryPaymentsUnitOfWork(self)


class InMemoryPaymentRepository:
    def __init__(self, store: InMemoryPaymentsStore) -> None:
        self._store = store

    async def add(self, payment: Payment) -> None:
        rows = self._store.payments.values()
        if any(p.provider_key == payment.provider_key for p in rows):
            raise ValueError(f"duplicate provider key {payment.provider_key}")
        self._store.payments[payment.id] = payment

    async def add_unless_present(self, payment: Payment) -> bool:
        if await self.get_by_provider_key(payment.tenant_id, payment.provider_key) is not None:
            return False
        await self.add(payment)
        return True

    async def get(self, tenant_id: int, payment_id: int) -> Payment | None:
        payment = self._store.payments.get(payment_id)
        return payment if payment is not None and payment.tenant_id == tenant_id else None

    async def get_by_provider_key(self, tenant_id: int, provider_key: str) -> Payment | None:
        return next(
            (
                p
                for p in self._store.payments.values()
                if p.tenant_id == tenant_id and p.provider_key == provider_key
            ),
            None,
        )

    async def get_by_authorization(self, psp_authorization_id: str) -> Payment | None:
        rows = self._store.payments.values()
        return next((p for p in rows if p.psp_authorization_id == psp_authorization_id), None)

    def _change(self, payment: Payment, **changes: Any) -> None:
        self._store.payments[payment.id] = dataclasses.replace(payment, **changes)

    async def reserve_refund(
        self, tenant_id: int, payment_id: int, amount_minor: int, at: datetime
    ) -> bool:
        payment = await self.get(tenant_id, payment_id)
        if payment is None or payment.status is not PaymentStatus.SUCCEEDED:
            return False
        refunded = payment.refunded + Money.from_minor(amount_minor, payment.amount.currency)
        if refunded > payment.amount:
            return False
        self._change(payment, refunded=refunded, updated_at=at)
        return True

    async def release_refund(
        self, tenant_id: int, payment_id: int, amount_minor: int, at: datetime
    ) -> None:
        payment = await self.get(tenant_id, payment_id)
        if payment is not None:
            amount = Money.from_minor(amount_minor, payment.amount.currency)
            self._change(payment, refunded=payment.refunded - amount, updated_at=at)

    async def mark_captured(self, payment_id: int, at: datetime) -> bool:
        payment = self._store.payments.get(payment_id)
        if payment is None or payment.captured_at is not None:
            return False
        self._change(payment, captured_at=at, updated_at=at)
        return True

    async def record_capture(
        self, tenant_id: int, payment_id: int, captured_at: datetime, at: datetime
    ) -> bool:
        payment = await self.get(tenant_id, payment_id)
        if payment is None or payment.status is not PaymentStatus.AUTHORIZED:
            return False
        self._change(
            payment, status=PaymentStatus.SUCCEEDED, captured_at=captured_at, updated_at=at
        )
        return True

    async def record_void(self, tenant_id: int, payment_id: int, at: datetime) -> bool:
        payment = await self.get(tenant_id, payment_id)
        if payment is None or payment.status is not PaymentStatus.AUTHORIZED:
            return False
        self._change(payment, status=PaymentStatus.VOIDED, updated_at=at)
        return True


class InMemoryRefundRepository:
    def __init__(self, store: InMemoryPaymentsStore) -> None:
        self._store = store

    async def add(self, refund: Refund) -> None:
        self._store.refunds[refund.id] = refund

    async def get_by_provider_key(self, tenant_id: int, provider_key: str) -> Refund | None:
        rows = self._store.refunds.values()
        return next(
            (r for r in rows if r.tenant_id == tenant_id and r.provider_key == provider_key), None
        )

    async def set_status(
        self,
        tenant_id: int,
        refund_id: int,
        status: RefundStatus,
        at: datetime,
        *,
        psp_refund_id: str | None = None,
    ) -> None:
        refund = self._store.refunds.get(refund_id)
        if refund is None or refund.tenant_id != tenant_id:
            return
        psp_id = psp_refund_id if psp_refund_id is not None else refund.psp_refund_id
        self._store.refunds[refund_id] = dataclasses.replace(
            refund, status=status, psp_refund_id=psp_id, updated_at=at
        )

    async def get_by_psp_refund_id(self, psp_refund_id: str) -> Refund | None:
        rows = self._store.refunds.values()
        return next((r for r in rows if r.psp_refund_id == psp_refund_id), None)

    async def delete(self, tenant_id: int, refund_id: int) -> None:
        refund = self._store.refunds.get(refund_id)
        if refund is not None and refund.tenant_id == tenant_id:
            del self._store.refunds[refund_id]

    async def has_pending(self, payment_id: int) -> bool:
        return any(
            r.payment_id == payment_id and r.status is RefundStatus.PENDING
            for r in self._store.refunds.values()
        )


class InMemoryWebhookEventRepository:
    def __init__(self, store: InMemoryPaymentsStore) -> None:
        self._store = store

    async def add(self, event_id: str, event_type: str, payload: bytes, at: datetime) -> bool:
        if event_id in self._store.webhook_events:
            return False
        self._store.webhook_events[event_id] = (event_type, None)
        return True

    async def set_effect(self, event_id: str, effect: str) -> None:
        event_type, _ = self._store.webhook_events[event_id]
        self._store.webhook_events[event_id] = (event_type, effect)


class InMemoryPaymentsUnitOfWork:
    """Works on the store directly and restores a snapshot unless ``commit()`` runs."""

    def __init__(self, store: InMemoryPaymentsStore) -> None:
        self._store = store
        self.events: list[PaymentsEvent] = []
        self.committed = False
        self._snapshot: InMemoryPaymentsStore | None = None
        self._committed_events = 0
        self.payments = InMemoryPaymentRepository(store)
        self.refunds = InMemoryRefundRepository(store)
        self.webhook_events = InMemoryWebhookEventRepository(store)
        self.idempotency = store.idempotency

    async def __aenter__(self) -> Self:
        self.committed = False
        self._committed_events = len(self.events)
        self._snapshot = copy.deepcopy(self._store)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.committed:
            await self.rollback()
        self._snapshot = None

    async def commit(self) -> None:
        self.committed = True
        self._store.commits += 1
        self._committed_events = len(self.events)

    async def rollback(self) -> None:
        snapshot = self._snapshot
        if snapshot is not None:
            self._store.payments = snapshot.payments
            self._store.refunds = snapshot.refunds
            self._store.webhook_events = snapshot.webhook_events
            self._store.idempotency.records = snapshot.idempotency.records
        del self.events[self._committed_events :]


class InMemoryPaymentsReadModel:
    def __init__(self, store: InMemoryPaymentsStore) -> None:
        self._store = store

    async def get_payment(self, tenant_id: int, payment_id: int) -> Payment | None:
        payment = self._store.payments.get(payment_id)
        return payment if payment is not None and payment.tenant_id == tenant_id else None

    async def refunds_of(self, tenant_id: int, payment_id: int) -> list[Refund]:
        rows = self._store.refunds.values()
        return [r for r in rows if r.tenant_id == tenant_id and r.payment_id == payment_id]

    async def payment_for_order(self, tenant_id: int, order_id: int) -> Payment | None:
        rows = self._store.payments.values()
        found = [p for p in rows if p.tenant_id == tenant_id and p.order_id == order_id]
        return max(found, key=lambda p: (p.created_at, p.id), default=None)

    async def peek_key(self, scope: str, key: str, fingerprint: str, now: float) -> Claim:
        return await self._store.idempotency.peek(scope, key, fingerprint, now)
