"""Events of the payments context: what happened (past tense, frozen, versioned, no card data).

A payment of ``POST /payments`` raises ``PaymentSucceeded`` or ``PaymentDeclined``. A
checkout's payment (``order_id`` set) raises ``PaymentAuthorized`` or ``PaymentDeclined``,
then ``PaymentCaptured`` or ``PaymentVoided`` — never ``PaymentSucceeded``: the
notifications context e-mails a receipt for every ``payments.payment_succeeded``, and the
customer of an order gets the order confirmation instead, not a second e-mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.domain import DomainEvent
from bazaar.kernel.money import Money

__all__ = [
    "PaymentAuthorized",
    "PaymentCaptured",
    "PaymentDeclined",
    "PaymentSucceeded",
    "PaymentVoided",
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
    order_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentAuthorized(PaymentsEvent):
    """A checkout's payment is held on the card (not captured yet)."""

    type: ClassVar[str] = "payments.payment_authorized"
    user_id: int
    order_id: int | None
    amount: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentCaptured(PaymentsEvent):
    """A checkout's authorized payment was captured (``PaymentSucceeded`` minus the e-mail)."""

    type: ClassVar[str] = "payments.payment_captured"
    user_id: int
    order_id: int | None
    amount: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentVoided(PaymentsEvent):
    """A checkout's authorization was released without capture."""

    type: ClassVar[str] = "payments.payment_voided"
    user_id: int
    order_id: int | None
    amount: Money


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
