"""Messaging tables of their own for one test (tests share the session's PostgreSQL database)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from bazaar.kernel.jobs.sqlalchemy import cron_run_table
from bazaar.kernel.locks.sqlalchemy import lease_table
from bazaar.kernel.messaging.sqlalchemy import dead_letter_table, inbox_table, outbox_table

__all__ = ["MessagingTables", "scratch_messaging_tables"]


@dataclass(frozen=True, slots=True)
class MessagingTables:
    outbox: Table
    inbox: Table
    dead_letters: Table
    leases: Table
    cron_runs: Table


@asynccontextmanager
async def scratch_messaging_tables(engine: AsyncEngine) -> AsyncIterator[MessagingTables]:
    """Create uniquely named messaging tables, yield them, drop them."""
    suffix = uuid.uuid4().hex[:10]
    metadata = MetaData()
    tables = MessagingTables(
        outbox=outbox_table(metadata, f"outbox_{suffix}"),
        inbox=inbox_table(metadata, f"inbox_{suffix}"),
        dead_letters=dead_letter_table(metadata, f"dead_letters_{suffix}"),
        leases=lease_table(metadata, f"leases_{suffix}"),
        cron_runs=cron_run_table(metadata, f"cron_runs_{suffix}"),
    )
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield tables
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
