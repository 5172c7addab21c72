"""SQL tables of messaging (outbox, inbox, dead letters) and their adapters.

The tables are declared by factories so the composition's ``MetaData`` owns them (as with
``idempotency_table``); Alembic migrations spell them out as frozen snapshots. Every adapter
works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.sql import insert_for, rowcount

__all__ = [
    "DeadLetter",
    "OutboxRow",
    "SqlDeadLetterStore",
    "SqlInbox",
    "SqlInboxStore",
    "SqlOutbox",
    "dead_letter_table",
    "inbox_table",
    "outbox_table",
    "write_outbox",
]

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid); PostgreSQL wants BIGINT.
_SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")


def outbox_table(metadata: MetaData, name: str = "outbox") -> Table:
    """Events waiting to be published, in commit order per aggregate (``seq``)."""
    table = Table(
        name,
        metadata,
        Column("seq", _SEQUENCE, primary_key=True, autoincrement=True),
        Column("message_id", String(64), nullable=False),
        Column("topic", String(100), nullable=False),
        Column("key", String(200), nullable=False),
        Column("type", String(200), nullable=False),
        Column("data", LargeBinary, nullable=False),
        Column("created_at", Float, nullable=False),
        Column("published_at", Float, nullable=True),
    )
    # The relay reads only unpublished rows; a partial index keeps that scan tiny however
    # many published rows wait for the purge.
    Index(
        f"ix_{name}_unpublished",
        table.c.seq,
        sqlite_where=table.c.published_at.is_(None),
        postgresql_where=table.c.published_at.is_(None),
    )
    Index(f"ix_{name}_published_at", table.c.published_at)
    Index(f"uq_{name}_message_id", table.c.message_id, unique=True)
    return table


def inbox_table(metadata: MetaData, name: str = "inbox") -> Table:
    """Message ids each consumer has handled (capabilities §6.3)."""
    return Table(
        name,
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("message_id", String(64), primary_key=True),
        Column("processed_at", Float, nullable=False, index=True),
    )


def dead_letter_table(metadata: MetaData, name: str = "dead_letters") -> Table:
    """Messages a consumer gave up on, with why, how often it tried and the original bytes."""
    return Table(
        name,
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("consumer", String(100), nullable=False, index=True),
        Column("topic", String(100), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("message_id", String(64), nullable=True),
        Column("type", String(200), nullable=True),
        Column("key", String(200), nullable=False),
        Column("data", LargeBinary, nullable=False),
        Column("headers", Text, nullable=False),
        Column("reason", String(32), nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("failed_at", Float, nullable=False),
        Column("replayed_at", Float, nullable=True),
        Column("replays", Integer, nullable=False),
    )


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    message_id: str
    topic: str
    key: str
    data: bytes
    created_at: float


async def write_outbox(
    session: AsyncSession, table: Table, envelopes: Sequence[Envelope], now: float
) -> None:
    """Add envelopes to the outbox inside the caller's transaction (one multi-row INSERT)."""
    if not envelopes:
        return
    await session.execute(
        insert(table),
        [
            {
                "message_id": envelope.id,
                "topic": envelope.topic,
                "key": envelope.key,
                "type": envelope.type,
                "data": envelope.encode(),
                "created_at": now,
                "published_at": None,
            }
            for envelope in envelopes
        ],
    )


class SqlInbox:
    """``Inbox`` on the caller's session: the record commits with the handler's effect."""

    def __init__(self, session: AsyncSession, table: Table) -> None:
        self.session = session
        self.table = table

    async def record(self, consumer: str, message_id: str, at: datetime) -> bool:
        statement = (
            insert_for(self.session, self.table)
            .values(consumer=consumer, message_id=message_id, processed_at=at.timestamp())
            .on_conflict_do_nothing(index_elements=["consumer", "message_id"])
        )
        return rowcount(await self.session.execute(statement)) == 1

    async def contains(self, consumer: str, message_id: str) -> bool:
        t = self.table
        found = await self.session.scalar(
            select(t.c.message_id).where(t.c.consumer == consumer, t.c.message_id == message_id)
        )
        return found is not None

    async def seen(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        if not message_ids:
            return set()
        t = self.table
        rows = await self.session.scalars(
            select(t.c.message_id).where(
                t.c.consumer == consumer, t.c.message_id.in_(set(message_ids))
            )
        )
        return set(rows)

    async def record_all(self, consumer: str, message_ids: Sequence[str], at: datetime) -> None:
        if not message_ids:
            return
        processed_at = at.timestamp()
        statement = insert_for(self.session, self.table).on_conflict_do_nothing(
            index_elements=["consumer", "message_id"]
        )
        # Rows as parameters (executemany), not a compiled multi-row VALUES: 3-4x cheaper to
        # build for a batch of 50 (measured by bench/pipeline.py).
        rows = [
            {"consumer": consumer, "message_id": m, "processed_at": processed_at}
            for m in dict.fromkeys(message_ids)
        ]
        await self.session.execute(statement, rows)


class SqlInboxStore:
    """``Inbox`` where each call is its own short transaction (for effects outside the DB).

    Lookups go through ``read_sessions`` when given (SQLite's read-only pool: a lookup never
    takes the write lock); records through ``sessions``.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions or sessions
        self.table = table

    async def record(self, consumer: str, message_id: str, at: datetime) -> bool:
        async with self.sessions() as session, session.begin():
            return await SqlInbox(session, self.table).record(consumer, message_id, at)

    async def contains(self, consumer: str, message_id: str) -> bool:
        async with self.read_sessions() as session:
            return await SqlInbox(session, self.table).contains(consumer, message_id)

    async def seen(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        if not message_ids:
            return set()
        async with self.read_sessions() as session:
            return await SqlInbox(session, self.table).seen(consumer, message_ids)

    async def record_all(self, consumer: str, message_ids: Sequence[str], at: datetime) -> None:
        if not message_ids:
            return
        async with self.sessions() as session, session.begin():
            await SqlInbox(session, self.table).record_all(consumer, message_ids, at)

    async def purge(self, before: float) -> int:
        """Forget ids handled before ``before`` (older than any redelivery can be)."""
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                delete(self.table).where(self.table.c.processed_at < before)
            )
            return rowcount(result)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message a consumer gave up on. ``data`` is the original bytes, as delivered."""

    id: int
    consumer: str
    topic: str
    partition: int
    message_id: str | None
    type: str | None
    key: str
    data: bytes
    headers: dict[str, str]
    reason: str
    error: str
    attempts: int
    failed_at: float
    replayed_at: float | None = None
    replays: int = 0


def _dead_letter(row: Any) -> DeadLetter:
    m = row._mapping
    return DeadLetter(
        id=m["id"],
        consumer=m["consumer"],
        topic=m["topic"],
        partition=m["partition"],
        message_id=m["message_id"],
        type=m["type"],
        key=m["key"],
        data=bytes(m["data"]),
        headers=orjson.loads(m["headers"]),
        reason=m["reason"],
        error=m["error"],
        attempts=m["attempts"],
        failed_at=m["failed_at"],
        replayed_at=m["replayed_at"],
        replays=m["replays"],
    )


class SqlDeadLetterStore:
    """Dead letters in a table: listed, shown, replayed and purged by id (capabilities §6.4).

    A table rather than a broker topic: inspection needs random access by id and a filter by
    consumer, and a dead letter must outlive the stream's retention until someone acts on it.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions or sessions
        self.table = table

    async def add(self, letter: DeadLetter) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                insert(self.table).values(
                    id=letter.id,
                    consumer=letter.consumer,
                    topic=letter.topic,
                    partition=letter.partition,
                    message_id=letter.message_id,
                    type=letter.type,
                    key=letter.key,
                    data=letter.data,
                    headers=orjson.dumps(letter.headers).decode(),
                    reason=letter.reason,
                    error=letter.error,
                    attempts=letter.attempts,
                    failed_at=letter.failed_at,
                    replayed_at=None,
                    replays=0,
                )
            )

    async def list(
        self,
        *,
        consumer: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
        include_replayed: bool = True,
    ) -> list[DeadLetter]:
        """Newest first; page with ``before_id`` (the last id of the previous page)."""
        t = self.table
        query = select(t).order_by(t.c.id.desc()).limit(limit)
        if consumer is not None:
            query = query.where(t.c.consumer == consumer)
        if before_id is not None:
            query = query.where(t.c.id < before_id)
        if not include_replayed:
            query = query.where(t.c.replayed_at.is_(None))
        async with self.read_sessions() as session:
            return [_dead_letter(row) for row in await session.execute(query)]

    async def get(self, letter_id: int) -> DeadLetter | None:
        async with self.read_sessions() as session:
            row = (
                await session.execute(select(self.table).where(self.table.c.id == letter_id))
            ).one_or_none()
        return None if row is None else _dead_letter(row)

    async def mark_replayed(self, letter_id: int, at: float) -> None:
        t = self.table
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(t).where(t.c.id == letter_id).values(replayed_at=at, replays=t.c.replays + 1)
            )

    async def purge(
        self,
        *,
        letter_id: int | None = None,
        consumer: str | None = None,
        before: float | None = None,
    ) -> int:
        """Delete one letter, a consumer's letters, letters older than ``before``, or all."""
        t = self.table
        statement = delete(t)
        if letter_id is not None:
            statement = statement.where(t.c.id == letter_id)
        if consumer is not None:
            statement = statement.where(t.c.consumer == consumer)
        if before is not None:
            statement = statement.where(t.c.failed_at < before)
        async with self.sessions() as session, session.begin():
            return rowcount(await session.execute(statement))

    async def counts_by_topic(self) -> dict[str, int]:
        """Letters not yet replayed, per original topic (``bazaar_dlq_messages``)."""
        t = self.table
        query = select(t.c.topic, func.count()).where(t.c.replayed_at.is_(None)).group_by(t.c.topic)
        async with self.read_sessions() as session:
            return {topic: count for topic, count in await session.execute(query)}


class SqlOutbox:
    """The relay's side of the outbox: claim a batch in order, publish it, mark it sent.

    PostgreSQL: one transaction selects the batch ``FOR UPDATE SKIP LOCKED`` (a relay that
    overlaps during a lease hand-over skips rows being published instead of waiting or
    publishing them twice), publishes, then marks the rows. SQLite has one writer and one
    relay (the lease): the batch is read through the read-only pool, published, then marked
    in a short write transaction, so API writers are never held behind a broker call.
    Publishing before marking makes a crash in between publish twice, never lose: consumers
    absorb the duplicate through their inbox.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions or sessions
        self.table = table

    def _batch_query(self, limit: int) -> Any:
        t = self.table
        return (
            select(t.c.seq, t.c.message_id, t.c.topic, t.c.key, t.c.data, t.c.created_at)
            .where(t.c.published_at.is_(None))
            .order_by(t.c.seq)
            .limit(limit)
        )

    async def relay_batch(
        self,
        limit: int,
        publish: Callable[[Sequence[OutboxRow]], Awaitable[None]],
        now: Callable[[], float],
    ) -> list[OutboxRow]:
        """Publish up to ``limit`` unpublished rows oldest first; returns the rows published.

        Raises:
            whatever ``publish`` raises; the rows stay unpublished and are tried again.
        """
        async with self.sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                async with session.begin():
                    result = await session.execute(
                        self._batch_query(limit).with_for_update(skip_locked=True)
                    )
                    rows = [_outbox_row(row) for row in result]
                    if rows:
                        await publish(rows)
                        await self._mark(session, rows, now())
                return rows
        async with self.read_sessions() as reader:
            rows = [_outbox_row(row) for row in await reader.execute(self._batch_query(limit))]
        if rows:
            await publish(rows)
            async with self.sessions() as session, session.begin():
                await self._mark(session, rows, now())
        return rows

    async def _mark(self, session: AsyncSession, rows: Sequence[OutboxRow], at: float) -> None:
        t = self.table
        await session.execute(
            update(t).where(t.c.seq.in_([row.seq for row in rows])).values(published_at=at)
        )

    async def pending(self) -> tuple[int, float | None]:
        """Unpublished rows and the creation time of the oldest (for the lag gauge)."""
        t = self.table
        query = select(func.count(), func.min(t.c.created_at)).where(t.c.published_at.is_(None))
        async with self.read_sessions() as session:
            count, oldest = (await session.execute(query)).one()
        return int(count), oldest

    async def purge(self, before: float) -> int:
        """Delete rows published before ``before``."""
        t = self.table
        async with self.sessions() as session, session.begin():
            result = await session.execute(delete(t).where(t.c.published_at < before))
            return rowcount(result)


def _outbox_row(row: Any) -> OutboxRow:
    return OutboxRow(
        seq=row.seq,
        message_id=row.message_id,
        topic=row.topic,
        key=row.key,
        data=bytes(row.data),
        created_at=row.created_at,
    )
