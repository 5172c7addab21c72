"""Listeners shipped with the port: one that drops every event and one that keeps them."""

from __future__ import annotations

from typing import TypeVar

from bazaar.kernel.breaker.events import BreakerEvent

__all__ = ["NullListener", "RecordingListener"]

_E = TypeVar("_E")


class NullListener:
    """Drops every event; the default.

    The breaker recognises it (exactly this class, not subclasses) and then builds no per-call
    events and reads no clock, which keeps the closed-state hot path lean.
    """

    def on_event(self, event: BreakerEvent) -> None:
        """Ignore ``event``."""


class RecordingListener:
    """Keeps every event in ``events``, oldest first (a fake for tests and the tour)."""

    def __init__(self) -> None:
        self.events: list[BreakerEvent] = []

    def on_event(self, event: BreakerEvent) -> None:
        """Append ``event`` to ``events``."""
        self.events.append(event)

    def of_type(self, event_type: type[_E]) -> list[_E]:
        """The recorded events of one type, oldest first.

        Args:
            event_type: An event class such as ``BreakerOpened``.

        Returns:
            The matching events.
        """
        return [event for event in self.events if isinstance(event, event_type)]

    def clear(self) -> None:
        """Forget the events recorded so far."""
        self.events.clear()
