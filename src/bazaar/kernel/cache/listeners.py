"""The cache's listener port and the listeners shipped with it: one drops, one records."""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

from bazaar.kernel.cache.events import CacheEvent

__all__ = ["CacheListener", "NullCacheListener", "RecordingCacheListener"]

_E = TypeVar("_E")


@runtime_checkable
class CacheListener(Protocol):
    """Receives a cache's events (as pybreaker's ``CircuitBreakerListener``).

    Called inline on the reader's task: it must be quick and must not raise.
    """

    def on_event(self, event: CacheEvent) -> None: ...


class NullCacheListener:
    """Drops every event; the default.

    ``LayeredCache`` recognises it (exactly this class, not subclasses) and then builds no
    per-read events, which keeps the hit path lean.
    """

    def on_event(self, event: CacheEvent) -> None:
        """Ignore ``event``."""


class RecordingCacheListener:
    """Keeps every event in ``events``, oldest first (a fake for tests and the tour)."""

    def __init__(self) -> None:
        self.events: list[CacheEvent] = []

    def on_event(self, event: CacheEvent) -> None:
        """Append ``event`` to ``events``."""
        self.events.append(event)

    def of(self, event_type: type[_E]) -> list[_E]:
        """The recorded events of one type, oldest first.

        Args:
            event_type: An event class such as ``CacheHit``.

        Returns:
            The matching events.
        """
        return [event for event in self.events if isinstance(event, event_type)]

    def clear(self) -> None:
        """Forget the events recorded so far."""
        self.events.clear()
