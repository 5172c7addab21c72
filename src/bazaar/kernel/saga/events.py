"""Typed events the saga driver emits to its listener (observability turns them into metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.kernel.saga.model import SagaState

__all__ = ["SagaFinished", "SagaStepFailed", "SagaStepSucceeded"]


@dataclass(frozen=True, slots=True)
class SagaStepSucceeded:
    saga: str
    saga_id: int
    step: str
    attempt: int
    compensation: bool
    duration_s: float


@dataclass(frozen=True, slots=True)
class SagaStepFailed:
    saga: str
    saga_id: int
    step: str
    attempt: int
    compensation: bool
    error: str
    retryable: bool


@dataclass(frozen=True, slots=True)
class SagaFinished:
    """A saga reached a terminal state (``completed``, ``compensated``, ``needs_attention``)."""

    saga: str
    saga_id: int
    outcome: SagaState
    failure_reason: str | None
