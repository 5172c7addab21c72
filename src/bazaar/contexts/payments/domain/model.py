"""Entities of the payments context: payments (authorized and captured at once) and refunds.

A payment is created from the PSP's answer, so it is born in its final status::

    (authorize + capture at the PSP) ──approved──► succeeded ──refunds──► succeeded
                                     └──declined──► declined        (refunded grows up to amount)

A refund reserves its amount on the payment before the PSP is asked, so concurrent refunds
can never promise more than was captured::

    pending ──PSP refunded──► succeeded
       └────PSP refused, or certainly never reached──► failed (the reservation is given back)
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime

from bazaar.contexts.payments.domain.errors import (
    InvalidRefundError,
    PaymentNotRefundableError,
    RefundExceedsCapturedError,
)
from bazaar.kernel.money import Money

__all__ = [
    "Payment",
    "PaymentStatus",
    "Refund",
    "RefundStatus",
    "provider_key",
]


class PaymentStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def provider_key(tenant_id: int, user_id: int, idempotency_key: str) -> str:
    """The PSP's Idempotency-Key for the caller's key: the same request always sends the same.

    A retried, resumed or recovered request therefore reaches the PSP with the key it used
    the first time, and the PSP answers with what it did then instead of charging again.
    Hashing keeps the caller's key out of the PSP and fits any key into 64 characters.
    """
    scoped = f"{tenant_id}:{user_id}:{idempotency_key}".encode()
    return hashlib.sha256(scoped).hexdigest()


@dataclass(frozen=True, slots=True)
class Payment:
    """A card payment of one customer of one tenant, authorized and captured in one PSP call.

    ``refunded`` counts succeeded and pending refunds: what is promised back is never
    available again.
    """

    id: int
    tenant_id: int
    user_id: int
    amount: Money
    status: PaymentStatus
    psp_authorization_id: str
    provider_key: str
    decline_code: str | None
    description: str | None
    refunded: Money
    captured_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def refundable(self) -> Money:
        if self.status is not PaymentStatus.SUCCEEDED:
            return Money.zero(self.amount.currency)
        return self.amount - self.refunded

    def plan_refund(self, requested: Money | None) -> Money:
        """How much a refund takes: ``requested``, or everything left when None.

        Raises:
            PaymentNotRefundableError: the payment was declined.
            InvalidRefundError: ``requested`` is in another currency.
            RefundExceedsCapturedError: more than is left (also when nothing is left).
        """
        if self.status is not PaymentStatus.SUCCEEDED:
            raise PaymentNotRefundableError(self.id, self.status.value)
        if requested is not None and requested.currency != self.amount.currency:
            raise InvalidRefundError("amount.currency", f"the payment is in {self.amount.currency}")
        refundable = self.refundable
        amount = refundable if requested is None else requested
        if not amount.is_positive() or amount > refundable:
            raise RefundExceedsCapturedError(self.id, str(amount), str(refundable))
        return amount


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund of (part of) a payment.

    ``provider_key`` is unique, so a retry of the request finds its refund. A refund made at
    the PSP itself (reported by its webhook) has neither a ``provider_key`` nor a ``user_id``.
    """

    id: int
    tenant_id: int
    payment_id: int
    user_id: int | None
    amount: Money
    status: RefundStatus
    provider_key: str | None
    psp_refund_id: str | None
    created_at: datetime
    updated_at: datetime
