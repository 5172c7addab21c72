"""Request deadlines: a budget carried in a context variable and split among downstream calls."""

from __future__ import annotations

from bazaar.kernel.deadline.core import (
    Deadline,
    DeadlineScope,
    current_deadline,
    deadline_scope,
    detach_deadline,
    remaining_s,
    timeout_for,
)
from bazaar.kernel.deadline.errors import DeadlineError, DeadlineExceededError
from bazaar.kernel.deadline.ports import (
    ClientDisconnected,
    DeadlineEvent,
    DeadlineExceeded,
    DeadlineListener,
    RecordingListener,
)

__all__ = [
    "ClientDisconnected",
    "Deadline",
    "DeadlineError",
    "DeadlineEvent",
    "DeadlineExceeded",
    "DeadlineExceededError",
    "DeadlineListener",
    "DeadlineScope",
    "RecordingListener",
    "current_deadline",
    "deadline_scope",
    "detach_deadline",
    "remaining_s",
    "timeout_for",
]
