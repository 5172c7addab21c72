"""The bulkhead's listener port, its events and a recording fake."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "BulkheadEvent",
    "BulkheadListener",
    "BulkheadRejected",
    "BulkheadTimedOut",
    "RecordingListener",
]


@dataclass(frozen=True, slots=True)
class BulkheadRejected:
    """A caller was refused at once: every slot busy and the queue full."""

    name: str
    in_use: int
    queued: int


@dataclass(frozen=True, slots=True)
class BulkheadTimedOut:
    """A queued caller gave up after ``waited_s`` seconds without a slot."""

    name: str
    waited_s: float


BulkheadEvent = BulkheadRejected | BulkheadTimedOut


class BulkheadListener(Protocol):
    """Receives the bulkhead events (kernel/observability turns them into metrics and logs)."""

    def on_event(self, event: BulkheadEvent) -> None: ...


class RecordingListener:
    """A listener that keeps every event it receives, in order (a fake for tests)."""

    def __init__(self) -> None:
        self.events: list[BulkheadEvent] = []

    def on_event(self, event: BulkheadEvent) -> None:
        self.events.append(event)
