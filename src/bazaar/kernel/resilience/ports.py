"""The guard's listener port and its events (kernel/observability turns them into metrics)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

__all__ = ["CallOutcome", "DependencyCalled", "GuardListener", "RecordingGuardListener"]


class CallOutcome(enum.Enum):
    """The ``outcome`` label of ``bazaar_dependency_calls_total``."""

    SUCCESS = "success"  # the dependency answered (a business refusal included)
    ERROR = "error"  # it failed (5xx, connection error, injected fault)
    TIMEOUT = "timeout"  # no answer within the call's timeout
    REJECTED = "rejected"  # not attempted: breaker open or bulkhead full


@dataclass(frozen=True, slots=True)
class DependencyCalled:
    """One attempt at a dependency and how it went."""

    dependency: str
    outcome: CallOutcome
    duration_s: float


class GuardListener(Protocol):
    def on_event(self, event: object) -> None: ...


class RecordingGuardListener:
    """Keeps every event (a fake for tests)."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def on_event(self, event: object) -> None:
        self.events.append(event)
