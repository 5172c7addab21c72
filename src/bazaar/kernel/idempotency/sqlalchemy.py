"""Key records in a SQL table (SQLite and PostgreSQL), inside the caller's transaction."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kernel.idempotency.errors import IdempotencyLockLostError
from bazaar.kernel.idempotency.model import (
    Claim,
    Decision,
    IdempotencyConfig,
    KeyRecord,
    KeyState,
    StoredResponse,
    decide,
)
from bazaar.kernel.sql import insert_for, rowcount

__all__ = ["SqlIdempotencyRecords", "idempotency_table"]


def idempotency_table(metadata: MetaData, name: str = "idempotency_keys") -> Table:
    """The table of key records; times are epoch seconds (the kernel's clock unit)."""
    return Table(
        name,
        metadata,
        Column("scope", String(128), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("state", String(16), nullable=False),
        Column("lock_token", String(32), nullable=False),
        Column("locked_until", Float, nullable=False),
        Column("expires_at", Float, nullable=False, index=True),
        Column("response_status", Integer, nullable=True),
        Column("response_headers", Text, nullable=True),
        Column("response_body", LargeBinary, nullable=True),
    )


class SqlIdempotencyRecords:
    """``IdempotencyRecords`` on one ``AsyncSession``; the caller owns the transaction.

    Claiming is an ``INSERT … ON CONFLICT DO NOTHING``: of concurrent first requests exactly
    one inserts, the others read its row and answer 409 (or replay once it completed).
    Taking over a stale or expired key is a compare-and-set on the old lock token.
    """

    def __init__(
        self, session: AsyncSession, table: Table, config: IdempotencyConfig | None = None
    ) -> None:
        self.session = session
        self.table = table
        self.config = config or IdempotencyConfig()

    def _insert(self) -> Any:
        return insert_for(self.session, self.table)

    def _in_flight_values(self, fingerprint: str, token: str, now: float) -> dict[str, Any]:
        return {
            "fingerprint": fingerprint,
            "state": KeyState.IN_FLIGHT.value,
            "lock_token": token,
            "locked_until": now + self.config.lock_s,
            "expires_at": now + self.config.ttl_s,
            "response_status": None,
            "response_headers": None,
            "response_body": None,
        }

    async def claim(self, scope: str, key: str, fingerprint: str, now: float) -> Claim:
        t = self.table
        token = secrets.token_hex(16)
        values = {"scope": scope, "key": key, **self._in_flight_values(fingerprint, token, now)}
        inserted = await self.session.execute(
            self._insert().values(**values).on_conflict_do_nothing(index_elements=["scope", "key"])
        )
        if rowcount(inserted) == 1:
            return Claim(Decision.PROCEED, lock_token=token)
        row = (
            await self.session.execute(select(t).where(t.c.scope == scope, t.c.key == key))
        ).one_or_none()
        if row is None:  # purged between the insert and the read: claim again
            return await self.claim(scope, key, fingerprint, now)
        existing = _record(row._mapping)
        decision = decide(existing, fingerprint, now)
        if decision is Decision.PROCEED:
            taken = await self.session.execute(
                update(t)
                .where(t.c.scope == scope, t.c.key == key, t.c.lock_token == existing.lock_token)
                .values(**self._in_flight_values(fingerprint, token, now))
            )
            if rowcount(taken) == 1:
                return Claim(Decision.PROCEED, lock_token=token)
            return Claim(Decision.IN_FLIGHT, retry_after_s=1.0)
        if decision is Decision.REPLAY:
            return Claim(decision, response=existing.response)
        if decision is Decision.IN_FLIGHT:
            return Claim(decision, retry_after_s=max(0.0, existing.locked_until - now))
        return Claim(decision)

    async def peek(self, scope: str, key: str, fingerprint: str, now: float) -> Claim:
        """A read-only ``claim``: safe on a read-only session (a replica, SQLite's reader)."""
        t = self.table
        row = (
            await self.session.execute(select(t).where(t.c.scope == scope, t.c.key == key))
        ).one_or_none()
        existing = None if row is None else _record(row._mapping)
        decision = decide(existing, fingerprint, now)
        if decision is Decision.REPLAY and existing is not None:
            return Claim(decision, response=existing.response)
        if decision is Decision.IN_FLIGHT and existing is not None:
            return Claim(decision, retry_after_s=max(0.0, existing.locked_until - now))
        return Claim(decision)

    async def complete(
        self, scope: str, key: str, lock_token: str, response: StoredResponse, now: float
    ) -> None:
        t = self.table
        result = await self.session.execute(
            update(t)
            .where(t.c.scope == scope, t.c.key == key, t.c.lock_token == lock_token)
            .values(
                state=KeyState.COMPLETED.value,
                locked_until=now,
                response_status=response.status,
                response_headers=orjson.dumps(response.headers).decode(),
                response_body=response.body,
            )
        )
        if rowcount(result) != 1:
            raise IdempotencyLockLostError(scope, key)

    async def release(self, scope: str, key: str, lock_token: str) -> None:
        t = self.table
        await self.session.execute(
            delete(t).where(
                t.c.scope == scope,
                t.c.key == key,
                t.c.lock_token == lock_token,
                t.c.state == KeyState.IN_FLIGHT.value,
            )
        )

    async def purge_expired(self, now: float) -> int:
        """Delete records past their expiry; returns how many went."""
        result = await self.session.execute(
            delete(self.table).where(self.table.c.expires_at <= now)
        )
        return rowcount(result)


def _record(row: Any) -> KeyRecord:
    response = None
    if row["state"] == KeyState.COMPLETED.value:
        response = StoredResponse(
            status=int(row["response_status"]),
            body=bytes(row["response_body"] or b""),
            headers=orjson.loads(row["response_headers"] or "{}"),
        )
    return KeyRecord(
        scope=row["scope"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        state=KeyState(row["state"]),
        lock_token=row["lock_token"],
        locked_until=float(row["locked_until"]),
        expires_at=float(row["expires_at"]),
        response=response,
    )
