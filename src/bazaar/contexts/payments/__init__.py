"""Payments and refunds (capabilities §5.4, §5.5, §5.7, §6.8): the context's public facade.

Other contexts and the API use payments only through these names: ``PaymentService`` for
every operation, ``Payment``/``Refund`` and their statuses, the events, and the errors the
service raises.
"""

from __future__ import annotations

from bazaar.contexts.payments.application.service import PaymentDetails, PaymentService
from bazaar.contexts.payments.domain.commands import (
    CreatePayment,
    RecordPspEvent,
    RefundPayment,
    Viewer,
)
from bazaar.contexts.payments.domain.errors import (
    InvalidRefundError,
    PaymentNotFoundError,
    PaymentNotRefundableError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
    PaymentsError,
    ProviderKeyReusedError,
    ProviderRefusalError,
    ProviderRuleError,
    PspUnavailableError,
    RefundExceedsCapturedError,
    RefundNotAllowedError,
    RefundRefusedByProviderError,
)
from bazaar.contexts.payments.domain.events import (
    PaymentDeclined,
    PaymentsEvent,
    PaymentSucceeded,
    RefundFailed,
    RefundSucceeded,
)
from bazaar.contexts.payments.domain.model import Payment, PaymentStatus, Refund, RefundStatus

__all__ = [
    "CreatePayment",
    "InvalidRefundError",
    "Payment",
    "PaymentDeclined",
    "PaymentDetails",
    "PaymentNotFoundError",
    "PaymentNotRefundableError",
    "PaymentOutcomeUnknownError",
    "PaymentRejectedError",
    "PaymentService",
    "PaymentStatus",
    "PaymentSucceeded",
    "PaymentsError",
    "PaymentsEvent",
    "ProviderKeyReusedError",
    "ProviderRefusalError",
    "ProviderRuleError",
    "PspUnavailableError",
    "RecordPspEvent",
    "Refund",
    "RefundExceedsCapturedError",
    "RefundFailed",
    "RefundNotAllowedError",
    "RefundPayment",
    "RefundRefusedByProviderError",
    "RefundStatus",
    "RefundSucceeded",
    "Viewer",
]
