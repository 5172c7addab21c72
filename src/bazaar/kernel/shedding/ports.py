"""The shedding block's priorities and reasons, its listener port, events and a recording fake."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "Priority",
    "RecordingListener",
    "RequestShed",
    "ShedReason",
    "SheddingEvent",
    "SheddingListener",
]


class Priority(enum.Enum):
    """How late a request is shed. CRITICAL (health checks, payment webhooks) goes last."""

    CRITICAL = "critical"
    NORMAL = "normal"


class ShedReason(enum.Enum):
    """Why a request was shed; the value is the ``reason`` label of ``bazaar_shed_total``."""

    IN_FLIGHT_LIMIT = "in_flight_limit"  # a NORMAL request found max_in_flight in flight
    CRITICAL_RESERVE_EXHAUSTED = "critical_reserve_exhausted"  # even the reserve is in use


@dataclass(frozen=True, slots=True)
class RequestShed:
    """A request was refused before any work started, with ``in_flight`` already running."""

    reason: ShedReason
    in_flight: int
    priority: Priority


SheddingEvent = RequestShed


class SheddingListener(Protocol):
    """Receives the shedding events (kernel/observability counts ``bazaar_shed_total``)."""

    def on_event(self, event: SheddingEvent) -> None: ...


class RecordingListener:
    """A listener that keeps every event it receives, in order (a fake for tests)."""

    def __init__(self) -> None:
        self.events: list[SheddingEvent] = []

    def on_event(self, event: SheddingEvent) -> None:
        self.events.append(event)
