"""Errors of the jobs block.

KernelError
└── JobsError
    ├── UnknownJobError        enqueueing a job name nobody registered
    └── InvalidScheduleError   a cron expression that does not parse
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = ["InvalidScheduleError", "JobsError", "UnknownJobError"]


class JobsError(KernelError):
    """An error raised by the jobs block."""


class UnknownJobError(JobsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no job named {name!r} is registered")
        self.name = name


class InvalidScheduleError(JobsError):
    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"invalid cron expression {expression!r}: {reason}")
        self.expression = expression
        self.reason = reason
