"""The retry decision core: a pure state machine that says attempt, sleep or give up."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from bazaar.kernel.retry.errors import RetryStateError
from bazaar.kernel.retry.policy import RetryPolicy, full_jitter
from bazaar.kernel.retry.ports import GiveUpReason, RandomSource, RetryBudgetPort

__all__ = [
    "AttemptFailed",
    "Decision",
    "DoAttempt",
    "DoSleep",
    "GiveUp",
    "RetryState",
    "Retrying",
]


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """What the state machine needs to know about a failed attempt.

    Attributes:
        retryable: Whether the caller marked the failure retry-safe (an idempotent call, a
            transient error). Only retryable failures are retried.
        retry_after_s: The dependency's ``Retry-After``, in seconds, if it sent one.
    """

    retryable: bool
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class DoAttempt:
    """Make attempt number ``attempt`` (from 1) now."""

    attempt: int


@dataclass(frozen=True, slots=True)
class DoSleep:
    """Wait ``seconds``, then ask again (``next()`` with no outcome)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop: ``attempts`` attempts were made (0 if none could start) and ``reason`` says why."""

    reason: GiveUpReason
    attempts: int


Decision = DoAttempt | DoSleep | GiveUp


class RetryState(enum.Enum):
    """Where a ``Retrying`` is; each state accepts one kind of ``next()`` call."""

    READY = "ready"  # nothing attempted yet: next() without an outcome
    ATTEMPTING = "attempting"  # an attempt is out: next(AttemptFailed(...))
    SLEEPING = "sleeping"  # a DoSleep was handed out: next() without an outcome
    DONE = "done"  # gave up: no more decisions


class Retrying:
    """Retry decisions for one call, as a state machine that does no I/O (tenacity's pattern).

    The driver asks ``next()`` and carries out what it is told::

        READY --next()--> DoAttempt(1) ............................ ATTEMPTING
        ATTEMPTING --next(failure)--> DoSleep(s) ..................... SLEEPING
                                  \\-> GiveUp(reason) ..................... DONE
        SLEEPING --next()--> DoAttempt(n + 1) ...................... ATTEMPTING
        READY or SLEEPING --next() with no time left--> GiveUp(DEADLINE) ... DONE

    A successful attempt needs no call: the driver returns its result and drops the
    machine. A failure is checked in this order, so the first applicable reason wins and a
    retry token is spent only on a retry that will happen:

    1. not retryable → ``NOT_RETRYABLE``;
    2. ``max_attempts`` made → ``ATTEMPTS_EXHAUSTED``;
    3. the delay is full jitter (``uniform(0, cap)``); a dependency's ``Retry-After`` over
       ``policy.retry_after_limit_s`` → ``RETRY_AFTER_TOO_LONG``, otherwise the delay is
       ``max(jitter, retry_after)`` so the dependency is never called back early;
    4. a delay that reaches the remaining deadline → ``DEADLINE`` (the next attempt would
       start with no time left, so sleeping would only hold the caller);
    5. the retry budget refuses → ``BUDGET_EXHAUSTED``;
    6. otherwise ``DoSleep(delay)``.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        budget: RetryBudgetPort | None,
        rng: RandomSource,
    ) -> None:
        """Create the machine for one call.

        Args:
            policy: Attempts and backoff bounds.
            budget: The dependency's retry budget; None to retry without one.
            rng: The jitter's randomness.
        """
        self._policy = policy
        self._budget = budget
        self._rng = rng
        self._state = RetryState.READY
        self._attempts = 0

    @property
    def state(self) -> RetryState:
        """The current state."""
        return self._state

    @property
    def attempts(self) -> int:
        """Attempts handed out so far."""
        return self._attempts

    def next(
        self, outcome: AttemptFailed | None = None, *, remaining_s: float | None = None
    ) -> Decision:
        """The next thing to do.

        Args:
            outcome: The failure of the attempt just made (in ``ATTEMPTING``); None to start
                or after a sleep (in ``READY`` and ``SLEEPING``).
            remaining_s: Seconds left of the caller's deadline, or None when it has none.

        Returns:
            ``DoAttempt``, ``DoSleep`` or ``GiveUp``.

        Raises:
            RetryStateError: If ``outcome`` does not fit the state, or the machine is done.
        """
        if self._state is RetryState.DONE:
            raise RetryStateError(self._state.value, "nothing: the machine gave up")
        if self._state is RetryState.ATTEMPTING:
            if outcome is None:
                raise RetryStateError(self._state.value, "the failed attempt's outcome")
            return self._after_failure(outcome, remaining_s)
        if outcome is not None:
            raise RetryStateError(self._state.value, "no outcome")
        if remaining_s is not None and remaining_s <= 0:
            return self._give_up(GiveUpReason.DEADLINE)
        if self._state is RetryState.READY and self._budget is not None:
            self._budget.record_call()
        self._attempts += 1
        self._state = RetryState.ATTEMPTING
        return DoAttempt(self._attempts)

    def _after_failure(self, outcome: AttemptFailed, remaining_s: float | None) -> Decision:
        policy = self._policy
        if not outcome.retryable:
            return self._give_up(GiveUpReason.NOT_RETRYABLE)
        if self._attempts >= policy.max_attempts:
            return self._give_up(GiveUpReason.ATTEMPTS_EXHAUSTED)
        delay = full_jitter(policy, self._attempts, self._rng)
        retry_after = outcome.retry_after_s
        if retry_after is not None and not math.isnan(retry_after) and retry_after > 0:
            if retry_after > policy.retry_after_limit_s:
                return self._give_up(GiveUpReason.RETRY_AFTER_TOO_LONG)
            delay = max(delay, retry_after)
        if remaining_s is not None and delay >= remaining_s:
            return self._give_up(GiveUpReason.DEADLINE)
        if self._budget is not None and not self._budget.try_acquire_retry():
            return self._give_up(GiveUpReason.BUDGET_EXHAUSTED)
        self._state = RetryState.SLEEPING
        return DoSleep(delay)

    def _give_up(self, reason: GiveUpReason) -> GiveUp:
        self._state = RetryState.DONE
        return GiveUp(reason, self._attempts)
