"""Listeners shipped with the port: one that drops every event and one that keeps them."""

from __future__ import annotations

from typing import TypeVar

from bazaar.kernel.ratelimit.events import RateLimitEvent

__all__ = ["NullListener", "RecordingListener"]

_E = TypeVar("_E")


class NullListener:
    """Drops every event; the default.

    The limiter recognises it (exactly this class, not subclasses) and then builds no
    per-request events, which keeps the hot path lean.
    """

    def on_event(self, event: RateLimitEvent) -> None:
        """Ignore ``event``."""


class RecordingListener:
    """Keeps every event in ``events``, oldest first (a fake for tests and the tour)."""

    def __init__(self) -> None:
        self.events: list[RateLimitEvent] = []

    def on_event(self, event: RateLimitEvent) -> None:
        """Append ``event`` to ``events``."""
        self.events.append(event)

    def of_type(self, event_type: type[_E]) -> list[_E]:
        """The recorded events of one type, oldest first.

        Args:
            event_type: An event class such as ``RequestLimited``.

        Returns:
            The matching events.
        """
        return [event for event in self.events if isinstance(event, event_type)]

    def clear(self) -> None:
        """Forget the events recorded so far."""
        self.events.clear()
