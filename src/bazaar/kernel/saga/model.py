"""Saga definitions and the saga log's records: plain values, no I/O.

A definition is the ordered list of steps with their timeouts and retry policies; a record is
one saga's persisted state: its overall state, one ``StepRecord`` per step, the data the steps
produced (``data``), and the version the log checks on every write.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.retry import RetryPolicy
from bazaar.kernel.saga.errors import UnknownStepError

__all__ = [
    "SagaDefinition",
    "SagaRecord",
    "SagaState",
    "StepDefinition",
    "StepRecord",
    "StepStatus",
]


class SagaState(enum.Enum):
    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    NEEDS_ATTENTION = "needs_attention"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({SagaState.COMPLETED, SagaState.COMPENSATED, SagaState.NEEDS_ATTENTION})


class StepStatus(enum.Enum):
    PENDING = "pending"  # not attempted yet
    RUNNING = "running"  # attempted, not finished: in flight, or waiting for its next attempt
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # gave up: the saga compensates
    COMPENSATING = "compensating"  # its compensation was attempted and is being retried
    COMPENSATED = "compensated"
    SKIPPED = "skipped"  # never attempted: the saga ended before reaching it


# A step in one of these may have taken effect, so compensation must undo it. A RUNNING or
# FAILED step counts: an attempt that timed out may still have reached the other side.
MAY_HAVE_EFFECT = frozenset(
    {StepStatus.RUNNING, StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.COMPENSATING}
)


@dataclass(frozen=True, slots=True)
class StepDefinition:
    """One step of a saga.

    Attributes:
        name: Unique within the saga.
        timeout_s: How long one attempt of the action (or compensation) may take.
        retry: Attempts and backoff of the action for ``StepRetryableError`` and timeouts.
            Only steps whose action is idempotent should allow more than one attempt.
        compensation_retry: Attempts and backoff of the compensation, after which the saga
            is parked as ``needs_attention``.
        compensable: Whether the step has a compensation to run.
        write_ahead: Persist "started" before the action runs. Needed when the action has an
            effect outside the step's own transaction (a PSP call): after a crash the log
            then shows the step may have happened, so it is re-run or compensated, never
            forgotten.
        failure_reason: The saga's ``failure_reason`` when this step gives up without a
            reason of its own (a timeout, an unexpected error).
    """

    name: str
    timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=1))
    compensation_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_attempts=5, base_delay_s=0.5, max_delay_s=10.0)
    )
    compensable: bool = True
    write_ahead: bool = False
    failure_reason: str = "step_failed"

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigurationError("name", "a step needs a name")
        if not self.timeout_s > 0:
            raise ConfigurationError("timeout_s", f"must be positive, got {self.timeout_s}")


@dataclass(frozen=True, slots=True)
class SagaDefinition:
    """A saga type: its name (``checkout``) and its steps in the order they run."""

    name: str
    steps: tuple[StepDefinition, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ConfigurationError("steps", f"saga {self.name!r} has no steps")
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ConfigurationError("steps", f"saga {self.name!r} repeats a step name")

    def index(self, name: str) -> int:
        """The position of step ``name``. Raises: UnknownStepError."""
        for position, step in enumerate(self.steps):
            if step.name == name:
                return position
        raise UnknownStepError(self.name, name)


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What the log knows of one step: the saga's timeline entry."""

    name: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    compensation_attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SagaRecord:
    """One saga as the log stores it (a value: transitions return a new record).

    Attributes:
        data: What the steps produced, as JSON-able values (a payment id...). Steps read
            what earlier steps put there.
        version: The stored version this record was read at; the log refuses a write made
            from an older one (optimistic concurrency).
        failure_reason: Why the saga compensates (``payment_declined``), None while it runs.
        attention_reason: Why it was parked as ``needs_attention``.
        cancel_reason: Set by ``request_cancel``: the saga compensates at its next decision.
        next_attempt_at: When the step waiting for a retry is due (None: now).
    """

    id: int
    name: str
    tenant_id: int
    state: SagaState
    steps: tuple[StepRecord, ...]
    data: Mapping[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    failure_reason: str | None = None
    attention_reason: str | None = None
    cancel_reason: str | None = None
    next_attempt_at: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.data, MappingProxyType):
            object.__setattr__(self, "data", MappingProxyType(dict(self.data)))

    def step(self, name: str) -> StepRecord:
        for record in self.steps:
            if record.name == name:
                return record
        raise UnknownStepError(self.name, name)
