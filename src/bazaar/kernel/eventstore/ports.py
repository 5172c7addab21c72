"""The event store's ports: streams of events, and snapshots of what they fold into."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bazaar.kernel.eventstore.model import NewEvent, RecordedEvent, Snapshot

__all__ = ["EventStore", "SnapshotStore"]


class EventStore(Protocol):
    """Append-only streams of events with optimistic concurrency on the stream version."""

    async def append(
        self, stream_id: str, events: Sequence[NewEvent], *, expected_version: int
    ) -> list[RecordedEvent]:
        """Append ``events`` to ``stream_id`` if it is at ``expected_version`` (0: new).

        All or nothing. Returns the events as stored (the last one's ``stream_version`` is
        the stream's new version).

        Raises:
            WrongExpectedVersionError: The stream is at another version.
            DuplicateEventError: An event's id is already stored.
            ValueError: No events, or an expected version below 0.
        """
        ...

    async def read_stream(
        self,
        stream_id: str,
        *,
        after_version: int = 0,
        to_version: int | None = None,
        until: float | None = None,
    ) -> list[RecordedEvent]:
        """The stream's events after ``after_version``, oldest first, as stored (not upcast);
        up to ``to_version`` and recorded at or before ``until`` (epoch seconds) when given.
        An unknown stream is empty."""
        ...

    async def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Up to ``limit`` events of every stream after ``after_position``, in position
        order: what projections follow."""
        ...

    async def stream_version(self, stream_id: str) -> int:
        """The stream's version (its number of events); 0 for an unknown stream."""
        ...


class SnapshotStore(Protocol):
    """Snapshots of streams' folded state, so a long stream is not replayed from its start."""

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` (one per stream and version; saving it again replaces it)."""
        ...

    async def latest_snapshot(
        self, stream_id: str, *, max_version: int | None = None
    ) -> Snapshot | None:
        """The stream's snapshot of the highest version (at most ``max_version``), if any."""
        ...
