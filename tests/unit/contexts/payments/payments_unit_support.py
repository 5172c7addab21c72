"""Helpers of the payments unit tests: ids, renderers, claiming a key as the HTTP layer does."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from bazaar.contexts.payments import Payment, PaymentService, Refund
from bazaar.contexts.payments.application.refunds import RefundOutcome
from bazaar.kernel.idempotency import Claim, Decision, StoredResponse

__all__ = [
    "CUSTOMER",
    "MERCHANT",
    "SCOPE",
    "START",
    "TENANT",
    "Ticket",
    "claim",
    "render_payment",
    "render_refund",
]

START = 1_800_000_000.0
TENANT, CUSTOMER, MERCHANT = 11, 21, 31
SCOPE = f"{TENANT}:{CUSTOMER}"


@dataclass(frozen=True)
class Ticket:
    scope: str
    key: str
    lock_token: str


def render_payment(payment: Payment) -> StoredResponse:
    body = {"id": payment.id, "status": payment.status.value, **payment.amount.to_json()}
    return StoredResponse(201, orjson.dumps(body))


def render_refund(outcome: RefundOutcome) -> StoredResponse:
    if isinstance(outcome, Refund):
        return StoredResponse(201, orjson.dumps({"id": outcome.id, "status": outcome.status}))
    return StoredResponse(409, orjson.dumps({"detail": outcome.message}))


async def claim(service: PaymentService, key: str, scope: str = SCOPE) -> Ticket:
    """Claim ``key`` as the HTTP layer does before running an operation."""
    claimed: Claim = await service.claim_key(scope, key, f"fingerprint-of-{key}")
    assert claimed.decision is Decision.PROCEED
    assert claimed.lock_token is not None
    return Ticket(scope, key, claimed.lock_token)
