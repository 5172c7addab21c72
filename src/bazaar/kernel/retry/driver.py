"""The async driver that carries out the retry state machine's decisions around one call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bazaar.kernel.clock import Clock
from bazaar.kernel.deadline.errors import DeadlineExceededError
from bazaar.kernel.retry.machine import AttemptFailed, DoAttempt, DoSleep, GiveUp, Retrying
from bazaar.kernel.retry.policy import RetryPolicy
from bazaar.kernel.retry.ports import (
    GiveUpReason,
    RandomSource,
    RetryBudgetExhausted,
    RetryBudgetPort,
    RetryGaveUp,
    RetryListener,
    RetryScheduled,
)

__all__ = ["retry_after_attribute", "retry_call"]

T = TypeVar("T")


def retry_after_attribute(exc: BaseException) -> float | None:
    """The ``retry_after_s`` attribute of an exception, if it has a numeric one.

    The default way ``retry_call`` learns a dependency's ``Retry-After``: an adapter that
    parses the header puts the seconds on the exception it raises (e.g.
    ``PspUnavailableError.retry_after_s``).
    """
    value = getattr(exc, "retry_after_s", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


async def retry_call(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    budget: RetryBudgetPort | None,
    is_retryable: Callable[[BaseException], bool],
    clock: Clock,
    rng: RandomSource,
    deadline_remaining: Callable[[], float | None] | None = None,
    listener: RetryListener | None = None,
    dependency: str = "default",
    retry_after: Callable[[BaseException], float | None] = retry_after_attribute,
) -> T:
    """Call ``fn`` until it succeeds or the policy, budget or deadline says stop.

    Only ``Exception``s that ``is_retryable`` accepts are retried; anything else, and
    ``asyncio.CancelledError`` in particular, propagates at once. ``fn`` is called afresh
    for each attempt and should take its own timeout from the deadline
    (``bazaar.kernel.deadline.timeout_for``).

    Args:
        fn: The call; a zero-argument coroutine function (use a lambda or ``partial``).
        policy: Attempts and backoff bounds.
        budget: The dependency's retry budget, or None for none.
        is_retryable: Whether a failure is retry-safe (idempotent operation, transient error).
        clock: Sleeps between attempts go through ``clock.sleep``.
        rng: Randomness for the jitter.
        deadline_remaining: Seconds left of the caller's deadline, or None when unbounded;
            pass ``bazaar.kernel.deadline.remaining_s`` on request paths.
        listener: Receives ``RetryScheduled``, ``RetryGaveUp`` and ``RetryBudgetExhausted``.
        dependency: The dependency's name, carried by the events (``psp``, ``smtp``, ...).
        retry_after: Extracts a dependency's ``Retry-After`` seconds from a failure.

    Returns:
        What the first successful attempt returned.

    Raises:
        DeadlineExceededError: If no time was left before the first attempt.
        Exception: The last attempt's exception when giving up, with a note naming the
            reason and the number of attempts.
    """
    machine = Retrying(policy, budget, rng)

    def remaining() -> float | None:
        return None if deadline_remaining is None else deadline_remaining()

    last_error: Exception | None = None
    decision = machine.next(remaining_s=remaining())
    while True:
        if isinstance(decision, DoAttempt):
            try:
                return await fn()
            except Exception as exc:
                last_error = exc
                retryable = is_retryable(exc)
                outcome = AttemptFailed(retryable, retry_after(exc) if retryable else None)
            decision = machine.next(outcome, remaining_s=remaining())
        elif isinstance(decision, DoSleep):
            if listener is not None:
                listener.on_event(
                    RetryScheduled(dependency, machine.attempts + 1, decision.seconds)
                )
            await clock.sleep(decision.seconds)
            decision = machine.next(remaining_s=remaining())
        else:
            _report_give_up(decision, dependency, listener)
            if last_error is None:
                left = remaining()
                raise DeadlineExceededError(overdue_s=0.0 if left is None else -left)
            last_error.add_note(
                f"retry gave up on {dependency!r} after {decision.attempts} attempt(s): "
                f"{decision.reason.value}"
            )
            raise last_error


def _report_give_up(decision: GiveUp, dependency: str, listener: RetryListener | None) -> None:
    if listener is None:
        return
    if decision.reason is GiveUpReason.BUDGET_EXHAUSTED:
        listener.on_event(RetryBudgetExhausted(dependency))
    listener.on_event(RetryGaveUp(dependency, decision.reason, decision.attempts))
