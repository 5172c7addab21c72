"""Tests for the pure retry state machine: which decision follows which outcome."""

from __future__ import annotations

import random

import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import KernelError
from bazaar.kernel.retry import (
    AttemptFailed,
    DoAttempt,
    DoSleep,
    GiveUp,
    GiveUpReason,
    RetryBudget,
    RetryError,
    Retrying,
    RetryPolicy,
    RetryState,
    RetryStateError,
    full_jitter,
)

RETRYABLE = AttemptFailed(retryable=True)


class MaxRandom:
    """Jitter that always draws the top of the interval."""

    def uniform(self, a: float, b: float) -> float:
        return b


class CountingBudget:
    """A budget port that allows a fixed number of retries and counts what it is told."""

    def __init__(self, retries: int) -> None:
        self.left = retries
        self.calls = 0
        self.asked = 0

    def record_call(self) -> None:
        self.calls += 1

    def try_acquire_retry(self) -> bool:
        self.asked += 1
        if self.left == 0:
            return False
        self.left -= 1
        return True


def machine(
    policy: RetryPolicy | None = None,
    budget: CountingBudget | RetryBudget | None = None,
    rng: random.Random | MaxRandom | None = None,
) -> Retrying:
    return Retrying(policy or RetryPolicy(), budget, rng or random.Random(1))


class TestRetrying:
    def test_starts_with_the_first_attempt_and_counts_the_call(self) -> None:
        budget = CountingBudget(retries=5)
        retrying = machine(budget=budget)
        assert retrying.state is RetryState.READY
        assert retrying.next() == DoAttempt(1)
        assert retrying.state is RetryState.ATTEMPTING
        assert budget.calls == 1

    def test_a_retryable_failure_sleeps_then_attempts_again(self) -> None:
        budget = CountingBudget(retries=5)
        retrying = machine(budget=budget)
        retrying.next()
        decision = retrying.next(RETRYABLE)
        assert isinstance(decision, DoSleep)
        assert retrying.state is RetryState.SLEEPING
        assert retrying.next() == DoAttempt(2)
        assert budget.calls == 1  # a retry is not a call
        assert budget.asked == 1

    def test_sleeps_are_full_jitter_of_the_failed_attempt(self) -> None:
        policy = RetryPolicy(max_attempts=4)
        retrying = machine(policy, rng=random.Random(99))
        expected_rng = random.Random(99)
        retrying.next()
        for attempt in (1, 2, 3):
            decision = retrying.next(RETRYABLE)
            assert decision == DoSleep(full_jitter(policy, attempt, expected_rng))
            retrying.next()

    def test_gives_up_at_once_on_a_failure_that_is_not_retryable(self) -> None:
        budget = CountingBudget(retries=5)
        retrying = machine(budget=budget)
        retrying.next()
        assert retrying.next(AttemptFailed(retryable=False)) == GiveUp(
            GiveUpReason.NOT_RETRYABLE, 1
        )
        assert retrying.state is RetryState.DONE
        assert budget.asked == 0

    def test_gives_up_after_max_attempts(self) -> None:
        retrying = machine(RetryPolicy(max_attempts=3))
        decisions = [retrying.next()]
        while not isinstance(decisions[-1], GiveUp):
            outcome = RETRYABLE if isinstance(decisions[-1], DoAttempt) else None
            decisions.append(retrying.next(outcome))
        attempts = [d.attempt for d in decisions if isinstance(d, DoAttempt)]
        assert attempts == [1, 2, 3]
        assert decisions[-1] == GiveUp(GiveUpReason.ATTEMPTS_EXHAUSTED, 3)

    def test_one_attempt_policy_never_retries(self) -> None:
        retrying = machine(RetryPolicy(max_attempts=1))
        retrying.next()
        assert retrying.next(RETRYABLE) == GiveUp(GiveUpReason.ATTEMPTS_EXHAUSTED, 1)

    def test_waits_at_least_the_dependencys_retry_after(self) -> None:
        retrying = machine(RetryPolicy(base_delay_s=0.1))
        retrying.next()
        assert retrying.next(AttemptFailed(True, retry_after_s=2.0)) == DoSleep(2.0)

    def test_keeps_a_longer_jitter_over_a_short_retry_after(self) -> None:
        retrying = machine(RetryPolicy(base_delay_s=1.0), rng=MaxRandom())
        retrying.next()
        assert retrying.next(AttemptFailed(True, retry_after_s=0.25)) == DoSleep(1.0)

    def test_gives_up_on_a_retry_after_longer_than_the_limit(self) -> None:
        retrying = machine(RetryPolicy(max_delay_s=5.0))
        retrying.next()
        assert retrying.next(AttemptFailed(True, retry_after_s=30.0)) == GiveUp(
            GiveUpReason.RETRY_AFTER_TOO_LONG, 1
        )

    def test_a_raised_retry_after_limit_lets_long_waits_through(self) -> None:
        retrying = machine(RetryPolicy(max_delay_s=5.0, max_retry_after_s=60.0))
        retrying.next()
        assert retrying.next(AttemptFailed(True, retry_after_s=30.0)) == DoSleep(30.0)

    @pytest.mark.parametrize("retry_after", [0.0, -3.0, float("nan")])
    def test_ignores_meaningless_retry_after_values(self, retry_after: float) -> None:
        retrying = machine(RetryPolicy(base_delay_s=1.0), rng=MaxRandom())
        retrying.next()
        assert retrying.next(AttemptFailed(True, retry_after_s=retry_after)) == DoSleep(1.0)

    def test_gives_up_when_the_sleep_would_reach_the_deadline(self) -> None:
        budget = CountingBudget(retries=5)
        retrying = machine(RetryPolicy(base_delay_s=1.0), budget=budget, rng=MaxRandom())
        retrying.next(remaining_s=5.0)
        assert retrying.next(RETRYABLE, remaining_s=1.0) == GiveUp(GiveUpReason.DEADLINE, 1)
        assert budget.asked == 0  # no retry token spent on a retry that will not happen

    def test_sleeps_when_the_deadline_leaves_room(self) -> None:
        retrying = machine(RetryPolicy(base_delay_s=1.0), rng=MaxRandom())
        retrying.next(remaining_s=5.0)
        assert retrying.next(RETRYABLE, remaining_s=1.5) == DoSleep(1.0)

    def test_a_retry_after_past_the_deadline_gives_up(self) -> None:
        retrying = machine()
        retrying.next()
        decision = retrying.next(AttemptFailed(True, retry_after_s=3.0), remaining_s=2.0)
        assert decision == GiveUp(GiveUpReason.DEADLINE, 1)

    def test_no_attempt_starts_once_the_deadline_has_passed(self) -> None:
        budget = CountingBudget(retries=5)
        retrying = machine(budget=budget)
        assert retrying.next(remaining_s=0.0) == GiveUp(GiveUpReason.DEADLINE, 0)
        assert budget.calls == 0

    def test_no_retry_starts_once_the_deadline_has_passed_during_the_sleep(self) -> None:
        retrying = machine()
        retrying.next()
        retrying.next(RETRYABLE)
        assert retrying.next(remaining_s=0.0) == GiveUp(GiveUpReason.DEADLINE, 1)

    def test_gives_up_when_the_budget_refuses(self) -> None:
        retrying = machine(budget=CountingBudget(retries=0))
        retrying.next()
        assert retrying.next(RETRYABLE) == GiveUp(GiveUpReason.BUDGET_EXHAUSTED, 1)

    def test_works_with_the_real_budget(self) -> None:
        budget = RetryBudget(ManualClock(), ratio=0.0, min_retries_per_window=1)
        first, second = machine(budget=budget), machine(budget=budget)
        first.next()
        assert isinstance(first.next(RETRYABLE), DoSleep)
        second.next()
        assert second.next(RETRYABLE) == GiveUp(GiveUpReason.BUDGET_EXHAUSTED, 1)

    def test_refuses_an_outcome_before_any_attempt(self) -> None:
        with pytest.raises(RetryStateError) as caught:
            machine().next(RETRYABLE)
        assert caught.value.state == "ready"

    def test_refuses_to_go_on_without_the_attempts_outcome(self) -> None:
        retrying = machine()
        retrying.next()
        with pytest.raises(RetryStateError, match="outcome"):
            retrying.next()

    def test_refuses_an_outcome_while_sleeping(self) -> None:
        retrying = machine()
        retrying.next()
        retrying.next(RETRYABLE)
        with pytest.raises(RetryStateError):
            retrying.next(RETRYABLE)

    def test_refuses_every_call_after_giving_up(self) -> None:
        retrying = machine()
        retrying.next()
        retrying.next(AttemptFailed(retryable=False))
        with pytest.raises(RetryStateError):
            retrying.next()


class TestRetryErrors:
    def test_the_state_error_is_a_retry_error_under_kernel_error(self) -> None:
        assert issubclass(RetryStateError, RetryError)
        assert issubclass(RetryError, KernelError)
