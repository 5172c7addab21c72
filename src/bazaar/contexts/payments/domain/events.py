"""Events of the payments context: what happened (past tense, frozen, versioned, no card data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.domain import DomainEvent
from bazaar.kernel.money import Money

__all__ = [
    "PaymentDeclined",
    "PaymentSucceeded",
    "PaymentsEvent",
    "RefundFailed",
    "RefundSucceeded",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentsEvent(DomainEvent):
    """Base of every payments event: each is about one payment, and ordered per payment."""

    payment_id: int

    @property
    def partition_key(self) -> str:
        return str(self.payment_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentSucceeded(PaymentsEvent):
    type: ClassVar[str] = "payments.payment_succeeded"
    user_id: int
    amount: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentDeclined(PaymentsEvent):
    type: ClassVar[str] = "payments.payment_declined"
    user_id: int
    decline_code: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundSucceeded(PaymentsEvent):
    type: ClassVar[str] = "payments.refund_succeeded"
    refund_id: int
    amount: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundFailed(PaymentsEvent):
    type: ClassVar[str] = "payments.refund_failed"
    refund_id: int
    reason: str
