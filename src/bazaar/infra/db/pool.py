"""The connection pool, observed (capabilities §10.2, USE): utilization, saturation, errors.

``ObservedQueuePool`` is SQLAlchemy's asyncio queue pool that times every checkout (how
long a caller waited for a connection, a new connection's connect time included) and
counts the callers waiting; ``pool_stats`` reads how many connections are in use. The
composition root turns both into metrics (``bazaar_db_pool_*``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, Pool

__all__ = ["ObservedQueuePool", "PoolStats", "PoolWaited", "observe_pools", "pool_stats"]


@dataclass(frozen=True, slots=True)
class PoolWaited:
    """A caller got a connection after ``seconds``, or gave up (``timed_out``)."""

    pool: str
    seconds: float
    timed_out: bool


PoolObserver = Callable[[PoolWaited], None]


@dataclass(frozen=True, slots=True)
class PoolStats:
    pool: str
    max_connections: int
    in_use: int
    idle: int
    waiting: int


class ObservedQueuePool(AsyncAdaptedQueuePool):
    """An asyncio queue pool that reports each checkout's wait to its ``observer``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = "primary"
        self.observer: PoolObserver | None = None
        self.waiting = 0

    def _do_get(self) -> ConnectionPoolEntry:
        started = time.perf_counter()
        self.waiting += 1
        timed_out = False
        try:
            return super()._do_get()
        except exc.TimeoutError:
            timed_out = True
            raise
        finally:
            self.waiting -= 1
            if self.observer is not None:
                self.observer(PoolWaited(self.name, time.perf_counter() - started, timed_out))

    def recreate(self) -> ObservedQueuePool:
        # ``engine.dispose()`` replaces the pool with a copy: keep its name and observer.
        new = super().recreate()
        assert isinstance(new, ObservedQueuePool)
        new.name, new.observer = self.name, self.observer
        return new


def _named_pools(engines: dict[str, AsyncEngine]) -> list[ObservedQueuePool]:
    pools: list[ObservedQueuePool] = []
    for name, engine in engines.items():
        pool: Pool = engine.pool
        if isinstance(pool, ObservedQueuePool) and pool not in pools:
            pool.name = name
            pools.append(pool)
    return pools


def observe_pools(engines: dict[str, AsyncEngine], observer: PoolObserver) -> None:
    """Name each engine's pool (``primary``, ``read``) and report its checkouts to
    ``observer``. Engines without a queue pool (PgBouncer's NullPool) are skipped."""
    for pool in _named_pools(engines):
        pool.observer = observer


def pool_stats(engines: dict[str, AsyncEngine]) -> list[PoolStats]:
    """How many connections each pool holds in use and idle, and how many callers wait."""
    return [
        PoolStats(
            pool=pool.name,
            max_connections=pool.size() + max(0, pool._max_overflow),
            in_use=pool.checkedout(),
            idle=pool.checkedin(),
            waiting=pool.waiting,
        )
        for pool in _named_pools(engines)
    ]
