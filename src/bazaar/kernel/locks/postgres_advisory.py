"""PostgreSQL session-level advisory locks: leadership held by a dedicated connection, no TTL."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.locks.errors import LeaseStoreError

__all__ = ["PgAdvisoryLock", "advisory_key"]


def advisory_key(name: str) -> int:
    """The signed 64-bit key ``pg_try_advisory_lock`` takes, derived from a lock name.

    BLAKE2b truncated to 8 bytes: stable across processes and versions (unlike ``hash()``),
    and two names collide with probability ~2^-64 per pair.
    """
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PgAdvisoryLock:
    """``pg_try_advisory_lock`` on a connection this object keeps while it leads.

    The lock belongs to the database session, so it lasts exactly as long as the
    connection: there is no TTL to renew, and a crashed holder's lock goes when PostgreSQL
    notices the session ended (at once for a process exit; after the TCP keepalive
    timeouts for a vanished host). Between checks, ``verify()`` tells whether the
    connection, and so the lock, is still there.

    No fencing token is offered: the lock has no counter, and a holder cut off from the
    database cannot know when its session was reaped. Where a paused leader could do harm,
    use ``SqlLeaseStore`` (or ``RedisLeaseStore``), whose leases carry tokens. Session
    locks do not work through PgBouncer in transaction mode (the session is not yours).
    """

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        """Prepare a lock; nothing is connected until ``try_acquire``.

        Args:
            engine: A PostgreSQL engine; one of its connections is held while leading.
            name: The lock's name; the key is ``advisory_key(name)``.

        Raises:
            ConfigurationError: If the engine is not PostgreSQL.
        """
        if engine.dialect.name != "postgresql":
            raise ConfigurationError(
                "engine", f"advisory locks need PostgreSQL, got {engine.dialect.name}"
            )
        self._engine = engine
        self._name = name
        self._key = advisory_key(name)
        self._conn: AsyncConnection | None = None

    @property
    def name(self) -> str:
        """The lock's name."""
        return self._name

    @property
    def key(self) -> int:
        """The advisory lock key."""
        return self._key

    @property
    def held(self) -> bool:
        """Whether this object holds the lock (as of the last call)."""
        return self._conn is not None

    async def try_acquire(self) -> bool:
        """Take the lock if free, keeping the connection that holds it.

        Returns:
            True if held now (also when it already was), False if another session holds it.

        Raises:
            LeaseStoreError: If the database fails.
        """
        if self._conn is not None:
            return True
        try:
            conn = await self._engine.connect()
        except (SQLAlchemyError, OSError) as exc:
            raise LeaseStoreError(self._name, "acquire") from exc
        try:
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key})
            # End the implicit transaction: the session-level lock survives it, and an
            # "idle in transaction" connection would hold back vacuum and hit timeouts.
            await conn.commit()
        except (SQLAlchemyError, OSError) as exc:
            await _discard(conn)
            raise LeaseStoreError(self._name, "acquire") from exc
        if got:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def verify(self) -> bool:
        """Check that the holding connection is alive; forget the lock if it is not.

        Returns:
            Whether the lock is still held.
        """
        conn = self._conn
        if conn is None:
            return False
        try:
            held = await conn.scalar(
                # A bigint key shows in pg_locks as its high half (classid) and low half
                # (objid), with objsubid 1; the shift wraps to the signed key.
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": self._key},
            )
            await conn.commit()
        except (SQLAlchemyError, OSError):
            self._conn = None
            await _discard(conn)
            return False
        if not held:
            self._conn = None
            await _discard(conn)
            return False
        return True

    async def release(self) -> None:
        """Unlock and give the connection back; a no-op when not held.

        If the unlock fails, the connection is closed instead of pooled, which ends the
        session and with it the lock.
        """
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            await conn.commit()
        except (SQLAlchemyError, OSError):
            await _discard(conn)
            return
        await conn.close()


async def _discard(conn: AsyncConnection) -> None:
    # Invalidate rather than return to the pool: closing the DBAPI connection ends the
    # session, so no pooled connection can carry a forgotten advisory lock.
    try:
        await conn.invalidate()
        await conn.close()
    except (SQLAlchemyError, OSError):
        pass
