"""Tests for the async retry driver, on a manual clock and a seeded random."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.deadline import DeadlineExceededError, deadline_scope, remaining_s
from bazaar.kernel.retry import (
    GiveUpReason,
    RecordingListener,
    RetryBudget,
    RetryBudgetExhausted,
    RetryGaveUp,
    RetryListener,
    RetryPolicy,
    RetryScheduled,
    retry_after_attribute,
    retry_call,
)


class TransientError(Exception):
    """A failure worth retrying, optionally carrying the dependency's Retry-After."""

    def __init__(self, retry_after_s: float | None = None) -> None:
        super().__init__("transient")
        self.retry_after_s = retry_after_s


class PermanentError(Exception):
    """A failure that will not go away by retrying."""


def transient_only(exc: BaseException) -> bool:
    return isinstance(exc, TransientError)


class Flaky:
    """An async callable that raises the given errors in turn, then returns ``result``."""

    def __init__(self, *errors: BaseException, result: str = "ok") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


async def call(
    fn: Callable[[], Awaitable[str]],
    *,
    clock: ManualClock | None = None,
    policy: RetryPolicy | None = None,
    budget: RetryBudget | None = None,
    listener: RetryListener | None = None,
    deadline_remaining: Callable[[], float | None] | None = None,
    **kwargs: object,
) -> str:
    clock = clock or ManualClock()
    return await retry_call(
        fn,
        policy=policy or RetryPolicy(),
        budget=budget if budget is not None else RetryBudget(clock),
        is_retryable=transient_only,
        clock=clock,
        rng=random.Random(3),
        deadline_remaining=deadline_remaining,
        listener=listener,
        dependency="psp",
        **kwargs,  # type: ignore[arg-type]
    )


class TestRetryCall:
    async def test_returns_the_first_success_without_sleeping(self) -> None:
        clock, listener = ManualClock(), RecordingListener()
        fn = Flaky()
        assert await call(fn, clock=clock, listener=listener) == "ok"
        assert fn.calls == 1
        assert clock.sleeps == []
        assert listener.events == []

    async def test_retries_transient_failures_until_success(self) -> None:
        clock, listener = ManualClock(), RecordingListener()
        fn = Flaky(TransientError(), TransientError())
        assert await call(fn, clock=clock, listener=listener) == "ok"
        assert fn.calls == 3
        assert listener.events == [
            RetryScheduled("psp", 2, clock.sleeps[0]),
            RetryScheduled("psp", 3, clock.sleeps[1]),
        ]
        assert 0 <= clock.sleeps[0] <= 0.1
        assert 0 <= clock.sleeps[1] <= 0.2

    async def test_raises_a_non_retryable_error_at_once(self) -> None:
        listener = RecordingListener()
        fn = Flaky(PermanentError("no"))
        with pytest.raises(PermanentError):
            await call(fn, listener=listener)
        assert fn.calls == 1
        assert listener.events == [RetryGaveUp("psp", GiveUpReason.NOT_RETRYABLE, 1)]

    async def test_reraises_the_last_error_with_a_note_when_attempts_run_out(self) -> None:
        listener = RecordingListener()
        errors = [TransientError(), TransientError(), TransientError()]
        fn = Flaky(*errors)
        with pytest.raises(TransientError) as caught:
            await call(fn, policy=RetryPolicy(max_attempts=3), listener=listener)
        assert caught.value is errors[-1]
        assert caught.value.__notes__ == [
            "retry gave up on 'psp' after 3 attempt(s): attempts_exhausted"
        ]
        assert listener.events[-1] == RetryGaveUp("psp", GiveUpReason.ATTEMPTS_EXHAUSTED, 3)

    async def test_stops_when_the_budget_is_spent(self) -> None:
        clock, listener = ManualClock(), RecordingListener()
        budget = RetryBudget(clock, ratio=0.0, min_retries_per_window=1)
        with pytest.raises(TransientError):
            await call(
                Flaky(TransientError(), TransientError()),
                clock=clock,
                budget=budget,
                listener=listener,
            )
        assert listener.events[1:] == [
            RetryBudgetExhausted("psp"),
            RetryGaveUp("psp", GiveUpReason.BUDGET_EXHAUSTED, 2),
        ]

    async def test_a_shared_budget_stops_retries_from_multiplying_an_outage(self) -> None:
        clock = ManualClock()
        budget = RetryBudget(clock, ratio=0.1, min_retries_per_window=0)
        callers = [Flaky(*[TransientError()] * 5) for _ in range(100)]
        for fn in callers:
            with pytest.raises(TransientError):
                await call(fn, clock=clock, budget=budget, policy=RetryPolicy(max_attempts=5))
        attempts = sum(fn.calls for fn in callers)
        # Without the budget this outage would have seen 500 attempts, not 100 + 10 %.
        assert attempts <= 110

    async def test_honours_the_retry_after_a_failure_carries(self) -> None:
        clock = ManualClock()
        assert await call(Flaky(TransientError(retry_after_s=2.0)), clock=clock) == "ok"
        assert clock.sleeps == [2.0]

    async def test_reads_retry_after_with_a_custom_extractor(self) -> None:
        clock = ManualClock()
        fn = Flaky(TransientError())
        assert await call(fn, clock=clock, retry_after=lambda exc: 1.5) == "ok"
        assert clock.sleeps == [1.5]

    async def test_gives_up_when_the_deadline_leaves_no_room_for_a_retry(self) -> None:
        clock, listener = ManualClock(), RecordingListener()
        with deadline_scope(1.0, clock), pytest.raises(TransientError):
            await call(
                Flaky(TransientError(retry_after_s=1.0)),
                clock=clock,
                listener=listener,
                deadline_remaining=remaining_s,
            )
        assert listener.events == [RetryGaveUp("psp", GiveUpReason.DEADLINE, 1)]

    async def test_makes_no_attempt_once_the_deadline_has_passed(self) -> None:
        clock, listener = ManualClock(), RecordingListener()
        fn = Flaky()
        with deadline_scope(1.0, clock), pytest.raises(DeadlineExceededError) as caught:
            clock.advance(1.5)
            await call(fn, clock=clock, listener=listener, deadline_remaining=remaining_s)
        assert fn.calls == 0
        assert caught.value.overdue_s == 0.0  # remaining_s() never goes below zero
        assert listener.events == [RetryGaveUp("psp", GiveUpReason.DEADLINE, 0)]

    async def test_never_retries_a_cancellation(self) -> None:
        fn = Flaky(asyncio.CancelledError())
        with pytest.raises(asyncio.CancelledError):
            await retry_call(
                fn,
                policy=RetryPolicy(),
                budget=None,
                is_retryable=lambda exc: True,
                clock=ManualClock(),
                rng=random.Random(0),
            )
        assert fn.calls == 1

    async def test_runs_without_budget_or_listener(self) -> None:
        fn = Flaky(TransientError())
        result = await retry_call(
            fn,
            policy=RetryPolicy(),
            budget=None,
            is_retryable=transient_only,
            clock=ManualClock(),
            rng=random.Random(0),
        )
        assert result == "ok"
        assert fn.calls == 2


class TestRetryAfterAttribute:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [(2, 2.0), (0.5, 0.5), (None, None), ("3", None), (True, None)],
    )
    def test_reads_only_numeric_retry_after_s(self, value: object, expected: float | None) -> None:
        exc = Exception()
        exc.retry_after_s = value  # type: ignore[attr-defined]
        assert retry_after_attribute(exc) == expected

    def test_is_none_for_exceptions_without_the_attribute(self) -> None:
        assert retry_after_attribute(ValueError()) is None
