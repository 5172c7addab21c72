"""Loading a stream's state and appending to it, with upcasting and snapshots."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.eventstore.model import (
    EventData,
    NewEvent,
    RecordedEvent,
    Rehydrated,
    Snapshot,
    Upcasters,
    rehydrate,
)
from bazaar.kernel.eventstore.ports import EventStore, SnapshotStore

__all__ = ["EventSourcedRepository"]

S = TypeVar("S")


class EventSourcedRepository(Generic[S]):
    """One kind of event-sourced state: how it starts, how each event changes it, and how it
    is snapshotted.

    ``load`` starts from the stream's latest snapshot of the current state version (if any)
    and applies the events after it, each upcast to the version ``apply`` expects.
    ``append`` appends with the loaded version as the expected one, applies the new events
    to the loaded state, and saves a snapshot whenever the stream crosses a multiple of
    ``snapshot_every`` (0: never). A snapshot is only a shortcut: dropping every snapshot, or
    bumping ``snapshot_version`` when the state's shape changes, replays from the start.
    """

    def __init__(
        self,
        *,
        initial: Callable[[], S],
        apply: Callable[[S, RecordedEvent], S],
        upcasters: Upcasters | None = None,
        snapshot_every: int = 0,
        snapshot_version: int = 1,
        to_snapshot: Callable[[S], EventData] | None = None,
        from_snapshot: Callable[[EventData], S] | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Describe the state.

        Raises:
            ConfigurationError: ``snapshot_every`` is negative, or positive without both
                ``to_snapshot`` and ``from_snapshot``.
        """
        if snapshot_every < 0:
            raise ConfigurationError("snapshot_every", f"must be >= 0, got {snapshot_every}")
        if snapshot_every and (to_snapshot is None or from_snapshot is None):
            raise ConfigurationError(
                "snapshot_every", "snapshots need both to_snapshot and from_snapshot"
            )
        self._initial = initial
        self._apply = apply
        self._upcasters = upcasters or Upcasters()
        self._snapshot_every = snapshot_every
        self._snapshot_version = snapshot_version
        self._to_snapshot = to_snapshot
        self._from_snapshot = from_snapshot
        self._clock = clock or SystemClock()

    async def load(
        self,
        events: EventStore,
        stream_id: str,
        *,
        snapshots: SnapshotStore | None = None,
        to_version: int | None = None,
        until: float | None = None,
    ) -> Rehydrated[S]:
        """The stream's state, now or as of ``to_version`` / ``until`` (epoch seconds).

        A point in time (``until``) is replayed from the start: a snapshot records a
        version, not when its last event happened.
        """
        state, version, from_snapshot = self._initial(), 0, False
        if snapshots is not None and self._from_snapshot is not None and until is None:
            snapshot = await snapshots.latest_snapshot(stream_id, max_version=to_version)
            if snapshot is not None and snapshot.version == self._snapshot_version:
                state = self._from_snapshot(snapshot.state)
                version, from_snapshot = snapshot.stream_version, True
        stored = await events.read_stream(
            stream_id, after_version=version, to_version=to_version, until=until
        )
        upcast = self._upcasters.upcast
        return rehydrate(
            state,
            version,
            (upcast(event) for event in stored),
            self._apply,
            from_snapshot=from_snapshot,
        )

    async def append(
        self,
        events: EventStore,
        stream_id: str,
        loaded: Rehydrated[S],
        new: Sequence[NewEvent],
        *,
        snapshots: SnapshotStore | None = None,
    ) -> Rehydrated[S]:
        """Append ``new`` to the stream ``loaded`` was read from; the state after them.

        Raises:
            WrongExpectedVersionError: The stream moved since ``loaded``: load and decide again.
            DuplicateEventError: An event's id is already stored.
        """
        recorded = await events.append(stream_id, new, expected_version=loaded.version)
        after = rehydrate(
            loaded.state,
            loaded.version,
            (self._upcasters.upcast(event) for event in recorded),
            self._apply,
            from_snapshot=loaded.from_snapshot,
        )
        every = self._snapshot_every
        if (
            snapshots is not None
            and every
            and self._to_snapshot is not None
            and after.version // every > loaded.version // every
        ):
            await snapshots.save_snapshot(
                Snapshot(
                    stream_id=stream_id,
                    stream_version=after.version,
                    state=self._to_snapshot(after.state),
                    version=self._snapshot_version,
                    taken_at=self._clock.now(),
                )
            )
        # Reached the way ``loaded`` was, with the new events applied on top.
        return Rehydrated(
            after.state, after.version, loaded.replayed + after.replayed, loaded.from_snapshot
        )
