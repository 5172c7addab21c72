"""Cron tick claims in a SQL table: the primary key lets exactly one worker win each tick."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, MetaData, String, Table, delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.kernel.sql import insert_for, rowcount

__all__ = ["SqlCronClaims", "cron_run_table"]


def cron_run_table(metadata: MetaData, name: str = "cron_runs") -> Table:
    """One row per (schedule, tick): the primary key makes each tick run once (§6.6)."""
    return Table(
        name,
        metadata,
        Column("name", String(200), primary_key=True),
        Column("tick", BigInteger, primary_key=True, autoincrement=False),
        Column("holder", String(200), nullable=False),
        Column("claimed_at", Float, nullable=False, index=True),
    )


class SqlCronClaims:
    """``CronClaims`` as ``INSERT … ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], table: Table) -> None:
        self.sessions = sessions
        self.table = table

    async def claim(self, name: str, tick: int, holder: str, now: float) -> bool:
        async with self.sessions() as session, session.begin():
            statement = (
                insert_for(session, self.table)
                .values(name=name, tick=tick, holder=holder, claimed_at=now)
                .on_conflict_do_nothing(index_elements=["name", "tick"])
            )
            result = await session.execute(statement)
            return rowcount(result) == 1

    async def purge(self, before: float) -> int:
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                delete(self.table).where(self.table.c.claimed_at < before)
            )
            return rowcount(result)
