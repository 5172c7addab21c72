"""Payments and refunds (capabilities §5.4, §5.5, §5.7, §6.8): the context's public facade.

Other contexts and the API use payments only through these names: ``PaymentService`` for
every operation, ``Payment``/``Refund`` and their statuses, the events, and the errors the
service raises. A checkout saga drives its payment with ``authorize_order_payment``
(``AuthorizeOrderPayment``), ``capture_payment``, ``void_payment`` and
``refund_order_payment``, each safe to call again with the same arguments.
"""

from __future__ import annotations

from bazaar.contexts.payments.application.service import PaymentDetails, PaymentService
from bazaar.contexts.payments.domain.commands import (
    AuthorizeOrderPayment,
    CreatePayment,
    RecordPspEvent,
    RefundPayment,
    Viewer,
)
from bazaar.contexts.payments.domain.errors import (
    InvalidRefundError,
    PaymentNotCapturableError,
    PaymentNotFoundError,
    PaymentNotRefundableError,
    PaymentNotVoidableError,
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
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclined,
    PaymentsEvent,
    PaymentSucceeded,
    PaymentVoided,
    RefundFailed,
    RefundSucceeded,
)
from bazaar.contexts.payments.domain.model import Payment, PaymentStatus, Refund, RefundStatus

__all__ = [
    "AuthorizeOrderPayment",
    "CreatePayment",
    "InvalidRefundError",
    "Payment",
    "PaymentAuthorized",
    "PaymentCaptured",
    "PaymentDeclined",
    "PaymentDetails",
    "PaymentNotCapturableError",
    "PaymentNotFoundError",
    "PaymentNotRefundableError",
    "PaymentNotVoidableError",
    "PaymentOutcomeUnknownError",
    "PaymentRejectedError",
    "PaymentService",
    "PaymentStatus",
    "PaymentSucceeded",
    "PaymentVoided",
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
