"""Composition root: Settings -> adapters -> Container. Nothing here runs at import time."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from bazaar.contexts.identity import IdentityService, TenantCreationPolicy
from bazaar.contexts.identity.adapters import (
    Argon2PasswordHasher,
    AuditLogListener,
    JwtTokenCodec,
    SqlIdentityReadModel,
    SqlIdentityUnitOfWork,
)
from bazaar.contexts.identity.application.ports import PasswordHasher
from bazaar.contexts.payments import PaymentService
from bazaar.contexts.payments.adapters import (
    HttpPspClient,
    SqlPaymentsReadModel,
    SqlPaymentsUnitOfWork,
)
from bazaar.infra.db import Database, create_database
from bazaar.infra.db.engine import PoolConfig
from bazaar.infra.keys import load_keyring
from bazaar.kernel.breaker import (
    BreakerConfig,
    BreakerRegistry,
    BreakerStore,
    InMemoryBreakerStore,
    RedisBreakerStore,
)
from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.ids import MAX_WORKER_ID, SnowflakeGenerator
from bazaar.kernel.observability.listeners import MetricsListener
from bazaar.kernel.observability.metrics import Metrics
from bazaar.kernel.resilience import DependencyGuard, DependencyPolicy, DependencyRegistry
from bazaar.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "Container",
    "Lifecycle",
    "build_container",
    "build_identity_service",
    "build_payment_service",
]


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
    ids: SnowflakeGenerator
    breakers: BreakerRegistry
    dependencies: DependencyRegistry
    redis: Redis | None
    # --- contexts (wired below) ---
    identity: IdentityService
    payments: PaymentService

    async def aclose(self) -> None:
        await self.payments.aclose()
        await self.database.dispose()
        if self.redis is not None:
            await self.redis.aclose()

    async def refresh_gauges(self) -> None:
        """Set gauges that mirror shared state (a breaker another process opened)."""
        for snapshot in await self.breakers.snapshots():
            self.metrics.breaker_state.labels(snapshot.name).set(snapshot.state.gauge_value)


def snowflake_worker_id(settings: Settings) -> int:
    """The 10-bit worker id of this process's Snowflake ids.

    ``BAZAAR_WORKER_ID`` when set (give each process of a deployment its own); otherwise
    derived from the pid, which is unique among the live processes of one host — enough for
    ``bazaar up`` and ``bazaar api --workers N`` on one machine, not across machines.
    """
    if settings.worker_id is not None:
        return settings.worker_id
    return os.getpid() % (MAX_WORKER_ID + 1)


def _redis_client(url: str) -> Redis:
    # Imported only when Redis is configured: redis-py costs ~0.25 s of start-up.
    from redis.asyncio import Redis

    return Redis.from_url(url)


def breaker_config(settings: Settings) -> BreakerConfig:
    """The breaker thresholds of the settings (capabilities §4.3 defaults)."""
    breaker = settings.breaker
    return BreakerConfig(
        failure_rate_threshold=breaker.failure_rate,
        minimum_calls=breaker.min_calls,
        window_s=breaker.window_s,
        cooldown_s=breaker.cooldown_s,
    )


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


async def build_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
    psp_transport: httpx.AsyncBaseTransport | None = None,
) -> Container:
    """Build the adapters the settings name and wire the contexts to them.

    Args:
        settings: the effective settings.
        clock: the time source; tests pass a ``ManualClock``.
        psp_transport: carries the PSP client's requests instead of the network (tests pass
            an ``httpx.ASGITransport`` around the simulator); None talks to ``psp_url``.
    """
    clock = clock or SystemClock()
    database = create_database(settings.effective_database_url, database_pool_config(settings))
    metrics = Metrics()
    ids = SnowflakeGenerator(snowflake_worker_id(settings), clock)
    listener = MetricsListener(metrics)
    redis = _redis_client(settings.redis_url) if settings.redis_url else None
    # With Redis, every API process shares one view of each breaker (capabilities §4.3).
    breaker_store: BreakerStore = (
        RedisBreakerStore(redis) if redis is not None else InMemoryBreakerStore(clock)
    )
    breakers = BreakerRegistry(
        clock,
        store=breaker_store,
        listener=listener,
        default_config=breaker_config(settings),
    )
    dependencies = DependencyRegistry()
    dependencies.register(
        DependencyGuard(
            "psp",
            DependencyPolicy(
                timeout_s=settings.psp_timeout_s,
                max_concurrent=settings.psp_max_concurrent,
                max_queue=settings.psp_max_queue,
            ),
            breaker=breakers.get_or_create("psp"),
            clock=clock,
            listener=listener,
        )
    )
    identity = await build_identity_service(settings, clock, database, ids=ids)
    psp_guard = dependencies.get("psp")
    assert psp_guard is not None  # registered just above
    payments = build_payment_service(
        settings, clock, database, ids=ids, guard=psp_guard, psp_transport=psp_transport
    )
    return Container(
        settings=settings,
        clock=clock,
        database=database,
        metrics=metrics,
        lifecycle=Lifecycle(),
        ids=ids,
        breakers=breakers,
        dependencies=dependencies,
        redis=redis,
        identity=identity,
        payments=payments,
    )


async def build_identity_service(
    settings: Settings,
    clock: Clock,
    database: Database,
    *,
    ids: SnowflakeGenerator | None = None,
    passwords: PasswordHasher | None = None,
) -> IdentityService:
    """Identity on the database, with signing keys from the settings or the data dir.

    Args:
        settings: the effective settings (auth lifetimes, secrets, data dir, demo mode).
        clock: the time source of tokens and timestamps.
        database: where identity's tables live (migrated by the caller).
        ids: the process's id generator (one per process, so ids never collide).
        passwords: the password hasher; argon2id with RFC 9106 parameters by default
            (tests pass cheaper parameters, since each default hash costs ~0.3 s of CPU).
    """
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    operator_key = settings.operator_key.get_secret_value() if settings.operator_key else None
    # Key files are read (or generated, under a file lock) off the event loop.
    keyring = await asyncio.to_thread(
        load_keyring,
        secret=secret,
        private_key_file=settings.jwt_private_key_file,
        keys_dir=settings.data_dir / "keys",
    )
    auth = settings.auth
    return IdentityService(
        unit_of_work=lambda: SqlIdentityUnitOfWork(database.sessions),
        reads=SqlIdentityReadModel(database.read_engine),
        passwords=passwords or Argon2PasswordHasher(),
        tokens=JwtTokenCodec(
            keyring,
            issuer=auth.issuer,
            audience=auth.audience,
            ttl_s=auth.access_token_ttl_s,
            clock=clock,
        ),
        ids=ids or SnowflakeGenerator(snowflake_worker_id(settings), clock),
        clock=clock,
        refresh_token_ttl_s=auth.refresh_token_ttl_s,
        tenant_creation=TenantCreationPolicy(open=settings.demo, operator_key=operator_key),
        listeners=(AuditLogListener(),),
    )


def build_payment_service(
    settings: Settings,
    clock: Clock,
    database: Database,
    *,
    ids: SnowflakeGenerator,
    guard: DependencyGuard,
    psp_transport: httpx.AsyncBaseTransport | None = None,
) -> PaymentService:
    """Payments on the database, calling the PSP at ``psp_url`` through ``guard``.

    Args:
        settings: the PSP's URL, API key and connection bound.
        clock: the time source of key records and timestamps.
        database: where the payments tables live (migrated by the caller).
        ids: the process's id generator.
        guard: the ``psp`` dependency guard (timeouts, retries, breaker, bulkhead).
        psp_transport: replaces the network for the PSP client (tests); None uses it.
    """
    api_key = settings.psp_api_key.get_secret_value() if settings.psp_api_key else None
    provider = HttpPspClient(
        base_url=settings.psp_url,
        api_key=api_key,
        transport=psp_transport,
        max_connections=settings.psp_max_concurrent,
    )
    return PaymentService(
        unit_of_work=lambda: SqlPaymentsUnitOfWork(database.sessions),
        reads=SqlPaymentsReadModel(database.read_sessions),
        provider=provider,
        guard=guard,
        ids=ids,
        clock=clock,
    )
