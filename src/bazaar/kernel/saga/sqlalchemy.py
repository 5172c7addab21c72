"""The saga log on SQL (SQLite and PostgreSQL): one row per saga, its steps as JSON.

One row per saga keeps each step's log write to a single UPDATE, checked by version, in the
transaction of the step's local effect. The table is declared by a factory, so the
composition's ``MetaData`` owns it; the migration spells it out.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kernel.saga.codec import record_of, row_values
from bazaar.kernel.saga.errors import SagaConflictError
from bazaar.kernel.saga.model import SagaRecord, SagaState
from bazaar.kernel.sql import rowcount

__all__ = ["SqlSagaLog", "saga_table", "stale_sagas"]

_UNFINISHED = (SagaState.RUNNING.value, SagaState.COMPENSATING.value)


def saga_table(metadata: MetaData, name: str = "sagas") -> Table:
    return Table(
        name,
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("name", String(64), nullable=False),
        Column("tenant_id", BigInteger, nullable=False),
        Column("state", String(20), nullable=False),
        Column("steps", Text, nullable=False),
        Column("data", Text, nullable=False),
        Column("failure_reason", String(200), nullable=True),
        Column("attention_reason", String(600), nullable=True),
        Column("cancel_reason", String(200), nullable=True),
        Column("next_attempt_at", Float, nullable=True),
        Column("version", Integer, nullable=False),
        Column("owner", String(128), nullable=True),
        Column("lease_until", Float, nullable=False),
        Column("created_at", Float, nullable=False),
        Column("updated_at", Float, nullable=False),
        # The recovery sweep: unfinished sagas whose lease ran out.
        Index(f"ix_{name}_state_lease", "state", "lease_until"),
    )


class SqlSagaLog:
    """``SagaLog`` on an open session (the caller's unit of work commits)."""

    def __init__(self, session: AsyncSession, table: Table) -> None:
        self._session = session
        self._table = table

    async def insert(
        self, saga: SagaRecord, *, owner: str | None, lease_until: float
    ) -> SagaRecord:
        if saga.version != 0:
            raise ValueError(f"saga {saga.id} is stored already (version {saga.version})")
        await self._session.execute(
            insert(self._table).values(
                id=saga.id, version=1, owner=owner, lease_until=lease_until, **row_values(saga)
            )
        )
        return _at_version(saga, 1)

    async def save(self, saga: SagaRecord, *, owner: str, lease_until: float) -> SagaRecord:
        table = self._table
        result = await self._session.execute(
            update(table)
            .where(table.c.id == saga.id, table.c.version == saga.version)
            .values(
                version=saga.version + 1,
                owner=owner,
                lease_until=lease_until,
                **row_values(saga),
            )
        )
        if rowcount(result) != 1:
            raise SagaConflictError(saga.id, saga.version)
        return _at_version(saga, saga.version + 1)

    async def update(self, saga: SagaRecord) -> SagaRecord:
        table = self._table
        result = await self._session.execute(
            update(table)
            .where(table.c.id == saga.id, table.c.version == saga.version)
            .values(version=saga.version + 1, **row_values(saga))
        )
        if rowcount(result) != 1:
            raise SagaConflictError(saga.id, saga.version)
        return _at_version(saga, saga.version + 1)

    async def get(self, saga_id: int) -> SagaRecord | None:
        row = (
            (await self._session.execute(select(self._table).where(self._table.c.id == saga_id)))
            .mappings()
            .first()
        )
        return None if row is None else record_of(row)

    async def claim(self, saga_id: int, *, owner: str, now: float, lease_until: float) -> bool:
        table = self._table
        result = await self._session.execute(
            update(table)
            .where(
                table.c.id == saga_id,
                table.c.state.in_(_UNFINISHED),
                or_(table.c.owner.is_(None), table.c.owner == owner, table.c.lease_until < now),
            )
            # The version moves too: a runner that lost its lease can no longer write.
            .values(owner=owner, lease_until=lease_until, version=table.c.version + 1)
        )
        return rowcount(result) == 1

    async def release(self, saga_id: int, *, owner: str) -> None:
        table = self._table
        await self._session.execute(
            update(table)
            .where(table.c.id == saga_id, table.c.owner == owner)
            .values(owner=None, lease_until=0.0)
        )

    async def stale(self, *, now: float, limit: int) -> list[int]:
        rows = await self._session.execute(stale_sagas(self._table, now=now, limit=limit))
        return [int(saga_id) for saga_id in rows.scalars()]


def stale_sagas(table: Table, *, now: float, limit: int) -> Select[Any]:
    """Unfinished sagas whose lease ran out, oldest lease first (``ix_<table>_state_lease``)."""
    return (
        select(table.c.id)
        .where(table.c.state.in_(_UNFINISHED), table.c.lease_until < now)
        # The id breaks ties, as the in-memory log does: sagas started in one batch share
        # a lease expiry, and a limited sweep must take them in a stable order.
        .order_by(table.c.lease_until, table.c.id)
        .limit(limit)
    )


def _at_version(saga: SagaRecord, version: int) -> SagaRecord:
    return replace(saga, version=version)
