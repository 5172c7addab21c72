"""Every ``IdempotencyRecords`` adapter passes the one contract, on its real engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import MetaData

from bazaar.infra.db import Database, create_database
from bazaar.kernel.idempotency import IdempotencyRecords, InMemoryIdempotencyRecords
from bazaar.kernel.idempotency.sqlalchemy import SqlIdempotencyRecords, idempotency_table
from bazaar.testing.contracts.idempotency import (
    CONTRACT_CONFIG,
    IdempotencyRecordsContract,
    RecordsFactory,
)


class TestInMemoryIdempotencyRecords(IdempotencyRecordsContract):
    @pytest.fixture
    def records(self) -> RecordsFactory:
        shared = InMemoryIdempotencyRecords(CONTRACT_CONFIG)

        @asynccontextmanager
        async def transaction() -> AsyncIterator[IdempotencyRecords]:
            yield shared

        return transaction


class TestSqlIdempotencyRecords(IdempotencyRecordsContract):
    @pytest.fixture(params=["sqlite", "postgres"])
    async def database(
        self, request: pytest.FixtureRequest, tmp_path: Path
    ) -> AsyncIterator[Database]:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'idem.db'}"
        else:
            url = request.getfixturevalue("postgres_url")
        database = create_database(url)
        try:
            yield database
        finally:
            await database.dispose()

    @pytest.fixture
    async def records(self, database: Database) -> AsyncIterator[RecordsFactory]:
        # The migrated table is created by the identity/payments migrations; the contract
        # runs on a table of its own so it never collides with the app's rows.
        table = idempotency_table(MetaData(), name=f"idem_contract_{id(self)}")
        async with database.engine.begin() as conn:
            await conn.run_sync(table.create, checkfirst=True)

        @asynccontextmanager
        async def transaction() -> AsyncIterator[IdempotencyRecords]:
            async with database.sessions() as session, session.begin():
                yield SqlIdempotencyRecords(session, table, CONTRACT_CONFIG)

        try:
            yield transaction
        finally:
            async with database.engine.begin() as conn:
                await conn.run_sync(table.drop)
