"""The retry block's ports (budget, randomness, listener), its events and a recording fake."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "GiveUpReason",
    "RandomSource",
    "RecordingListener",
    "RetryBudgetExhausted",
    "RetryBudgetPort",
    "RetryEvent",
    "RetryGaveUp",
    "RetryListener",
    "RetryScheduled",
]


class GiveUpReason(enum.Enum):
    """Why a call stopped being retried."""

    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    NOT_RETRYABLE = "not_retryable"
    BUDGET_EXHAUSTED = "budget_exhausted"
    DEADLINE = "deadline"
    RETRY_AFTER_TOO_LONG = "retry_after_too_long"


class RandomSource(Protocol):
    """The randomness the jitter needs; ``random.Random`` satisfies it (seed it in tests)."""

    def uniform(self, a: float, b: float) -> float: ...


class RetryBudgetPort(Protocol):
    """A per-dependency allowance of retries, proportional to the calls made to it."""

    def record_call(self) -> None:
        """Count one call (a first attempt, never a retry) towards the allowance."""
        ...

    def try_acquire_retry(self) -> bool:
        """Spend one retry if the allowance has room; False (and nothing spent) if not."""
        ...


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """A failed attempt will be retried: ``attempt`` (2 for the first retry) after ``delay_s``."""

    dependency: str
    attempt: int
    delay_s: float


@dataclass(frozen=True, slots=True)
class RetryGaveUp:
    """A call stopped after ``attempts`` attempts (0 when none could start) for ``reason``."""

    dependency: str
    reason: GiveUpReason
    attempts: int


@dataclass(frozen=True, slots=True)
class RetryBudgetExhausted:
    """A retry was refused because the dependency's retry budget was spent."""

    dependency: str


RetryEvent = RetryScheduled | RetryGaveUp | RetryBudgetExhausted


class RetryListener(Protocol):
    """Receives the retry events (kernel/observability turns them into metrics and logs)."""

    def on_event(self, event: RetryEvent) -> None: ...


class RecordingListener:
    """A listener that keeps every event it receives, in order (a fake for tests)."""

    def __init__(self) -> None:
        self.events: list[RetryEvent] = []

    def on_event(self, event: RetryEvent) -> None:
        self.events.append(event)
