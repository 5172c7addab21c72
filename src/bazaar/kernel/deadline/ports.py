"""The deadline block's listener port, its events and a recording fake."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ClientDisconnected",
    "DeadlineEvent",
    "DeadlineExceeded",
    "DeadlineListener",
    "RecordingListener",
]


@dataclass(frozen=True, slots=True)
class DeadlineExceeded:
    """A request ran out of its budget and its work was cancelled.

    ``response_started`` tells whether a 504 could still be sent (False) or the response
    was already under way (True).
    """

    budget_s: float
    elapsed_s: float
    response_started: bool


@dataclass(frozen=True, slots=True)
class ClientDisconnected:
    """The client went away before the response was complete; its work was cancelled."""

    elapsed_s: float
    response_started: bool


DeadlineEvent = DeadlineExceeded | ClientDisconnected


class DeadlineListener(Protocol):
    """Receives the deadline events (kernel/observability turns them into metrics and logs)."""

    def on_event(self, event: DeadlineEvent) -> None: ...


class RecordingListener:
    """A listener that keeps every event it receives, in order (a fake for tests)."""

    def __init__(self) -> None:
        self.events: list[DeadlineEvent] = []

    def on_event(self, event: DeadlineEvent) -> None:
        self.events.append(event)
