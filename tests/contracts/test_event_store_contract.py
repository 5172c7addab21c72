"""Every event store adapter passes the one contract, on its real engine; SQL-only behaviour
(the caller's transaction) below."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import MetaData

from bazaar.infra.db import Database, create_database
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.eventstore import (
    DuplicateEventError,
    InMemoryEventStore,
    NewEvent,
    WrongExpectedVersionError,
)
from bazaar.kernel.eventstore.sqlalchemy import (
    EventStoreTables,
    SqlEventStore,
    event_store_tables,
)
from bazaar.testing.contracts.eventstore import (
    CONTRACT_START,
    EventStoreContract,
    StoreFactory,
    StoreUnderTest,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=CONTRACT_START)


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, clock: ManualClock) -> StoreFactory:
        shared = InMemoryEventStore(clock)

        @asynccontextmanager
        async def transaction() -> AsyncIterator[StoreUnderTest]:
            yield shared

        return transaction


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = create_database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def tables(database: Database) -> AsyncIterator[EventStoreTables]:
    # Tables of the test's own: the contract never meets another test's rows.
    metadata = MetaData()
    made = event_store_tables(metadata, prefix=f"es_contract_{uuid.uuid4().hex[:8]}")
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield made
    finally:
        async with database.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)


class TestSqlEventStore(EventStoreContract):
    @pytest.fixture
    def store(
        self, database: Database, tables: EventStoreTables, clock: ManualClock
    ) -> StoreFactory:
        @asynccontextmanager
        async def transaction() -> AsyncIterator[StoreUnderTest]:
            async with database.sessions() as session, session.begin():
                yield SqlEventStore(session, tables, clock)

        return transaction


class TestSqlEventStoreInTheCallersTransaction:
    async def test_events_of_a_rolled_back_transaction_are_not_stored(
        self, database: Database, tables: EventStoreTables
    ) -> None:
        async with database.sessions() as session, session.begin():
            await SqlEventStore(session, tables).append(
                "s", [NewEvent("e1", "Deposited", {"amount": 1})], expected_version=0
            )
            await session.rollback()
        async with database.sessions() as session, session.begin():
            assert await SqlEventStore(session, tables).stream_version("s") == 0

    async def test_a_refused_append_leaves_the_transaction_usable(
        self, database: Database, tables: EventStoreTables
    ) -> None:
        async with database.sessions() as session, session.begin():
            store = SqlEventStore(session, tables)
            await store.append("s", [NewEvent("e1", "Deposited", {})], expected_version=0)
        async with database.sessions() as session, session.begin():
            store = SqlEventStore(session, tables)
            with pytest.raises(WrongExpectedVersionError):
                await store.append("s", [NewEvent("e2", "Deposited", {})], expected_version=0)
            with pytest.raises(DuplicateEventError):  # refused by the table's constraint
                await store.append("s", [NewEvent("e1", "Deposited", {})], expected_version=1)
            await store.append("s", [NewEvent("e2", "Deposited", {})], expected_version=1)
        async with database.sessions() as session, session.begin():
            read = await SqlEventStore(session, tables).read_stream("s")
        assert [e.id for e in read] == ["e1", "e2"]

    async def test_a_writer_that_got_in_after_the_check_is_refused_by_the_constraint(
        self, database: Database, tables: EventStoreTables
    ) -> None:
        class StaleCheck(SqlEventStore):
            """Reads the version as it was before another writer's row landed."""

            async def stream_version(self, stream_id: str) -> int:
                self.stream_version = super().stream_version  # type: ignore[method-assign]
                return 0

        async with database.sessions() as session, session.begin():
            await SqlEventStore(session, tables).append(
                "s", [NewEvent("e1", "Deposited", {})], expected_version=0
            )
        async with database.sessions() as session, session.begin():
            with pytest.raises(WrongExpectedVersionError) as refused:
                await StaleCheck(session, tables).append(
                    "s", [NewEvent("e2", "Deposited", {})], expected_version=0
                )
            await session.rollback()  # PostgreSQL has aborted the transaction
        # SQLite can still read the version; PostgreSQL's aborted transaction cannot.
        assert refused.value.actual == (None if database.dialect == "postgresql" else 1)
        async with database.sessions() as session, session.begin():
            read = await SqlEventStore(session, tables).read_stream("s")
        assert [e.id for e in read] == ["e1"]
