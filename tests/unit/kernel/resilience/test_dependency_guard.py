"""The dependency guard composes bulkhead, breaker, timeout, retries and faults correctly."""

from __future__ import annotations

import asyncio
import random

import pytest

from bazaar.kernel.breaker import BreakerConfig, BreakerState, CircuitBreaker
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.deadline import deadline_scope
from bazaar.kernel.resilience import (
    CallOutcome,
    DependencyCalled,
    DependencyFailureError,
    DependencyGuard,
    DependencyPolicy,
    DependencyUnavailableError,
    FaultSpec,
    RecordingGuardListener,
)
from bazaar.kernel.retry import RetryPolicy


class Declined(Exception):
    """A business answer of the dependency (not a failure)."""


class FlakyDependency:
    """Fails the first ``failures`` calls with a transient error, then answers ``ok``."""

    def __init__(self, failures: int = 0, *, answer: Exception | None = None) -> None:
        self.failures = failures
        self.answer = answer
        self.calls = 0
        self.timeouts: list[float] = []

    async def __call__(self, timeout_s: float) -> str:
        self.calls += 1
        self.timeouts.append(timeout_s)
        if self.calls <= self.failures:
            raise DependencyFailureError("psp", "503 from upstream")
        if self.answer is not None:
            raise self.answer
        return "ok"


def make_guard(
    clock: ManualClock,
    *,
    attempts: int = 3,
    listener: RecordingGuardListener | None = None,
    max_concurrent: int = 4,
    max_queue: int = 0,
) -> DependencyGuard:
    breaker = CircuitBreaker(
        "psp",
        BreakerConfig(minimum_calls=4, consecutive_failures=3, cooldown_s=30.0),
        clock,
    )
    return DependencyGuard(
        "psp",
        DependencyPolicy(
            timeout_s=2.0,
            retry=RetryPolicy(max_attempts=attempts, base_delay_s=0.1, max_delay_s=1.0),
            max_concurrent=max_concurrent,
            max_queue=max_queue,
        ),
        breaker=breaker,
        clock=clock,
        listener=listener,
        rng=random.Random(7),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_800_000_000)


class TestDependencyGuard:
    async def test_retries_a_retry_safe_call_through_transient_failures(
        self, clock: ManualClock
    ) -> None:
        listener = RecordingGuardListener()
        guard = make_guard(clock, listener=listener)
        dependency = FlakyDependency(failures=2)
        assert await guard.call(dependency, retry_safe=True) == "ok"
        assert dependency.calls == 3
        outcomes = [e.outcome for e in listener.events if isinstance(e, DependencyCalled)]
        assert outcomes == [CallOutcome.ERROR, CallOutcome.ERROR, CallOutcome.SUCCESS]

    async def test_never_retries_an_unsafe_call(self, clock: ManualClock) -> None:
        guard = make_guard(clock)
        dependency = FlakyDependency(failures=1)
        with pytest.raises(DependencyUnavailableError) as info:
            await guard.call(dependency, retry_safe=False)
        assert info.value.reason == "failed"
        assert dependency.calls == 1

    async def test_a_business_answer_passes_through_and_is_not_a_failure(
        self, clock: ManualClock
    ) -> None:
        guard = make_guard(clock)
        for _ in range(5):
            with pytest.raises(Declined):
                await guard.call(FlakyDependency(answer=Declined()), retry_safe=True)
        assert (await guard.breaker.snapshot()).state is BreakerState.CLOSED

    async def test_an_open_breaker_fails_fast_without_calling(self, clock: ManualClock) -> None:
        guard = make_guard(clock, attempts=1)
        for _ in range(3):
            with pytest.raises(DependencyUnavailableError):
                await guard.call(FlakyDependency(failures=99), retry_safe=True)
        assert (await guard.breaker.snapshot()).state is BreakerState.OPEN
        untouched = FlakyDependency()
        with pytest.raises(DependencyUnavailableError) as info:
            await guard.call(untouched, retry_safe=True)
        assert info.value.reason == "breaker_open"
        assert info.value.retry_after_s == pytest.approx(30.0)
        assert untouched.calls == 0

    async def test_recovers_through_half_open_after_the_cooldown(self, clock: ManualClock) -> None:
        guard = make_guard(clock, attempts=1)
        for _ in range(3):
            with pytest.raises(DependencyUnavailableError):
                await guard.call(FlakyDependency(failures=99), retry_safe=True)
        clock.advance(30.0)
        assert await guard.call(FlakyDependency(), retry_safe=True) == "ok"
        assert (await guard.breaker.snapshot()).state is BreakerState.CLOSED

    async def test_an_injected_outage_opens_the_breaker_like_a_real_one(
        self, clock: ManualClock
    ) -> None:
        guard = make_guard(clock, attempts=1)
        guard.faults.set(FaultSpec(outage=True))
        dependency = FlakyDependency()
        for _ in range(3):
            with pytest.raises(DependencyUnavailableError):
                await guard.call(dependency, retry_safe=True)
        assert dependency.calls == 0
        assert (await guard.breaker.snapshot()).state is BreakerState.OPEN

    async def test_injected_latency_is_spent_on_the_clock(self, clock: ManualClock) -> None:
        guard = make_guard(clock)
        guard.faults.set(FaultSpec(latency_ms=250))
        assert await guard.call(FlakyDependency(), retry_safe=True) == "ok"
        assert clock.sleeps == [0.25]

    async def test_each_attempt_gets_at_most_the_remaining_deadline(
        self, clock: ManualClock
    ) -> None:
        guard = make_guard(clock)
        dependency = FlakyDependency()
        with deadline_scope(0.5, clock):
            await guard.call(dependency, retry_safe=True)
        assert dependency.timeouts == [pytest.approx(0.5)]

    async def test_a_slow_attempt_times_out_and_counts_as_a_timeout(
        self, clock: ManualClock
    ) -> None:
        listener = RecordingGuardListener()
        guard = make_guard(clock, attempts=1, listener=listener)

        async def hangs(timeout_s: float) -> str:
            await asyncio.Event().wait()
            return "never"

        with deadline_scope(0.01, clock), pytest.raises(DependencyUnavailableError):
            await guard.call(hangs, retry_safe=False)
        assert [e.outcome for e in listener.events if isinstance(e, DependencyCalled)] == [
            CallOutcome.TIMEOUT
        ]

    async def test_a_full_bulkhead_rejects_at_once(self, clock: ManualClock) -> None:
        guard = make_guard(clock, max_concurrent=1, max_queue=0)
        release = asyncio.Event()

        async def holds(timeout_s: float) -> str:
            await release.wait()
            return "held"

        first = asyncio.create_task(guard.call(holds, retry_safe=False))
        await asyncio.sleep(0)
        with pytest.raises(DependencyUnavailableError) as info:
            await guard.call(FlakyDependency(), retry_safe=True)
        release.set()
        assert await first == "held"
        assert info.value.reason == "bulkhead_full"


class TestRetryBudgetDuringAnOutage:
    async def test_retries_stay_within_the_budget_however_many_calls_fail(
        self, clock: ManualClock
    ) -> None:
        # A breaker that never opens isolates the budget: without it, 3 attempts per call
        # would triple the load on the failing dependency.
        breaker = CircuitBreaker(
            "psp", BreakerConfig(minimum_calls=10_000, consecutive_failures=10_000), clock
        )
        guard = DependencyGuard(
            "psp",
            DependencyPolicy(retry=RetryPolicy(max_attempts=3, base_delay_s=0.01)),
            breaker=breaker,
            clock=clock,
            rng=random.Random(3),
        )
        dependency = FlakyDependency(failures=10**9)
        calls = 200
        for _ in range(calls):
            with pytest.raises(DependencyUnavailableError):
                await guard.call(dependency, retry_safe=True)
        retries = dependency.calls - calls
        # ratio 10 % of the calls in the window, plus the small per-window allowance.
        assert retries <= 0.1 * calls + 3
        assert dependency.calls < 3 * calls / 2


class TestFailFastIfOpen:
    async def test_passes_while_closed(self, clock: ManualClock) -> None:
        await make_guard(clock).fail_fast_if_open()

    async def test_refuses_while_open_and_passes_after_the_cooldown(
        self, clock: ManualClock
    ) -> None:
        guard = make_guard(clock, attempts=1)
        for _ in range(3):
            with pytest.raises(DependencyUnavailableError):
                await guard.call(FlakyDependency(failures=99), retry_safe=True)
        clock.advance(10)
        with pytest.raises(DependencyUnavailableError) as info:
            await guard.fail_fast_if_open()
        assert info.value.reason == "breaker_open"
        assert info.value.retry_after_s == pytest.approx(20.0)
        clock.advance(20)
        await guard.fail_fast_if_open()
