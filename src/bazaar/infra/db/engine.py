"""Async SQLAlchemy engines chosen by URL scheme, with each engine's pragmas and pool settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from bazaar.infra.db.errors import DatabaseUnavailableError, UnsupportedDatabaseError
from bazaar.infra.db.pool import ObservedQueuePool
from bazaar.infra.db.tracing import trace_statements

__all__ = ["Database", "PoolConfig", "create_database"]


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """Pool and timeout settings of one engine."""

    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout_s: float = 5.0
    statement_timeout_s: float = 5.0
    sqlite_busy_timeout_ms: int = 5000
    echo: bool = False


@dataclass(slots=True)
class Database:
    """The primary engine (writes), the engine for reads, their session factories.

    On SQLite the read engine is a second, read-only pool over the same file (WAL readers
    never block the writer); on PostgreSQL it is the primary until replicas are configured.
    """

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    read_engine: AsyncEngine
    read_sessions: async_sessionmaker[AsyncSession]
    dialect: str

    async def ping(self) -> None:
        """One round trip; the readiness check.

        Raises:
            DatabaseUnavailableError: the database did not answer.
        """
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "not ready"; the reason is reported
            raise DatabaseUnavailableError(type(exc).__name__) from exc

    @property
    def engines(self) -> dict[str, AsyncEngine]:
        """The engines by pool name: ``primary`` (writes) and, when separate, ``read``."""
        if self.read_engine is self.engine:
            return {"primary": self.engine}
        return {"primary": self.engine, "read": self.read_engine}

    async def dispose(self) -> None:
        for engine in self.engines.values():
            await engine.dispose()


def _session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def _single_engine(engine: AsyncEngine) -> Database:
    sessions = _session_factory(engine)
    return Database(
        engine=engine,
        sessions=sessions,
        read_engine=engine,
        read_sessions=sessions,
        dialect=engine.dialect.name,
    )


def _sqlite_engine(url: str, pool: PoolConfig, *, writer: bool) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        echo=pool.echo,
        # SQLite has one writer at a time. Several writer connections would contend for the
        # lock inside SQLite, whose busy handler polls with sleeps of up to 100 ms: p99 of
        # a write burst goes to seconds. One writer connection makes writers queue in the
        # pool instead (an asyncio wait, FIFO, woken the moment the writer is free).
        # Readers get a small pool: one aiosqlite connection is one thread.
        poolclass=ObservedQueuePool,
        pool_size=1 if writer else max(1, min(pool.pool_size, 8)),
        max_overflow=0,
        pool_timeout=pool.pool_timeout_s,
        # Readers never open a transaction (pysqlite starts none for SELECT), so the ROLLBACK
        # the pool sends on every return would only cost another trip to aiosqlite's thread.
        pool_reset_on_return="rollback" if writer else None,
        connect_args={"timeout": pool.sqlite_busy_timeout_ms / 1000},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        if writer:
            # Take over BEGIN from pysqlite, which would issue a deferred BEGIN lazily.
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the writer; NORMAL is durable across process crashes
        # in WAL mode (https://sqlite.org/pragma.html#pragma_synchronous); foreign keys are
        # off by default in SQLite and must be switched on per connection.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(pool.sqlite_busy_timeout_ms)}")
        if not writer:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    if writer:

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # A deferred transaction that reads and then writes fails at once with
            # SQLITE_BUSY_SNAPSHOT when another writer committed in between; the busy
            # timeout does not help there. Writers therefore take the lock up front and
            # queue on the busy timeout. Readers keep pysqlite's default, which opens no
            # transaction for SELECTs at all: each statement reads a consistent snapshot
            # and costs no extra BEGIN/ROLLBACK round trips through aiosqlite's thread.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _sqlite_database(url: str, pool: PoolConfig) -> Database:
    writer = _sqlite_engine(url, pool, writer=True)
    reader = _sqlite_engine(url, pool, writer=False)
    return Database(
        engine=writer,
        sessions=_session_factory(writer),
        read_engine=reader,
        read_sessions=_session_factory(reader),
        dialect="sqlite",
    )


def _postgres_database(url: str, pool: PoolConfig) -> Database:
    statement_timeout_ms = int(pool.statement_timeout_s * 1000)
    engine = create_async_engine(
        url,
        echo=pool.echo,
        poolclass=ObservedQueuePool,
        pool_size=pool.pool_size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.pool_timeout_s,
        pool_pre_ping=False,
        connect_args={
            "timeout": pool.pool_timeout_s,
            "command_timeout": pool.statement_timeout_s,
            "server_settings": {
                "statement_timeout": str(statement_timeout_ms),
                "lock_timeout": str(min(statement_timeout_ms, 2000)),
                "application_name": "bazaar",
            },
        },
    )
    return _single_engine(engine)


def _pgbouncer_database(url: str, pool: PoolConfig) -> Database:
    # PgBouncer in transaction mode owns the pool: no client-side pool, and no prepared
    # statement cache (statements would land on other server connections).
    engine = create_async_engine(
        url.replace("postgresql+asyncpg+pgbouncer://", "postgresql+asyncpg://"),
        echo=pool.echo,
        poolclass=NullPool,
        connect_args={"statement_cache_size": 0, "prepared_statement_cache_size": 0},
    )
    return _single_engine(engine)


DATABASE_FACTORIES: dict[str, Callable[[str, PoolConfig], Database]] = {
    "sqlite+aiosqlite": _sqlite_database,
    "postgresql+asyncpg": _postgres_database,
    "postgresql+asyncpg+pgbouncer": _pgbouncer_database,
}


def create_database(url: str, pool: PoolConfig | None = None) -> Database:
    """Build the engine for ``url`` by its scheme.

    Args:
        url: a SQLAlchemy URL, ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``.
        pool: pool and timeout settings.

    Returns:
        The database handle; nothing is connected until first use.

    Raises:
        UnsupportedDatabaseError: the scheme has no factory.
    """
    scheme = url.split("://", 1)[0]
    factory = DATABASE_FACTORIES.get(scheme)
    if factory is None:
        raise UnsupportedDatabaseError(scheme, tuple(DATABASE_FACTORIES))
    database = factory(url, pool or PoolConfig())
    for engine in database.engines.values():
        trace_statements(engine.sync_engine, database.dialect)
    return database
