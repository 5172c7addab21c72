"""Entities of the payments context: payments and refunds.

A payment is created from the PSP's answer. Charged through ``POST /payments`` it is
authorized and captured in one PSP call and born in its final status; a checkout's payment
is authorized first and captured (or voided) by later calls of the saga::

    (authorize + capture) ──approved──► succeeded ──refunds──► succeeded
                          └──declined──► declined         (refunded grows up to amount)

    (authorize only) ──approved──► authorized ──capture──► succeeded ──refunds──► ...
                     │                  └──────void─────► voided
                     └──declined──► declined

``succeeded`` means captured: only a succeeded payment can be refunded. A refund reserves
its amount on the payment before the PSP is asked, so concurrent refunds can never promise
more than was captured::

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
    PaymentNotCapturableError,
    PaymentNotRefundableError,
    PaymentNotVoidableError,
    RefundExceedsCapturedError,
)
from bazaar.kernel.money import Money

__all__ = [
    "Payment",
    "PaymentStatus",
    "Refund",
    "RefundStatus",
    "follow_up_key",
    "operation_provider_key",
    "provider_key",
]


class PaymentStatus(enum.StrEnum):
    AUTHORIZED = "authorized"  # held on the card, not captured yet
    SUCCEEDED = "succeeded"  # captured
    DECLINED = "declined"
    VOIDED = "voided"  # an authorization released without capture


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


def operation_provider_key(tenant_id: int, operation_key: str) -> str:
    """The PSP's Idempotency-Key for an operation another context names (a saga step).

    ``operation_key`` is the caller's name for the operation (``order:42:authorize``), the
    same on every retry and after a crash, so the PSP sees the same key each time. The
    ``op:`` prefix keeps these apart from ``provider_key``'s, whose text starts with a digit.
    """
    return hashlib.sha256(f"op:{tenant_id}:{operation_key}".encode()).hexdigest()


def follow_up_key(payment_provider_key: str, operation: str) -> str:
    """The PSP key of the one ``capture`` or ``void`` an authorization can have.

    Derived from the payment's own key, so every retry of the capture (or void) of one
    payment carries the same key, whoever calls it and however often.
    """
    return hashlib.sha256(f"{payment_provider_key}:{operation}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Payment:
    """A card payment of one customer of one tenant (state diagram in the module docstring).

    ``refunded`` counts succeeded and pending refunds: what is promised back is never
    available again. ``order_id`` names the order a checkout's payment pays for; payments
    made through ``POST /payments`` have none.
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
    order_id: int | None = None

    def needs_capture(self) -> bool:
        """Whether capturing asks the PSP: True when authorized, False when captured already.

        Raises:
            PaymentNotCapturableError: declined or voided — nothing is held to capture.
        """
        if self.status is PaymentStatus.SUCCEEDED:
            return False
        if self.status is not PaymentStatus.AUTHORIZED:
            raise PaymentNotCapturableError(self.id, self.status.value)
        return True

    def needs_void(self) -> bool:
        """Whether voiding asks the PSP: True when authorized; False when voided or declined
        (nothing is held on the card either way).

        Raises:
            PaymentNotVoidableError: captured — the money moved; only a refund returns it.
        """
        if self.status is PaymentStatus.SUCCEEDED:
            raise PaymentNotVoidableError(self.id, self.status.value)
        return self.status is PaymentStatus.AUTHORIZED

    @property
    def refundable(self) -> Money:
        if self.status is not PaymentStatus.SUCCEEDED:
            return Money.zero(self.amount.currency)
        return self.amount - self.refunded

    def plan_refund(self, requested: Money | None) -> Money:
        """How much a refund takes: ``requested``, or everything left when None.

        Raises:
            PaymentNotRefundableError: the payment is not captured (declined, voided, or
                only authorized: void it instead).
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
    the PSP itself (reported by its webhook) has neither a ``provider_key`` nor a ``user_id``;
    one a checkout saga made as a compensation has a ``provider_key`` but no ``user_id``.
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
