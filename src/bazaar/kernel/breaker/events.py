"""Typed events a circuit breaker emits to its listener (metrics, logs and spans live elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.kernel.breaker.core import TransitionReason

__all__ = [
    "BreakerClosed",
    "BreakerEvent",
    "BreakerHalfOpened",
    "BreakerOpened",
    "BreakerStoreFailed",
    "CallFailed",
    "CallRejected",
    "CallSucceeded",
]


@dataclass(frozen=True, slots=True)
class BreakerOpened:
    """The breaker opened; ``failure_rate`` and ``calls`` are the window's at that moment."""

    name: str
    failure_rate: float
    calls: int
    reason: TransitionReason


@dataclass(frozen=True, slots=True)
class BreakerHalfOpened:
    """The breaker started a half-open probe round (after the cooldown, or a round expired)."""

    name: str


@dataclass(frozen=True, slots=True)
class BreakerClosed:
    """Every probe succeeded: the breaker closed and its window was reset."""

    name: str


@dataclass(frozen=True, slots=True)
class CallRejected:
    """A call was refused without being made."""

    name: str


@dataclass(frozen=True, slots=True)
class CallSucceeded:
    """A call ended and counted as a success (excluded exceptions included)."""

    name: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class CallFailed:
    """A call counted as a failure: ``error_type`` is the exception's class name, or
    ``"SlowCall"`` for a call that returned but took longer than ``slow_call_s``."""

    name: str
    duration_s: float
    error_type: str


@dataclass(frozen=True, slots=True)
class BreakerStoreFailed:
    """The shared state store failed; the breaker let the call through (fails open)."""

    name: str
    operation: str
    error_type: str


BreakerEvent = (
    BreakerOpened
    | BreakerHalfOpened
    | BreakerClosed
    | CallRejected
    | CallSucceeded
    | CallFailed
    | BreakerStoreFailed
)
