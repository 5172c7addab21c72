"""Fixtures for notifications on a real SMTP path: the mail sink, the SMTP sender, the guard."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from notifications_integration_support import FROM, START

from bazaar.contexts.notifications.adapters import SmtpMailSender
from bazaar.infra.mail import MailSink
from bazaar.kernel.breaker import BreakerConfig, CircuitBreaker
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.resilience import DependencyGuard, DependencyPolicy
from bazaar.kernel.retry import RetryPolicy


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture
async def sink(tmp_path: Path, clock: ManualClock) -> AsyncIterator[MailSink]:
    async with MailSink(tmp_path / "mail", "127.0.0.1", 0, clock=clock) as running:
        yield running


@pytest.fixture
def guard(clock: ManualClock) -> DependencyGuard:
    breaker = CircuitBreaker("smtp", BreakerConfig(consecutive_failures=5), clock)
    return DependencyGuard(
        "smtp",
        DependencyPolicy(
            timeout_s=5.0, retry=RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=1.0)
        ),
        breaker=breaker,
        clock=clock,
        rng=random.Random(3),
    )


@pytest.fixture
def sender(sink: MailSink) -> SmtpMailSender:
    # An explicit EHLO name: no DNS lookup of this host's name in tests.
    return SmtpMailSender(sink.url, from_address=FROM, local_hostname="client.bazaar.test")
