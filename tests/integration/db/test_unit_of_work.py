"""The engine factory and the unit of work on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import BigInteger, Column, MetaData, String, Table, func, insert, select, update

from bazaar.infra.db import (
    Database,
    SqlAlchemyUnitOfWork,
    UnsupportedDatabaseError,
    create_database,
)


def scratch_table() -> Table:
    # A table per test: tests share the session's PostgreSQL database and must not collide.
    return Table(
        f"uow_probe_{uuid.uuid4().hex[:12]}",
        MetaData(),
        Column("id", BigInteger, primary_key=True),
        Column("name", String(50), nullable=False),
    )


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'uow.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = create_database(url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def table(database: Database) -> AsyncIterator[Table]:
    probe = scratch_table()
    async with database.engine.begin() as conn:
        await conn.run_sync(probe.create)
    try:
        yield probe
    finally:
        async with database.engine.begin() as conn:
            await conn.run_sync(probe.drop)


async def count(database: Database, table: Table) -> int:
    async with database.read_sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


class TestSqlAlchemyUnitOfWork:
    async def test_rolls_back_uncommitted_work_by_default(
        self, database: Database, table: Table
    ) -> None:
        async with SqlAlchemyUnitOfWork(database.sessions) as uow:
            await uow.session.execute(insert(table).values(id=1, name="never"))
        assert await count(database, table) == 0

    async def test_commit_makes_work_visible(self, database: Database, table: Table) -> None:
        async with SqlAlchemyUnitOfWork(database.sessions) as uow:
            await uow.session.execute(insert(table).values(id=1, name="kept"))
            await uow.commit()
        assert uow.committed
        assert await count(database, table) == 1

    async def test_an_exception_rolls_back_everything_written(
        self, database: Database, table: Table
    ) -> None:
        with pytest.raises(RuntimeError, match="half-way"):
            async with SqlAlchemyUnitOfWork(database.sessions) as uow:
                await uow.session.execute(insert(table).values(id=1, name="a"))
                await uow.session.execute(insert(table).values(id=2, name="b"))
                raise RuntimeError("failed half-way")
        assert await count(database, table) == 0

    async def test_using_the_session_outside_the_block_is_refused(self, database: Database) -> None:
        uow = SqlAlchemyUnitOfWork(database.sessions)
        with pytest.raises(RuntimeError, match="outside"):
            _ = uow.session

    async def test_concurrent_read_then_write_transactions_all_commit(
        self, database: Database, table: Table
    ) -> None:
        # The SQLite writer begins IMMEDIATE, so read-then-write transactions queue for the
        # lock instead of failing with SQLITE_BUSY; on PostgreSQL row locks do the same.
        async with SqlAlchemyUnitOfWork(database.sessions) as uow:
            await uow.session.execute(insert(table).values(id=1, name="0"))
            await uow.commit()

        async def increment() -> None:
            async with SqlAlchemyUnitOfWork(database.sessions) as uow:
                row = (
                    await uow.session.execute(
                        select(table.c.name).where(table.c.id == 1).with_for_update()
                    )
                ).scalar_one()
                await asyncio.sleep(0)
                await uow.session.execute(
                    update(table).where(table.c.id == 1).values(name=str(int(row) + 1))
                )
                await uow.commit()

        await asyncio.gather(*(increment() for _ in range(10)))
        async with database.read_sessions() as session:
            value = (await session.execute(select(table.c.name))).scalar_one()
        assert value == "10"


class TestSqliteReadEngine:
    async def test_the_read_engine_cannot_write(self, tmp_path: Path) -> None:
        database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'ro.db'}")
        probe = scratch_table()
        try:
            async with database.engine.begin() as conn:
                await conn.run_sync(probe.create)
            async with database.read_sessions() as session:
                with pytest.raises(Exception, match="readonly"):
                    await session.execute(insert(probe).values(id=5, name="x"))
        finally:
            await database.dispose()


class TestCreateDatabase:
    def test_refuses_an_unknown_scheme(self) -> None:
        with pytest.raises(UnsupportedDatabaseError) as info:
            create_database("mysql+aiomysql://db/x")
        assert info.value.scheme == "mysql+aiomysql"

    async def test_ping_succeeds_on_a_live_database(self, database: Database) -> None:
        await database.ping()
