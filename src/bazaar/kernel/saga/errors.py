"""Errors of the saga block.

KernelError
└── SagaError
    ├── SagaConflictError        the saga changed since it was loaded (another runner, a cancel)
    ├── SagaNotFoundError        no saga with that id
    ├── UnknownStepError         a definition or handler names a step that does not exist
    └── StepError                raised by a step's action or compensation
        ├── StepFailedError      definitive: retrying cannot help (a declined card)
        └── StepRetryableError   transient: the step may be tried again (a PSP outage)
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = [
    "SagaConflictError",
    "SagaError",
    "SagaNotFoundError",
    "StepError",
    "StepFailedError",
    "StepRetryableError",
    "UnknownStepError",
]


class SagaError(KernelError):
    """An error of the saga block."""


class SagaConflictError(SagaError):
    """The saga's stored version moved on: someone else wrote it since it was loaded."""

    def __init__(self, saga_id: int, expected_version: int) -> None:
        super().__init__(f"saga {saga_id} is no longer at version {expected_version}")
        self.saga_id = saga_id
        self.expected_version = expected_version


class SagaNotFoundError(SagaError):
    def __init__(self, saga_id: int) -> None:
        super().__init__(f"saga {saga_id} does not exist")
        self.saga_id = saga_id


class UnknownStepError(SagaError):
    def __init__(self, saga: str, step: str) -> None:
        super().__init__(f"saga {saga!r} has no step {step!r}")
        self.saga = saga
        self.step = step


class StepError(SagaError):
    """What a step's action or compensation raises to say how it failed.

    Attributes:
        reason: A short machine-readable reason (``payment_declined``); the saga's
            ``failure_reason`` when this failure makes it compensate. None: the step's default.
    """

    retryable: bool = False

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class StepFailedError(StepError):
    """The step cannot succeed: the saga compensates at once."""

    retryable = False


class StepRetryableError(StepError):
    """The step may succeed later: it is retried within its retry policy, then compensated."""

    retryable = True
