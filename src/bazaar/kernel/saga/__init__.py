"""The orchestrated saga (capabilities §5.3): a pure step machine, a persisted log, a driver.

``machine`` decides (no I/O); ``SagaRunner`` carries the decisions out one transaction per
step; ``SagaLog`` is the port of the log (``SqlSagaLog``, ``InMemorySagaLog``);
``SagaSupervisor`` runs sagas in the background and resumes those whose process died.
"""

from __future__ import annotations

from bazaar.kernel.saga.errors import (
    SagaConflictError,
    SagaError,
    SagaNotFoundError,
    StepError,
    StepFailedError,
    StepRetryableError,
    UnknownStepError,
)
from bazaar.kernel.saga.events import SagaFinished, SagaStepFailed, SagaStepSucceeded
from bazaar.kernel.saga.machine import request_cancel
from bazaar.kernel.saga.memory import InMemorySagaLog, InMemorySagaStore, InMemorySagaTransaction
from bazaar.kernel.saga.model import (
    SagaDefinition,
    SagaRecord,
    SagaState,
    StepDefinition,
    StepRecord,
    StepStatus,
)
from bazaar.kernel.saga.ports import SagaListener, SagaLog, SagaTransaction, StepHandler
from bazaar.kernel.saga.runner import SagaRunner
from bazaar.kernel.saga.supervisor import SagaSupervisor

__all__ = [
    "InMemorySagaLog",
    "InMemorySagaStore",
    "InMemorySagaTransaction",
    "SagaConflictError",
    "SagaDefinition",
    "SagaError",
    "SagaFinished",
    "SagaListener",
    "SagaLog",
    "SagaNotFoundError",
    "SagaRecord",
    "SagaRunner",
    "SagaState",
    "SagaStepFailed",
    "SagaStepSucceeded",
    "SagaSupervisor",
    "SagaTransaction",
    "StepDefinition",
    "StepError",
    "StepFailedError",
    "StepHandler",
    "StepRecord",
    "StepRetryableError",
    "StepStatus",
    "UnknownStepError",
    "request_cancel",
]
