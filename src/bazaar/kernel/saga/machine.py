"""The saga's decision core: what to do next, and how each outcome changes the record.

Pure functions over ``SagaRecord`` values (no I/O, no clock: ``now`` is an argument, retry
delays are computed by the driver), so every path is unit-tested without a database::

    running ──all steps succeeded──────────────────────────────► completed
       │ a step failed for good, ran out of attempts, or a cancel was requested
       ▼
    compensating ──every step that may have taken effect undone──► compensated
       │ a compensation failed for good or ran out of attempts
       ▼
    needs_attention   (the manual path: the reason says which step, and why)

Compensation runs in reverse order over every step that *may* have taken effect — succeeded,
failed, or attempted and unfinished — because an attempt that timed out may still have
reached the other side. Compensations are therefore written to be idempotent and to accept
that there is nothing to undo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bazaar.kernel.saga.model import (
    MAY_HAVE_EFFECT,
    SagaDefinition,
    SagaRecord,
    SagaState,
    StepRecord,
    StepStatus,
)

__all__ = [
    "BeginCompensation",
    "CompensateStep",
    "Decision",
    "Finished",
    "GiveUpStep",
    "RunStep",
    "WaitUntil",
    "begin_compensation",
    "compensation_failed",
    "compensation_started",
    "decide",
    "finish_compensation",
    "new_saga",
    "park",
    "request_cancel",
    "step_compensated",
    "step_failed",
    "step_started",
    "step_succeeded",
]

# Errors kept in the log are cut: a timeline entry, not a dump. Reasons are short codes
# (``payment_declined``); the cut only keeps a wrong one from failing every write.
_MAX_ERROR = 500
_MAX_REASON = 200


@dataclass(frozen=True, slots=True)
class RunStep:
    index: int
    attempt: int


@dataclass(frozen=True, slots=True)
class CompensateStep:
    index: int
    attempt: int


@dataclass(frozen=True, slots=True)
class GiveUpStep:
    """The step was started as often as its policy allows and never finished: every attempt
    was cut short (the process died mid-call), so it fails instead of starting again."""

    index: int


@dataclass(frozen=True, slots=True)
class BeginCompensation:
    reason: str


@dataclass(frozen=True, slots=True)
class WaitUntil:
    at: datetime


@dataclass(frozen=True, slots=True)
class Finished:
    state: SagaState


Decision = RunStep | CompensateStep | GiveUpStep | BeginCompensation | WaitUntil | Finished


def new_saga(
    definition: SagaDefinition,
    saga_id: int,
    tenant_id: int,
    data: Mapping[str, Any],
    now: datetime,
) -> SagaRecord:
    """A saga about to run its first step (version 0: not stored yet)."""
    return SagaRecord(
        id=saga_id,
        name=definition.name,
        tenant_id=tenant_id,
        state=SagaState.RUNNING,
        steps=tuple(StepRecord(step.name) for step in definition.steps),
        data=data,
        version=0,
        created_at=now,
        updated_at=now,
    )


def decide(saga: SagaRecord, definition: SagaDefinition, now: datetime) -> Decision:
    """The next thing the driver must do for ``saga``."""
    if saga.state.terminal:
        return Finished(saga.state)
    if saga.state is SagaState.RUNNING and saga.cancel_reason is not None:
        return BeginCompensation(saga.cancel_reason)
    if saga.next_attempt_at is not None and now < saga.next_attempt_at:
        return WaitUntil(saga.next_attempt_at)
    if saga.state is SagaState.RUNNING:
        for index, step in enumerate(saga.steps):
            if step.status is not StepStatus.SUCCEEDED:
                # A failed attempt below the limit waits (next_attempt_at) and one at the
                # limit fails the step, so a running step at the limit was interrupted.
                if step.attempts >= definition.steps[index].retry.max_attempts:
                    return GiveUpStep(index)
                return RunStep(index, step.attempts + 1)
        return Finished(SagaState.COMPLETED)  # unreachable through these transitions
    undo = _next_to_compensate(saga, definition)
    if undo is None:
        return Finished(SagaState.COMPENSATED)
    return CompensateStep(undo, saga.steps[undo].compensation_attempts + 1)


def step_started(saga: SagaRecord, index: int, now: datetime) -> SagaRecord:
    step = saga.steps[index]
    started = replace(
        step,
        status=StepStatus.RUNNING,
        attempts=step.attempts + 1,
        started_at=step.started_at or now,
    )
    return _with_step(saga, index, started, now, next_attempt_at=None)


def step_succeeded(
    saga: SagaRecord, index: int, now: datetime, produced: Mapping[str, Any] | None = None
) -> SagaRecord:
    step = replace(saga.steps[index], status=StepStatus.SUCCEEDED, finished_at=now, error=None)
    updated = _with_step(saga, index, step, now, next_attempt_at=None)
    if produced:
        updated = replace(updated, data={**updated.data, **produced})
    if all(record.status is StepStatus.SUCCEEDED for record in updated.steps):
        updated = replace(updated, state=SagaState.COMPLETED)
    return updated


def step_failed(
    saga: SagaRecord,
    definition: SagaDefinition,
    index: int,
    now: datetime,
    *,
    error: str,
    reason: str | None,
    retryable: bool,
    retry_delay_s: float,
) -> SagaRecord:
    """Record a failed attempt: wait ``retry_delay_s`` and retry, or give up and compensate."""
    step = saga.steps[index]
    policy = definition.steps[index].retry
    if retryable and step.attempts < policy.max_attempts and saga.cancel_reason is None:
        waiting = replace(step, status=StepStatus.RUNNING, error=_cut(error))
        return _with_step(
            saga, index, waiting, now, next_attempt_at=now + timedelta(seconds=retry_delay_s)
        )
    failed = replace(step, status=StepStatus.FAILED, finished_at=now, error=_cut(error))
    updated = _with_step(saga, index, failed, now, next_attempt_at=None)
    failure = reason or definition.steps[index].failure_reason
    return replace(updated, state=SagaState.COMPENSATING, failure_reason=_cut(failure, _MAX_REASON))


def begin_compensation(saga: SagaRecord, reason: str, now: datetime) -> SagaRecord:
    """Stop going forward (a cancel, an operator): undo what may have happened."""
    if saga.state is not SagaState.RUNNING:
        return saga
    return replace(
        saga,
        state=SagaState.COMPENSATING,
        failure_reason=_cut(reason, _MAX_REASON),
        next_attempt_at=None,
        updated_at=now,
    )


def compensation_started(saga: SagaRecord, index: int, now: datetime) -> SagaRecord:
    step = saga.steps[index]
    compensating = replace(
        step, status=StepStatus.COMPENSATING, compensation_attempts=step.compensation_attempts + 1
    )
    return _with_step(saga, index, compensating, now, next_attempt_at=None)


def step_compensated(
    saga: SagaRecord, definition: SagaDefinition, index: int, now: datetime
) -> SagaRecord:
    step = replace(saga.steps[index], status=StepStatus.COMPENSATED, finished_at=now)
    updated = _with_step(saga, index, step, now, next_attempt_at=None)
    if _next_to_compensate(updated, definition) is None:
        return finish_compensation(updated, now)
    return updated


def compensation_failed(
    saga: SagaRecord,
    definition: SagaDefinition,
    index: int,
    now: datetime,
    *,
    error: str,
    retryable: bool,
    retry_delay_s: float,
) -> SagaRecord:
    """Record a failed compensation: retry it later, or park the saga for a person."""
    step = saga.steps[index]
    policy = definition.steps[index].compensation_retry
    failed = replace(step, status=StepStatus.COMPENSATING, error=_cut(error))
    if retryable and step.compensation_attempts < policy.max_attempts:
        return _with_step(
            saga, index, failed, now, next_attempt_at=now + timedelta(seconds=retry_delay_s)
        )
    updated = _with_step(saga, index, failed, now, next_attempt_at=None)
    reason = f"compensation of step {step.name!r} failed: {_cut(error)}"
    return park(updated, reason, now)


def park(saga: SagaRecord, reason: str, now: datetime) -> SagaRecord:
    """Park the saga as ``needs_attention``: nothing more happens until a person acts."""
    return replace(
        saga,
        state=SagaState.NEEDS_ATTENTION,
        attention_reason=_cut(reason),
        next_attempt_at=None,
        updated_at=now,
        steps=_skip_pending(saga.steps),
    )


def request_cancel(saga: SagaRecord, reason: str, now: datetime) -> SagaRecord:
    """Ask a running saga to compensate; it does at its next decision. Idempotent."""
    if saga.state is not SagaState.RUNNING or saga.cancel_reason is not None:
        return saga
    return replace(saga, cancel_reason=_cut(reason, _MAX_REASON), updated_at=now)


def _next_to_compensate(saga: SagaRecord, definition: SagaDefinition) -> int | None:
    for index in range(len(saga.steps) - 1, -1, -1):
        if definition.steps[index].compensable and saga.steps[index].status in MAY_HAVE_EFFECT:
            return index
    return None


def finish_compensation(saga: SagaRecord, now: datetime) -> SagaRecord:
    """Nothing is left to undo (``decide`` said ``Finished(COMPENSATED)``): the saga ends."""
    return replace(
        saga, state=SagaState.COMPENSATED, steps=_skip_pending(saga.steps), updated_at=now
    )


def _skip_pending(steps: tuple[StepRecord, ...]) -> tuple[StepRecord, ...]:
    return tuple(
        replace(step, status=StepStatus.SKIPPED) if step.status is StepStatus.PENDING else step
        for step in steps
    )


def _with_step(
    saga: SagaRecord,
    index: int,
    step: StepRecord,
    now: datetime,
    *,
    next_attempt_at: datetime | None,
) -> SagaRecord:
    steps = (*saga.steps[:index], step, *saga.steps[index + 1 :])
    return replace(saga, steps=steps, updated_at=now, next_attempt_at=next_attempt_at)


def _cut(text: str, limit: int = _MAX_ERROR) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
