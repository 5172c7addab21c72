"""Event store in process memory (implements ``EventStore`` and ``SnapshotStore``): the fake
for tests and the embedded default's reference."""

from __future__ import annotations

from collections.abc import Sequence

from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.eventstore.errors import DuplicateEventError, WrongExpectedVersionError
from bazaar.kernel.eventstore.model import (
    NewEvent,
    RecordedEvent,
    Snapshot,
    check_append,
    record,
)

__all__ = ["InMemoryEventStore"]


class InMemoryEventStore:
    """Streams, the global log and snapshots in dicts and lists; inspectable (``events``).

    Every call runs to completion without awaiting, so it is atomic on the event loop.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self.events: list[RecordedEvent] = []  # the global log, in position order
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._ids: set[str] = set()
        self._snapshots: dict[str, dict[int, Snapshot]] = {}

    async def append(
        self, stream_id: str, events: Sequence[NewEvent], *, expected_version: int
    ) -> list[RecordedEvent]:
        """See ``EventStore.append``."""
        check_append(events, expected_version)
        stream = self._streams.get(stream_id, [])
        if len(stream) != expected_version:
            raise WrongExpectedVersionError(stream_id, expected_version, len(stream))
        ids = [event.id for event in events]
        taken = tuple(i for i in ids if i in self._ids)
        if taken or len(set(ids)) != len(ids):
            raise DuplicateEventError(stream_id, taken or tuple(ids))
        now = self._clock.now()
        recorded = [
            record(
                event,
                stream_id=stream_id,
                stream_version=expected_version + offset,
                position=len(self.events) + offset,
                recorded_at=now,
            )
            for offset, event in enumerate(events, start=1)
        ]
        self._streams[stream_id] = stream + recorded
        self.events.extend(recorded)
        self._ids.update(ids)
        return recorded

    async def read_stream(
        self,
        stream_id: str,
        *,
        after_version: int = 0,
        to_version: int | None = None,
        until: float | None = None,
    ) -> list[RecordedEvent]:
        """See ``EventStore.read_stream``."""
        stream = self._streams.get(stream_id, [])
        chosen = stream[after_version:to_version]
        if until is not None:
            chosen = [event for event in chosen if event.recorded_at <= until]
        return chosen

    async def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """See ``EventStore.read_all``."""
        return self.events[after_position : after_position + limit]

    async def stream_version(self, stream_id: str) -> int:
        """See ``EventStore.stream_version``."""
        return len(self._streams.get(stream_id, ()))

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """See ``SnapshotStore.save_snapshot``."""
        self._snapshots.setdefault(snapshot.stream_id, {})[snapshot.stream_version] = snapshot

    async def latest_snapshot(
        self, stream_id: str, *, max_version: int | None = None
    ) -> Snapshot | None:
        """See ``SnapshotStore.latest_snapshot``."""
        versions = [
            version
            for version in self._snapshots.get(stream_id, {})
            if max_version is None or version <= max_version
        ]
        return self._snapshots[stream_id][max(versions)] if versions else None
