"""Event store (capabilities §9.1): append-only streams with optimistic concurrency on the
stream version, a global log in commit order for projections, snapshots, upcasting.

``EventStore`` / ``SnapshotStore`` are the ports (``SqlEventStore`` on SQLite and
PostgreSQL, inside the caller's transaction; ``InMemoryEventStore``); ``Upcasters`` and
``rehydrate`` are the pure parts; ``EventSourcedRepository`` loads a stream's state from its
latest snapshot and appends to it.
"""

from __future__ import annotations

from bazaar.kernel.eventstore.errors import (
    DuplicateEventError,
    EventStoreError,
    WrongExpectedVersionError,
)
from bazaar.kernel.eventstore.memory import InMemoryEventStore
from bazaar.kernel.eventstore.model import (
    EventData,
    NewEvent,
    RecordedEvent,
    Rehydrated,
    Snapshot,
    Upcaster,
    Upcasters,
    rehydrate,
)
from bazaar.kernel.eventstore.ports import EventStore, SnapshotStore
from bazaar.kernel.eventstore.repository import EventSourcedRepository

__all__ = [
    "DuplicateEventError",
    "EventData",
    "EventSourcedRepository",
    "EventStore",
    "EventStoreError",
    "InMemoryEventStore",
    "NewEvent",
    "RecordedEvent",
    "Rehydrated",
    "Snapshot",
    "SnapshotStore",
    "Upcaster",
    "Upcasters",
    "WrongExpectedVersionError",
    "rehydrate",
]
