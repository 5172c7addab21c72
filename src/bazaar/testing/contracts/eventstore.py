"""The contract of ``EventStore`` and ``SnapshotStore``: every adapter passes it on its real
engine."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.eventstore import (
    DuplicateEventError,
    EventStore,
    NewEvent,
    RecordedEvent,
    Snapshot,
    SnapshotStore,
    WrongExpectedVersionError,
)

__all__ = ["CONTRACT_START", "EventStoreContract", "StoreFactory", "StoreUnderTest"]

CONTRACT_START = 1_800_000_000.0


class StoreUnderTest(EventStore, SnapshotStore, Protocol):
    """An adapter implementing both ports, as every shipped one does."""


# A transaction of the adapter under test: entering opens it, leaving commits it. The
# adapter takes its time from the ``clock`` fixture.
StoreFactory = Callable[[], AbstractAsyncContextManager[StoreUnderTest]]


def event(kind: str = "Deposited", **data: object) -> NewEvent:
    """A new event with a fresh id."""
    return NewEvent(id=uuid.uuid4().hex, type=kind, data=data or {"amount": 1})


def same_event(recorded: RecordedEvent, new: NewEvent) -> bool:
    """Whether ``recorded`` stores what ``new`` said."""
    return (recorded.id, recorded.type, recorded.version, recorded.data, recorded.metadata) == (
        new.id,
        new.type,
        new.version,
        new.data,
        new.metadata,
    )


class EventStoreContract:
    """Subclass and provide ``store`` (a ``StoreFactory``) and ``clock`` (the ``ManualClock``
    the adapter reads, starting at ``CONTRACT_START``) fixtures."""

    @pytest.fixture
    def stream(self) -> str:
        return f"wallet-{uuid.uuid4().hex[:12]}"

    async def test_an_append_to_a_new_stream_numbers_its_events_from_one(
        self, store: StoreFactory, clock: ManualClock, stream: str
    ) -> None:
        new = [
            event(amount=5),
            NewEvent(
                id=uuid.uuid4().hex,
                type="Withdrawn",
                data={"amount": 2, "memo": "café ☕", "lines": [1, 2.5, None, {"a": True}]},
                version=3,
                metadata={"trace_id": "abc", "causation": "cmd-1"},
            ),
        ]
        async with store() as s:
            recorded = await s.append(stream, new, expected_version=0)
        assert [r.stream_version for r in recorded] == [1, 2]
        assert recorded[0].position < recorded[1].position
        assert all(same_event(r, n) for r, n in zip(recorded, new, strict=True))
        async with store() as s:
            read = await s.read_stream(stream)
            assert await s.stream_version(stream) == 2
        assert read == recorded
        assert {r.recorded_at for r in read} == {clock.now()}
        assert {r.stream_id for r in read} == {stream}

    async def test_an_unknown_stream_is_empty_at_version_zero(
        self, store: StoreFactory, stream: str
    ) -> None:
        async with store() as s:
            assert await s.read_stream(stream) == []
            assert await s.stream_version(stream) == 0

    async def test_a_wrong_expected_version_is_refused_and_writes_nothing(
        self, store: StoreFactory, stream: str
    ) -> None:
        async with store() as s:
            await s.append(stream, [event(), event()], expected_version=0)
        for expected in (0, 1, 3):
            with pytest.raises(WrongExpectedVersionError) as refused:
                async with store() as s:
                    await s.append(stream, [event()], expected_version=expected)
            assert (refused.value.expected, refused.value.actual) == (expected, 2)
        async with store() as s:
            assert await s.stream_version(stream) == 2
            recorded = await s.append(stream, [event()], expected_version=2)
        assert recorded[0].stream_version == 3

    async def test_a_stream_that_does_not_exist_yet_must_be_expected_at_zero(
        self, store: StoreFactory, stream: str
    ) -> None:
        with pytest.raises(WrongExpectedVersionError) as refused:
            async with store() as s:
                await s.append(stream, [event()], expected_version=1)
        assert refused.value.actual == 0

    async def test_an_event_id_already_stored_is_refused_whole(
        self, store: StoreFactory, stream: str
    ) -> None:
        first = event()
        async with store() as s:
            await s.append(stream, [first], expected_version=0)
        other = f"{stream}-other"
        with pytest.raises(DuplicateEventError) as refused:
            async with store() as s:
                await s.append(other, [event(), first], expected_version=0)
        assert refused.value.event_ids == (first.id,)
        again = event()
        with pytest.raises(DuplicateEventError):
            async with store() as s:
                await s.append(other, [again, again], expected_version=0)
        async with store() as s:
            assert await s.stream_version(other) == 0
            assert len(await s.append(other, [event()], expected_version=0)) == 1

    async def test_an_empty_append_or_a_negative_version_is_a_value_error(
        self, store: StoreFactory, stream: str
    ) -> None:
        async with store() as s:
            with pytest.raises(ValueError, match="at least one"):
                await s.append(stream, [], expected_version=0)
            with pytest.raises(ValueError, match="expected_version"):
                await s.append(stream, [event()], expected_version=-1)

    async def test_a_stream_reads_from_a_version_up_to_a_version_or_a_time(
        self, store: StoreFactory, clock: ManualClock, stream: str
    ) -> None:
        times: list[float] = []
        for _ in range(5):
            async with store() as s:
                await s.append(stream, [event()], expected_version=len(times))
            times.append(clock.now())
            clock.advance(10.0)
        async with store() as s:
            assert [e.stream_version for e in await s.read_stream(stream, after_version=3)] == [
                4,
                5,
            ]
            assert [e.stream_version for e in await s.read_stream(stream, to_version=2)] == [1, 2]
            middle = await s.read_stream(stream, after_version=1, to_version=4)
            assert [e.stream_version for e in middle] == [2, 3, 4]
            as_of = await s.read_stream(stream, until=times[2])
            assert [e.stream_version for e in as_of] == [1, 2, 3]
            assert await s.read_stream(stream, until=times[0] - 1) == []

    async def test_the_global_log_follows_appends_across_streams(
        self, store: StoreFactory, stream: str
    ) -> None:
        async with store() as s:
            start = (await s.append(f"{stream}-0", [event()], expected_version=0))[0].position
        appended: list[RecordedEvent] = []
        for i in range(6):
            async with store() as s:
                name = f"{stream}-{i % 3}"
                version = await s.stream_version(name)
                appended += await s.append(name, [event(), event()], expected_version=version)
        async with store() as s:
            log = await s.read_all(after_position=start)
            page = await s.read_all(after_position=start, limit=5)
            rest = await s.read_all(after_position=page[-1].position)
        ours = [e for e in log if e.stream_id.startswith(stream)]
        assert [e.id for e in ours] == [e.id for e in appended]
        positions = [e.position for e in log]
        assert positions == sorted(positions)
        assert len(set(positions)) == len(positions)
        assert page == log[:5]
        assert rest[: len(log) - 5] == log[5:]

    async def test_of_concurrent_appends_at_one_version_exactly_one_wins(
        self, store: StoreFactory, stream: str
    ) -> None:
        async with store() as s:
            await s.append(stream, [event()], expected_version=0)

        async def attempt(n: int) -> bool:
            try:
                async with store() as s:
                    await s.append(stream, [event(n=n)], expected_version=1)
            except WrongExpectedVersionError:
                return False
            return True

        outcomes = await asyncio.gather(*(attempt(n) for n in range(8)))
        assert sum(outcomes) == 1
        async with store() as s:
            assert await s.stream_version(stream) == 2

    async def test_the_latest_snapshot_at_or_below_a_version_is_found(
        self, store: StoreFactory, clock: ManualClock, stream: str
    ) -> None:
        async with store() as s:
            assert await s.latest_snapshot(stream) is None
            for version in (3, 6, 9):
                await s.save_snapshot(
                    Snapshot(stream, version, {"balance": version * 10}, 1, clock.now())
                )
        async with store() as s:
            latest = await s.latest_snapshot(stream)
            assert latest == Snapshot(stream, 9, {"balance": 90}, 1, clock.now())
            below = await s.latest_snapshot(stream, max_version=8)
            assert below is not None
            assert below.stream_version == 6
            assert await s.latest_snapshot(stream, max_version=2) is None
            assert await s.latest_snapshot(f"{stream}-none") is None

    async def test_a_snapshot_saved_again_at_its_version_is_replaced(
        self, store: StoreFactory, clock: ManualClock, stream: str
    ) -> None:
        async with store() as s:
            await s.save_snapshot(Snapshot(stream, 4, {"balance": 1}, 1, clock.now()))
        async with store() as s:
            await s.save_snapshot(Snapshot(stream, 4, {"balance": 2}, 2, clock.now() + 1))
        async with store() as s:
            assert await s.latest_snapshot(stream) == Snapshot(
                stream, 4, {"balance": 2}, 2, clock.now() + 1
            )
