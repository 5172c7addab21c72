"""Composition root: Settings -> adapters -> Container. Nothing here runs at import time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bazaar.infra.db import Database, create_database
from bazaar.infra.db.engine import PoolConfig
from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.observability.metrics import Metrics
from bazaar.settings import Settings

__all__ = ["Container", "Lifecycle", "build_container"]


@dataclass(slots=True)
class Lifecycle:
    """Process state seen by the edge: draining makes /readyz answer 503."""

    draining: bool = False
    drained: asyncio.Event = field(default_factory=asyncio.Event)

    def begin_drain(self) -> None:
        self.draining = True


@dataclass(slots=True)
class Container:
    """Everything a process needs, built once by ``build_container`` and closed by ``aclose``."""

    settings: Settings
    clock: Clock
    database: Database
    metrics: Metrics
    lifecycle: Lifecycle
    # --- contexts (wired below) ---
    # identity: IdentityService

    async def aclose(self) -> None:
        await self.database.dispose()


def database_pool_config(settings: Settings) -> PoolConfig:
    db = settings.database
    return PoolConfig(
        pool_size=db.pool_size,
        max_overflow=db.max_overflow,
        pool_timeout_s=db.pool_timeout_s,
        statement_timeout_s=db.statement_timeout_s,
        sqlite_busy_timeout_ms=db.sqlite_busy_timeout_ms,
        echo=db.echo,
    )


async def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    """Build the adapters the settings name and wire the contexts to them.

    Args:
        settings: the effective settings.
        clock: the time source; tests pass a ``ManualClock``.
    """
    clock = clock or SystemClock()
    database = create_database(settings.effective_database_url, database_pool_config(settings))
    metrics = Metrics()
    return Container(
        settings=settings,
        clock=clock,
        database=database,
        metrics=metrics,
        lifecycle=Lifecycle(),
    )
