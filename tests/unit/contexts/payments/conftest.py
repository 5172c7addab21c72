"""Fixtures for the payments unit tests: the service in memory, a fake PSP, a real guard."""

from __future__ import annotations

import random

import pytest
from payments_unit_support import START

from bazaar.contexts.payments import PaymentService
from bazaar.contexts.payments.adapters import (
    FakePaymentProvider,
    InMemoryPaymentsReadModel,
    InMemoryPaymentsStore,
)
from bazaar.kernel.breaker import BreakerConfig, CircuitBreaker
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.resilience import DependencyGuard, DependencyPolicy
from bazaar.kernel.retry import RetryPolicy


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture
def store() -> InMemoryPaymentsStore:
    return InMemoryPaymentsStore()


@pytest.fixture
def provider() -> FakePaymentProvider:
    return FakePaymentProvider()


@pytest.fixture
def breaker(clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker("psp", BreakerConfig(consecutive_failures=4, cooldown_s=30), clock)


@pytest.fixture
def guard(clock: ManualClock, breaker: CircuitBreaker) -> DependencyGuard:
    # Three attempts; ManualClock.sleep advances instead of waiting, so retries cost nothing.
    policy = DependencyPolicy(timeout_s=1.0, retry=RetryPolicy(max_attempts=3))
    return DependencyGuard("psp", policy, breaker=breaker, clock=clock, rng=random.Random(3))


@pytest.fixture
def service(
    store: InMemoryPaymentsStore,
    provider: FakePaymentProvider,
    guard: DependencyGuard,
    clock: ManualClock,
) -> PaymentService:
    return PaymentService(
        unit_of_work=store.unit_of_work,
        reads=InMemoryPaymentsReadModel(store),
        provider=provider,
        guard=guard,
        ids=SnowflakeGenerator(1, clock),
        clock=clock,
    )
