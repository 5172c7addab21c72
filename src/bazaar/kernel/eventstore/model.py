"""The event store's values and its pure parts: upcasting and rehydration (no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

__all__ = [
    "EventData",
    "NewEvent",
    "RecordedEvent",
    "Rehydrated",
    "Snapshot",
    "Upcaster",
    "Upcasters",
    "check_append",
    "record",
    "rehydrate",
]

EventData = Mapping[str, Any]  # JSON-serialisable: it is stored as JSON
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. ``id`` is the caller's (a retried command reuses its ids, and the
    store refuses ids it holds); ``version`` is the schema version of ``type``'s data."""

    id: str
    type: str
    data: EventData
    version: int = 1
    metadata: EventData = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """A stored event. ``stream_version`` counts from 1 within the stream; ``position`` orders
    every event of the store (increasing in commit order, with gaps); ``recorded_at`` is
    epoch seconds on the store's clock."""

    stream_id: str
    stream_version: int
    position: int
    id: str
    type: str
    version: int
    data: EventData
    metadata: EventData
    recorded_at: float


def record(
    event: NewEvent, *, stream_id: str, stream_version: int, position: int, recorded_at: float
) -> RecordedEvent:
    """``event`` as a store records it, at its place in the stream and the log."""
    return RecordedEvent(
        stream_id=stream_id,
        stream_version=stream_version,
        position=position,
        id=event.id,
        type=event.type,
        version=event.version,
        data=event.data,
        metadata=event.metadata,
        recorded_at=recorded_at,
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A stream's folded state as of ``stream_version``; ``version`` is the state's schema
    version (a snapshot of another version is ignored, and the stream replayed)."""

    stream_id: str
    stream_version: int
    state: EventData
    version: int
    taken_at: float


class Upcaster(Protocol):
    """Turns the data of one event type at one version into the data of the next version."""

    def __call__(self, data: EventData) -> EventData: ...


class Upcasters:
    """Upcasters by (event type, version): events are read at the version code expects.

    Stored events are never rewritten. An event of ``type`` at version ``n`` goes through
    the upcaster registered for ``(type, n)``, then ``(type, n + 1)``, and so on until none
    is registered: old events reach the current shape one step at a time, and each step
    is written once, when the shape changes.
    """

    __slots__ = ("_steps",)

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorate the function turning ``event_type`` data of ``from_version`` into the next.

        Raises:
            ValueError: If a step for ``(event_type, from_version)`` is registered already.
        """

        def add(step: Upcaster) -> Upcaster:
            slot = (event_type, from_version)
            if slot in self._steps:
                raise ValueError(f"an upcaster of {event_type} v{from_version} is registered")
            self._steps[slot] = step
            return step

        return add

    def upcast(self, event: RecordedEvent) -> RecordedEvent:
        """``event`` at the latest version its type's upcasters reach (itself if none)."""
        steps = self._steps
        if not steps:
            return event
        version, data = event.version, event.data
        step = steps.get((event.type, version))
        if step is None:
            return event
        while step is not None:
            data = step(data)
            version += 1
            step = steps.get((event.type, version))
        return replace(event, version=version, data=data)


@dataclass(frozen=True, slots=True)
class Rehydrated(Generic[S]):
    """A stream's state, the stream version it reflects (the next append's expected
    version), and how it was reached."""

    state: S
    version: int
    replayed: int  # events applied on top of the snapshot (or of the initial state)
    from_snapshot: bool


def rehydrate(
    state: S,
    version: int,
    events: Iterable[RecordedEvent],
    apply: Callable[[S, RecordedEvent], S],
    *,
    from_snapshot: bool = False,
) -> Rehydrated[S]:
    """Fold ``events`` (in stream order, after ``version``) into ``state``."""
    replayed = 0
    for event in events:
        state = apply(state, event)
        version = event.stream_version
        replayed += 1
    return Rehydrated(state, version, replayed, from_snapshot)


def check_append(events: Sequence[NewEvent], expected_version: int) -> None:
    """The arguments every store refuses before touching anything.

    Raises:
        ValueError: No events, or an expected version below 0.
    """
    if not events:
        raise ValueError("an append needs at least one event")
    if expected_version < 0:
        raise ValueError(f"expected_version must be >= 0, got {expected_version}")
