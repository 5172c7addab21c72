"""The dependency guard: every outbound call through bulkhead, breaker, timeout and retries."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bazaar.kernel.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from bazaar.kernel.bulkhead import Bulkhead, BulkheadFullError, BulkheadTimeoutError
from bazaar.kernel.clock import Clock
from bazaar.kernel.deadline import remaining_s, timeout_for
from bazaar.kernel.resilience.errors import (
    DependencyFailureError,
    DependencyTimeoutError,
    DependencyUnavailableError,
)
from bazaar.kernel.resilience.faults import FaultInjector
from bazaar.kernel.resilience.ports import CallOutcome, DependencyCalled, GuardListener
from bazaar.kernel.retry import RetryBudget, RetryPolicy, retry_call

__all__ = ["DependencyGuard", "DependencyPolicy"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DependencyPolicy:
    """How one dependency is called: per-attempt timeout, retries, concurrency."""

    timeout_s: float = 2.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_concurrent: int = 32
    max_queue: int = 64
    queue_timeout_s: float = 1.0


class DependencyGuard:
    """Calls one dependency through the resilience stack (capabilities §3.5, §4.1–4.3, §4.6).

    Per attempt, outside in: bulkhead slot → circuit breaker → timeout of
    ``min(policy.timeout_s, remaining request deadline)`` → injected faults → the call.
    Retries wrap the attempts, only for ``retry_safe`` calls and only on
    ``DependencyFailureError``, within the dependency's retry budget. The bulkhead sits
    outside the breaker so that a full queue is not mistaken for a failing dependency; the
    timeout sits inside it so that slow answers do count.

    Raises ``DependencyUnavailableError`` when the breaker is open, the bulkhead is full, or
    the attempts failed; any other exception (the dependency's own answer) passes through.
    """

    def __init__(
        self,
        name: str,
        policy: DependencyPolicy,
        *,
        breaker: CircuitBreaker,
        clock: Clock,
        budget: RetryBudget | None = None,
        faults: FaultInjector | None = None,
        listener: GuardListener | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.breaker = breaker
        self.clock = clock
        self.budget = budget if budget is not None else RetryBudget(clock)
        self.faults = faults if faults is not None else FaultInjector(name, clock)
        self.bulkhead = Bulkhead(
            name, policy.max_concurrent, policy.max_queue, policy.queue_timeout_s, clock
        )
        self._listener = listener
        self._rng = rng or random.Random()

    async def call(self, fn: Callable[[float], Awaitable[T]], *, retry_safe: bool) -> T:
        """Call the dependency.

        Args:
            fn: One attempt; receives the timeout (seconds) it should pass to its client.
            retry_safe: The operation is idempotent (e.g. it carries an idempotency key), so
                a failed or timed-out attempt may be repeated.

        Returns:
            What ``fn`` returned.

        Raises:
            DependencyUnavailableError: the dependency cannot be used for this call.
            DeadlineExceededError: the request's deadline left no time for an attempt.
        """
        try:
            return await retry_call(
                lambda: self._attempt(fn),
                policy=self.policy.retry,
                budget=self.budget,
                is_retryable=lambda exc: retry_safe and isinstance(exc, DependencyFailureError),
                clock=self.clock,
                rng=self._rng,
                deadline_remaining=remaining_s,
                dependency=self.name,
            )
        except CircuitOpenError as exc:
            raise DependencyUnavailableError(
                self.name, "breaker_open", max(1.0, exc.retry_after_s)
            ) from exc
        except (BulkheadFullError, BulkheadTimeoutError) as exc:
            raise DependencyUnavailableError(self.name, "bulkhead_full", 1.0) from exc
        except DependencyFailureError as exc:
            raise DependencyUnavailableError(
                self.name, "failed", max(1.0, exc.retry_after_s or 1.0)
            ) from exc

    async def fail_fast_if_open(self) -> None:
        """Refuse at once while the breaker is open, before the caller does any other work.

        Lets a route answer 503 without even its own bookkeeping (an idempotency claim is
        a write): the fail-fast path of capabilities §4.4 then costs one state read.

        Raises:
            DependencyUnavailableError: the breaker is open and its cooldown has not run out.
        """
        snapshot = await self.breaker.snapshot()
        if snapshot.state is not BreakerState.OPEN or snapshot.opened_at is None:
            return
        remaining = self.breaker.config.cooldown_s - (self.clock.now() - snapshot.opened_at)
        if remaining > 0:
            raise DependencyUnavailableError(self.name, "breaker_open", max(1.0, remaining))

    async def _attempt(self, fn: Callable[[float], Awaitable[T]]) -> T:
        timeout = timeout_for(self.policy.timeout_s)
        started = self.clock.monotonic()
        outcome = CallOutcome.SUCCESS
        try:
            async with self.bulkhead.slot(max_wait_s=min(timeout, self.policy.queue_timeout_s)):
                result = await self.breaker.call(self._timed, fn, timeout)
            if isinstance(result, _Answer):
                raise result.exception
            return result
        except (CircuitOpenError, BulkheadFullError, BulkheadTimeoutError):
            outcome = CallOutcome.REJECTED
            raise
        except DependencyTimeoutError:
            outcome = CallOutcome.TIMEOUT
            raise
        except DependencyFailureError:
            outcome = CallOutcome.ERROR
            raise
        finally:
            if self._listener is not None:
                duration = self.clock.monotonic() - started
                self._listener.on_event(DependencyCalled(self.name, outcome, duration))

    async def _timed(self, fn: Callable[[float], Awaitable[T]], budget_s: float) -> T | _Answer:
        try:
            async with asyncio.timeout(budget_s):
                await self.faults.apply()
                return await fn(budget_s)
        except TimeoutError as exc:
            raise DependencyTimeoutError(self.name, budget_s) from exc
        except DependencyFailureError:
            raise
        except Exception as exc:
            # The dependency answered (a decline, a 404): carried past the breaker as a
            # result, so the breaker counts an answer as the success it is, then re-raised.
            return _Answer(exc)


@dataclass(frozen=True, slots=True)
class _Answer:
    """A business exception of the dependency, smuggled past the breaker's failure count."""

    exception: Exception
