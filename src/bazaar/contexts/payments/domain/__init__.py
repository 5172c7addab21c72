"""The payments domain: payments, refunds, commands, events, errors (no I/O)."""

from __future__ import annotations

from bazaar.contexts.payments.domain.model import (
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    follow_up_key,
    operation_provider_key,
    provider_key,
)

__all__ = [
    "Payment",
    "PaymentStatus",
    "Refund",
    "RefundStatus",
    "follow_up_key",
    "operation_provider_key",
    "provider_key",
]
