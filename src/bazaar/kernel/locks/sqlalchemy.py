"""Leases in a SQL table (SQLite and PostgreSQL), each decision one short transaction of its own."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    MetaData,
    String,
    Table,
    and_,
    case,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.locks.errors import LeaseStoreError
from bazaar.kernel.locks.ports import Lease, validate_ttl
from bazaar.kernel.sql import insert_for_dialect

__all__ = ["SqlLeaseStore", "lease_table"]

_DIALECTS = ("sqlite", "postgresql")
# A released row keeps its token (the counter must survive) and gets an expiry long past,
# so no clock, however skewed, still reads it as held.
_RELEASED_AT = 0.0


def lease_table(metadata: MetaData, name: str = "leases") -> Table:
    """The table of leases: one row per lease name, kept forever (it carries the token counter).

    ``expires_at`` is epoch seconds, the kernel's clock unit.
    """
    return Table(
        name,
        metadata,
        Column("name", String(200), primary_key=True),
        Column("holder", String(200), nullable=False),
        Column("token", BigInteger, nullable=False),
        Column("expires_at", Float, nullable=False),
    )


class SqlLeaseStore:
    """``LeaseStore`` on a SQL table, for deployments without Redis (implements ``LeaseStore``).

    Every call is its own short transaction on ``engine``, never the caller's: a lease must
    outlive (and be independent of) any business transaction, and a lease row locked by a
    long transaction would stall every other candidate.

    Acquiring is one conditional ``UPDATE … WHERE name = :n AND (holder = :h OR expires_at
    <= :now)`` that bumps the token unless the same holder still held it, followed, when no
    row matched, by ``INSERT … ON CONFLICT DO NOTHING``. Both statements decide on the row
    itself, so concurrent candidates cannot both win: PostgreSQL re-checks the ``WHERE`` of
    a blocked ``UPDATE`` against the row version that blocked it (READ COMMITTED, "EvalPlanQual"),
    and the unique key makes all but one ``INSERT`` do nothing; SQLite runs one writer at a
    time.

    Time comes from the injected clock of each process, so the processes sharing a table
    must have clocks closer together than the lease's TTL; fencing tokens, not the clock,
    are what keep a late writer out.
    """

    def __init__(self, engine: AsyncEngine, table: Table, clock: Clock | None = None) -> None:
        """Create a store on the table ``lease_table()`` describes.

        Args:
            engine: The primary (writer) engine; each call checks out a connection briefly.
            table: The lease table.
            clock: Where ``now()`` comes from; the system clock by default.

        Raises:
            ConfigurationError: If the engine is neither SQLite nor PostgreSQL.
        """
        dialect = engine.dialect.name
        if dialect not in _DIALECTS:
            raise ConfigurationError("engine", f"leases need SQLite or PostgreSQL, got {dialect}")
        self._engine = engine
        self._table = table
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._dialect = dialect

    @property
    def table(self) -> Table:
        """The lease table this store writes."""
        return self._table

    async def acquire(self, name: str, holder: str, ttl_s: float) -> Lease | None:
        """See ``LeaseStore.acquire``.

        Raises:
            LeaseStoreError: If the database fails.
        """
        ttl_s = validate_ttl(ttl_s)
        t = self._table
        now = self._clock.now()
        expires_at = now + ttl_s
        still_mine = and_(t.c.holder == holder, t.c.expires_at > now)
        take_over = (
            update(t)
            .where(t.c.name == name, or_(t.c.holder == holder, t.c.expires_at <= now))
            # SET expressions read the row as it was before this UPDATE (standard SQL, and
            # SQLite), so ``still_mine`` sees the previous holder and expiry.
            .values(
                holder=holder,
                token=case((still_mine, t.c.token), else_=t.c.token + 1),
                expires_at=expires_at,
            )
            .returning(t.c.token)
        )
        first = (
            insert_for_dialect(self._dialect, t)
            .values(name=name, holder=holder, token=1, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=[t.c.name])
            .returning(t.c.token)
        )
        try:
            async with self._engine.begin() as conn:
                token = (await conn.execute(take_over)).scalar_one_or_none()
                if token is None:
                    token = (await conn.execute(first)).scalar_one_or_none()
        except (SQLAlchemyError, OSError) as exc:
            raise LeaseStoreError(name, "acquire") from exc
        if token is None:
            return None
        return Lease(name=name, holder=holder, token=int(token), expires_at=expires_at)

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """See ``LeaseStore.renew``.

        Raises:
            LeaseStoreError: If the database fails.
        """
        ttl_s = validate_ttl(ttl_s)
        t = self._table
        now = self._clock.now()
        expires_at = now + ttl_s
        extend = (
            update(t)
            .where(
                t.c.name == lease.name,
                t.c.holder == lease.holder,
                t.c.token == lease.token,
                t.c.expires_at > now,
            )
            .values(expires_at=expires_at)
            .returning(t.c.token)
        )
        try:
            async with self._engine.begin() as conn:
                token = (await conn.execute(extend)).scalar_one_or_none()
        except (SQLAlchemyError, OSError) as exc:
            raise LeaseStoreError(lease.name, "renew") from exc
        if token is None:
            return None
        return Lease(name=lease.name, holder=lease.holder, token=lease.token, expires_at=expires_at)

    async def release(self, lease: Lease) -> None:
        """See ``LeaseStore.release``.

        Raises:
            LeaseStoreError: If the database fails.
        """
        t = self._table
        give_up = (
            update(t)
            .where(t.c.name == lease.name, t.c.holder == lease.holder, t.c.token == lease.token)
            .values(expires_at=_RELEASED_AT)
        )
        try:
            async with self._engine.begin() as conn:
                await conn.execute(give_up)
        except (SQLAlchemyError, OSError) as exc:
            raise LeaseStoreError(lease.name, "release") from exc

    async def holder(self, name: str) -> Lease | None:
        """See ``LeaseStore.holder``.

        Raises:
            LeaseStoreError: If the database fails.
        """
        t = self._table
        now = self._clock.now()
        try:
            async with self._engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(t.c.holder, t.c.token, t.c.expires_at).where(t.c.name == name)
                    )
                ).one_or_none()
        except (SQLAlchemyError, OSError) as exc:
            raise LeaseStoreError(name, "read") from exc
        if row is None or float(row.expires_at) <= now:
            return None
        return Lease(
            name=name,
            holder=str(row.holder),
            token=int(row.token),
            expires_at=float(row.expires_at),
        )
