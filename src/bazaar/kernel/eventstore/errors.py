"""Errors of the event store.

KernelError
└── EventStoreError
    ├── WrongExpectedVersionError   the stream moved since the caller read it
    └── DuplicateEventError         an event id the store already holds
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = ["DuplicateEventError", "EventStoreError", "WrongExpectedVersionError"]


class EventStoreError(KernelError):
    """An event store refused or failed an operation."""


class WrongExpectedVersionError(EventStoreError):
    """An append's expected version is not the stream's version: someone appended first.

    The optimistic-concurrency answer: reload the stream, decide again, append again.
    ``actual`` is None when the store could not read it (a writer outside the store's
    protocol broke a constraint, and PostgreSQL aborted the transaction).
    """

    def __init__(self, stream_id: str, expected: int, actual: int | None) -> None:
        at = "at another version" if actual is None else f"at version {actual}"
        super().__init__(f"stream {stream_id!r} is {at}, the append expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class DuplicateEventError(EventStoreError):
    """An appended event's id is already stored (the same append, made twice)."""

    def __init__(self, stream_id: str, event_ids: tuple[str, ...]) -> None:
        super().__init__(f"stream {stream_id!r}: event ids already stored: {', '.join(event_ids)}")
        self.stream_id = stream_id
        self.event_ids = event_ids
