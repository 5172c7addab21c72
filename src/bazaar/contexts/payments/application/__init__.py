"""The payments application layer: handlers, ports, the guarded PSP and the facade service."""

from __future__ import annotations

from bazaar.contexts.payments.application.handlers import PaymentsDependencies
from bazaar.contexts.payments.application.keys import KeyTicket, Render
from bazaar.contexts.payments.application.ports import (
    AuthorizationLookup,
    AuthorizationRequest,
    EventListener,
    IdGenerator,
    PaymentProvider,
    ProviderAuthorization,
    ProviderAuthorizationStatus,
    ProviderKeyState,
    ProviderRefund,
    RefundLookup,
)
from bazaar.contexts.payments.application.provider_calls import GuardedProvider
from bazaar.contexts.payments.application.refunds import RefundOutcome
from bazaar.contexts.payments.application.service import PaymentDetails, PaymentService
from bazaar.contexts.payments.application.unit_of_work import (
    PaymentRepository,
    PaymentsReadModel,
    PaymentsUnitOfWork,
    RefundRepository,
    WebhookEventRepository,
)

__all__ = [
    "AuthorizationLookup",
    "AuthorizationRequest",
    "EventListener",
    "GuardedProvider",
    "IdGenerator",
    "KeyTicket",
    "PaymentDetails",
    "PaymentProvider",
    "PaymentRepository",
    "PaymentService",
    "PaymentsDependencies",
    "PaymentsReadModel",
    "PaymentsUnitOfWork",
    "ProviderAuthorization",
    "ProviderAuthorizationStatus",
    "ProviderKeyState",
    "ProviderRefund",
    "RefundLookup",
    "RefundOutcome",
    "RefundRepository",
    "Render",
    "WebhookEventRepository",
]
