"""Event store in SQL tables (SQLite and PostgreSQL), inside the caller's transaction.

The caller owns the transaction, so an append commits with whatever else the unit of work
writes (its outbox rows above all), or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.eventstore.errors import DuplicateEventError, WrongExpectedVersionError
from bazaar.kernel.eventstore.model import (
    NewEvent,
    RecordedEvent,
    Snapshot,
    check_append,
    record,
)
from bazaar.kernel.sql import insert_for

__all__ = ["EventStoreTables", "SqlEventStore", "event_store_tables"]

# PostgreSQL hands out positions from a sequence at insert time, but transactions commit
# in any order: a reader following positions could pass a position whose transaction
# commits later and never see it. Appends therefore take this transaction-scoped advisory
# lock, so positions become visible in order. (SQLite has one writer at a time already.)
_APPEND_LOCK = text("SELECT pg_advisory_xact_lock(7301932741042)")


@dataclass(frozen=True, slots=True)
class EventStoreTables:
    """The two tables of one event store."""

    events: Table
    snapshots: Table


def event_store_tables(metadata: MetaData, prefix: str = "event_store") -> EventStoreTables:
    """The tables ``<prefix>_events`` and ``<prefix>_snapshots``; times are epoch seconds.

    A context that keeps its events here owns the tables under its own prefix (``ledger``).
    """
    events = Table(
        f"{prefix}_events",
        metadata,
        # BIGINT on PostgreSQL; SQLite's rowid alias must be spelled INTEGER.
        Column(
            "position",
            BigInteger().with_variant(Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("stream_id", String(255), nullable=False),
        Column("stream_version", Integer, nullable=False),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("event_type", String(128), nullable=False),
        Column("event_version", Integer, nullable=False),
        Column("data", Text, nullable=False),
        Column("metadata", Text, nullable=False),
        Column("recorded_at", Float, nullable=False),
        # Also the index reading a stream uses.
        UniqueConstraint("stream_id", "stream_version", name=f"uq_{prefix}_events_stream"),
    )
    snapshots = Table(
        f"{prefix}_snapshots",
        metadata,
        Column("stream_id", String(255), primary_key=True),
        Column("stream_version", Integer, primary_key=True),
        Column("state", Text, nullable=False),
        Column("state_version", Integer, nullable=False),
        Column("taken_at", Float, nullable=False),
    )
    return EventStoreTables(events, snapshots)


class SqlEventStore:
    """``EventStore`` and ``SnapshotStore`` on one ``AsyncSession``; the caller commits.

    An append reads the stream's version, refuses a wrong expectation, and inserts the
    events. Appends are serialised (an advisory lock on PostgreSQL, the single writer on
    SQLite), so the check holds until the insert; the unique (stream, version) constraint
    still refuses any writer that bypasses them. Event data is stored as JSON text (the same
    on both engines).
    """

    def __init__(
        self, session: AsyncSession, tables: EventStoreTables, clock: Clock | None = None
    ) -> None:
        self.session = session
        self.tables = tables
        self._clock = clock or SystemClock()
        self._postgres = session.get_bind().dialect.name == "postgresql"

    async def append(
        self, stream_id: str, events: Sequence[NewEvent], *, expected_version: int
    ) -> list[RecordedEvent]:
        """See ``EventStore.append``."""
        check_append(events, expected_version)
        if self._postgres:
            await self.session.execute(_APPEND_LOCK)
        actual = await self.stream_version(stream_id)
        if actual != expected_version:
            raise WrongExpectedVersionError(stream_id, expected_version, actual)
        now = self._clock.now()
        rows = [
            {
                "stream_id": stream_id,
                "stream_version": expected_version + offset,
                "event_id": event.id,
                "event_type": event.type,
                "event_version": event.version,
                "data": orjson.dumps(event.data).decode(),
                "metadata": orjson.dumps(event.metadata).decode(),
                "recorded_at": now,
            }
            for offset, event in enumerate(events, start=1)
        ]
        t = self.tables.events
        try:
            # One multi-row INSERT (atomic). A taken event id skips its row instead of failing
            # the statement, which on PostgreSQL would abort the caller's transaction: the
            # rows that went in are deleted again below. (A savepoint would do the same at
            # the cost of two more round trips on every append, for the rare refusal.)
            inserted = await self.session.execute(
                insert_for(self.session, t)
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(t.c.position, t.c.event_id),
                rows,
            )
            positions = {row.event_id: int(row.position) for row in inserted}
        except IntegrityError as exc:
            # The (stream, version) constraint: an appender outside this store's protocol
            # (the lock above, SQLite's single writer) got in between. On PostgreSQL the
            # failed statement has aborted the transaction, so the version cannot be read.
            moved_to = None if self._postgres else await self.stream_version(stream_id)
            raise WrongExpectedVersionError(stream_id, expected_version, moved_to) from exc
        if len(positions) != len(rows):
            await self._undo(positions.values())
            ids = [event.id for event in events]
            taken = tuple(dict.fromkeys(i for i in ids if i not in positions or ids.count(i) > 1))
            raise DuplicateEventError(stream_id, taken)
        return [
            record(
                event,
                stream_id=stream_id,
                stream_version=expected_version + offset,
                position=positions[event.id],
                recorded_at=now,
            )
            for offset, event in enumerate(events, start=1)
        ]

    async def read_stream(
        self,
        stream_id: str,
        *,
        after_version: int = 0,
        to_version: int | None = None,
        until: float | None = None,
    ) -> list[RecordedEvent]:
        """See ``EventStore.read_stream``."""
        t = self.tables.events
        query = select(t).where(t.c.stream_id == stream_id, t.c.stream_version > after_version)
        if to_version is not None:
            query = query.where(t.c.stream_version <= to_version)
        if until is not None:
            query = query.where(t.c.recorded_at <= until)
        result = await self.session.execute(query.order_by(t.c.stream_version))
        return [_recorded(row._mapping) for row in result]

    async def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """See ``EventStore.read_all``."""
        t = self.tables.events
        result = await self.session.execute(
            select(t).where(t.c.position > after_position).order_by(t.c.position).limit(limit)
        )
        return [_recorded(row._mapping) for row in result]

    async def stream_version(self, stream_id: str) -> int:
        """See ``EventStore.stream_version``."""
        t = self.tables.events
        version = await self.session.scalar(
            select(func.max(t.c.stream_version)).where(t.c.stream_id == stream_id)
        )
        return int(version or 0)

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """See ``SnapshotStore.save_snapshot``."""
        t = self.tables.snapshots
        values = {
            "stream_id": snapshot.stream_id,
            "stream_version": snapshot.stream_version,
            "state": orjson.dumps(snapshot.state).decode(),
            "state_version": snapshot.version,
            "taken_at": snapshot.taken_at,
        }
        statement = insert_for(self.session, t).values(**values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["stream_id", "stream_version"],
                set_={key: values[key] for key in ("state", "state_version", "taken_at")},
            )
        )

    async def latest_snapshot(
        self, stream_id: str, *, max_version: int | None = None
    ) -> Snapshot | None:
        """See ``SnapshotStore.latest_snapshot``."""
        t = self.tables.snapshots
        query = select(t).where(t.c.stream_id == stream_id)
        if max_version is not None:
            query = query.where(t.c.stream_version <= max_version)
        row = (
            await self.session.execute(query.order_by(t.c.stream_version.desc()).limit(1))
        ).one_or_none()
        if row is None:
            return None
        found = row._mapping
        return Snapshot(
            stream_id=found["stream_id"],
            stream_version=int(found["stream_version"]),
            state=orjson.loads(found["state"]),
            version=int(found["state_version"]),
            taken_at=float(found["taken_at"]),
        )

    async def _undo(self, positions: Iterable[int]) -> None:
        """Delete the rows of a refused append that did go in."""
        chosen = list(positions)
        if chosen:
            t = self.tables.events
            await self.session.execute(delete(t).where(t.c.position.in_(chosen)))


def _recorded(row: Any) -> RecordedEvent:
    return RecordedEvent(
        stream_id=row["stream_id"],
        stream_version=int(row["stream_version"]),
        position=int(row["position"]),
        id=row["event_id"],
        type=row["event_type"],
        version=int(row["event_version"]),
        data=orjson.loads(row["data"]),
        metadata=orjson.loads(row["metadata"]),
        recorded_at=float(row["recorded_at"]),
    )
