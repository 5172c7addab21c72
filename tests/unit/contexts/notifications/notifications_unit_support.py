"""Fakes for the notifications unit tests: an in-memory inbox, envelopes, an ``smtp`` guard."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from bazaar.kernel.breaker import BreakerConfig, CircuitBreaker
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.resilience import DependencyGuard, DependencyPolicy
from bazaar.kernel.retry import RetryPolicy

__all__ = ["OCCURRED_AT", "FakeInbox", "make_guard", "order_confirmed", "payment_succeeded"]

OCCURRED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeInbox:
    """The ``Inbox`` port over a dict; ``records`` maps (consumer, message id) to when."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], datetime] = {}

    async def record(self, consumer: str, message_id: str, at: datetime) -> bool:
        if (consumer, message_id) in self.records:
            return False
        self.records[(consumer, message_id)] = at
        return True

    async def contains(self, consumer: str, message_id: str) -> bool:
        return (consumer, message_id) in self.records


def make_guard(clock: ManualClock, *, attempts: int = 3, consecutive: int = 5) -> DependencyGuard:
    breaker = CircuitBreaker(
        "smtp",
        BreakerConfig(minimum_calls=20, consecutive_failures=consecutive, cooldown_s=30.0),
        clock,
    )
    return DependencyGuard(
        "smtp",
        DependencyPolicy(
            timeout_s=2.0,
            retry=RetryPolicy(max_attempts=attempts, base_delay_s=0.1, max_delay_s=1.0),
        ),
        breaker=breaker,
        clock=clock,
        rng=random.Random(7),
    )


def payment_succeeded(event_id: str = "7001", **payload: Any) -> Envelope:
    body: dict[str, Any] = {
        "tenant_id": 11,
        "payment_id": 501,
        "user_id": 21,
        "amount": {"amount": "19.99", "currency": "EUR"},
    }
    return Envelope(
        id=event_id,
        type="payments.payment_succeeded",
        version=1,
        key="501",
        occurred_at=OCCURRED_AT,
        payload=body | payload,
    )


def order_confirmed(event_id: str = "8001", **payload: Any) -> Envelope:
    body: dict[str, Any] = {
        "tenant_id": 11,
        "order_id": 901,
        "user_id": 21,
        "total": {"amount": "42.50", "currency": "EUR"},
    }
    return Envelope(
        id=event_id,
        type="orders.order_confirmed",
        version=1,
        key="901",
        occurred_at=OCCURRED_AT,
        payload=body | payload,
    )
