"""Composition root: Settings -> adapters -> Container. Nothing here runs at import time."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import random
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from cryptography.hazmat.primitives import serialization

from bazaar.contexts.catalog import CatalogReadModel, CatalogService, CursorCodec, StockDirectory
from bazaar.contexts.catalog.adapters import SqlCatalogReadModel, SqlCatalogUnitOfWork
from bazaar.contexts.catalog.adapters.cache_codecs import (
    CachedPageCodec,
    ProductCodec,
    ProductStockCodec,
)
from bazaar.contexts.catalog.adapters.guarded import GuardedCatalogReadModel
from bazaar.contexts.catalog.adapters.views import SqlProductViews
from bazaar.contexts.catalog.application.background import CatalogBackground
from bazaar.contexts.catalog.application.caching import CatalogCache, KnownProductIds
from bazaar.contexts.catalog.application.invalidation import (
    CONSUMER as CATALOG_CACHE_CONSUMER,
)
from bazaar.contexts.catalog.application.invalidation import (
    TOPICS as CATALOG_CACHE_TOPICS,
)
from bazaar.contexts.catalog.application.invalidation import cache_invalidation_subscription
from bazaar.contexts.catalog.application.views import ProductViews
from bazaar.contexts.identity import IdentityService, TenantCreationPolicy
from bazaar.contexts.identity.adapters import (
    Argon2PasswordHasher,
    AuditLogListener,
    JwtTokenCodec,
    SqlIdentityReadModel,
    SqlIdentityUnitOfWork,
)
from bazaar.contexts.identity.application.ports import PasswordHasher
from bazaar.contexts.identity.application.subject_cache import CachedSubjects
from bazaar.contexts.inventory import InventoryService
from bazaar.contexts.inventory.adapters import (
    SqlInventoryReadModel,
    SqlInventoryUnitOfWork,
    SqlStockLedger,
)
from bazaar.contexts.notifications import (
    CONSUMER as NOTIFICATIONS_CONSUMER,
)
from bazaar.contexts.notifications import (
    SMTP_DEPENDENCY,
    MailSender,
    RecipientDirectory,
    notification_subscription,
)
from bazaar.contexts.notifications import (
    TOPICS as NOTIFICATIONS_TOPICS,
)
from bazaar.contexts.notifications.adapters import IdentityRecipientDirectory, SmtpMailSender
from bazaar.contexts.orders import (
    CHECKOUT,
    CheckoutConfig,
    CheckoutSteps,
    OrderService,
    OrdersUnitOfWork,
    PriceList,
    checkout_definition,
)
from bazaar.contexts.orders.adapters.read_model import SqlOrdersReadModel
from bazaar.contexts.orders.adapters.repository import SqlOrdersUnitOfWork
from bazaar.contexts.payments import PaymentService
from bazaar.contexts.payments.adapters import (
    HttpPspClient,
    SqlPaymentsReadModel,
    SqlPaymentsUnitOfWork,
)
from bazaar.contexts.shipping.adapters import SqlShipmentBook
from bazaar.contexts.webhooks import (
    CONSUMER as WEBHOOKS_CONSUMER,
)
from bazaar.contexts.webhooks import (
    TOPICS as WEBHOOKS_TOPICS,
)
from bazaar.contexts.webhooks import (
    DispatcherConfig,
    UrlGuard,
    WebhookDispatcher,
    WebhookSender,
    WebhookService,
    webhook_subscription,
)
from bazaar.contexts.webhooks.adapters import (
    HttpWebhookSender,
    SqlWebhooksReadModel,
    SqlWebhooksUnitOfWork,
)
from bazaar.infra.db import Database, create_database
from bazaar.infra.db.engine import PoolConfig
from bazaar.infra.db.pool import PoolWaited, observe_pools, pool_stats
from bazaar.infra.keys import Keyring, load_keyring
from bazaar.kernel.breaker import (
    BreakerConfig,
    BreakerRegistry,
    BreakerStore,
    InMemoryBreakerStore,
    RedisBreakerStore,
)
from bazaar.kernel.cache import (
    BloomParameters,
    CacheListener,
    CachePolicy,
    Codec,
    InMemoryBloomFilter,
    InvalidationBus,
    LayeredCache,
    LruCache,
    RedisBloomFilter,
    RedisCacheStore,
    RedisInvalidationBus,
    RedisLoadLock,
    WriteBehindCounter,
)
from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.domain import DomainEvent
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.idempotency import IdempotencyConfig
from bazaar.kernel.ids import MAX_WORKER_ID, SnowflakeGenerator, decompose, first_id_at
from bazaar.kernel.jobs import (
    JOBS_CONSUMER,
    JOBS_TOPIC,
    CronSchedule,
    CronScheduler,
    Job,
    JobQueue,
    jobs_subscription,
)
from bazaar.kernel.jobs.sqlalchemy import SqlCronClaims
from bazaar.kernel.locks.ports import LeaseStore
from bazaar.kernel.locks.sqlalchemy import SqlLeaseStore
from bazaar.kernel.messaging import (
    AutoscalePolicy,
    Autoscaler,
    Broker,
    ConsumerConfig,
    DeadLetters,
    Inbox,
    MessageConsumer,
    MessagingRuntime,
    OutboxRelay,
    RelayConfig,
    Runnable,
    SqlDeadLetterStore,
    SqlInboxStore,
    SqlOutbox,
    Subscription,
)
from bazaar.kernel.messaging.guarded import GuardedBroker
from bazaar.kernel.observability.listeners import MessagingMetricsListener, MetricsListener
from bazaar.kernel.observability.metrics import Metrics
from bazaar.kernel.observability.tracing import TraceStore, Tracing, otlp_exporter
from bazaar.kernel.observability.tracing import install as install_tracing
from bazaar.kernel.observability.tracing import uninstall as uninstall_tracing
from bazaar.kernel.ratelimit import MemoryRateLimitStore, RateLimitStore, RedisRateLimitStore
from bazaar.kernel.resilience import (
    DependencyGuard,
    DependencyPolicy,
    DependencyRegistry,
    DependencyUnavailableError,
)
from bazaar.kernel.saga import SagaListener, SagaRunner, SagaSupervisor
from bazaar.kernel.ssrf import Resolver, SsrfPolicy
from bazaar.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "CONSUMER_TOPICS",
    "Container",
    "Lifecycle",
    "Messaging",
    "build_catalog_service",
    "build_container",
    "build_identity_service",
    "build_inventory_service",
    "build_messaging",
    "build_notifications",
    "build_order_service",
    "build_payment_service",
    "build_tracing",
    "build_webhook_service",
    "build_webhooks",
    "build_worker",
    "checkout_config",
    "derived_key",
    "load_signing_keyring",
    "ssrf_policy",
    "webhook_event_types",
]


@dataclass(slots=True)
class Lifecycle:
    """Process state seen by the edge: draining makes /readyz answer 503."""

    draining: bool = False
    drained: asyncio.Event = field(default_factory=asyncio.Event)

    def begin_drain(self) -> None:
        self.draining = True


@dataclass(slots=True)
class Messaging:
    """The messaging adapters of a process (capabilities §6): broker, leases, outbox, inbox."""

    broker: Broker
    leases: LeaseStore
    outbox: SqlOutbox
    inbox: SqlInboxStore
    dead_letters: DeadLetters
    jobs: JobQueue
    cron_claims: SqlCronClaims
    # Who this process is in leases and consumer groups: unique per process.
    holder: str

    async def aclose(self) -> None:
        await self.broker.aclose()


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
    rate_limit_store: RateLimitStore
    messaging: Messaging
    # --- contexts (wired below) ---
    identity: IdentityService
    payments: PaymentService
    webhooks: WebhookService
    catalog: CatalogService
    # The catalog's cache invalidation messages, Bloom filter refresh and view-count flush.
    catalog_background: CatalogBackground
    inventory: InventoryService
    orders: OrderService
    # Spans of this process (None: tracing off); installed as the process's tracer.
    tracing: Tracing | None = None

    def start_api_work(self) -> None:
        """The background work of an API process: checkout sagas (resume the unfinished
        ones, sweep for those a dead process left behind; capabilities §5.3) and the
        catalog's cache upkeep (other processes' invalidations, the Bloom filter's refresh,
        view-count flushes; §8)."""
        self.orders.start()
        self.catalog_background.start()

    async def stop_api_work(self, grace_s: float) -> None:
        """Stop it: sagas in flight get ``grace_s`` to finish; view counts are flushed."""
        await self.orders.aclose(grace_s=grace_s)
        await self.catalog_background.aclose()

    async def aclose(self) -> None:
        if self.tracing is not None:
            uninstall_tracing(self.tracing)
        # Sagas first: they call payments and write to the database.
        await self.orders.aclose()
        await self.catalog_background.aclose()
        await self.payments.aclose()
        await self.messaging.aclose()
        await self.database.dispose()
        if self.redis is not None:
            await self.redis.aclose()
        if self.tracing is not None:
            # Off the loop: the exporter's last batch is an HTTP request.
            await asyncio.to_thread(self.tracing.shutdown)

    async def refresh_gauges(self) -> None:
        """Set gauges that mirror shared state (a breaker another process opened)."""
        for snapshot in await self.breakers.snapshots():
            self.metrics.breaker_state.labels(snapshot.name).set(snapshot.state.gauge_value)
        pending, oldest = await self.messaging.outbox.pending()
        self.metrics.outbox_pending.set(pending)
        self.metrics.outbox_lag_seconds.set(
            0.0 if oldest is None else max(0.0, self.clock.now() - oldest)
        )
        for topic, count in (await self.messaging.dead_letters.counts_by_topic()).items():
            self.metrics.dlq_messages.labels(topic).set(count)
        broker = self.messaging.broker
        for consumer, topics in CONSUMER_TOPICS.items():
            lag = sum([await broker.backlog(topic, consumer) for topic in topics])
            self.metrics.consumer_lag.labels(consumer).set(lag)
        for stats in pool_stats(self.database.engines):
            connections = self.metrics.db_pool_connections
            connections.labels(stats.pool, "in_use").set(stats.in_use)
            connections.labels(stats.pool, "idle").set(stats.idle)
            self.metrics.db_pool_max_connections.labels(stats.pool).set(stats.max_connections)
            self.metrics.db_pool_waiting.labels(stats.pool).set(stats.waiting)


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

    # A bounded connect: with Redis unreachable, rate limits fail open (or closed) in two
    # seconds instead of holding every request for the kernel's TCP timeout.
    return Redis.from_url(url, socket_connect_timeout=2.0)


def breaker_config(settings: Settings) -> BreakerConfig:
    """The breaker thresholds of the settings (capabilities §4.3 defaults)."""
    breaker = settings.breaker
    return BreakerConfig(
        failure_rate_threshold=breaker.failure_rate,
        minimum_calls=breaker.min_calls,
        window_s=breaker.window_s,
        cooldown_s=breaker.cooldown_s,
    )


def build_tracing(settings: Settings, service_name: str = "bazaar") -> Tracing | None:
    """The process's tracer provider: sampler, in-process store, OTLP export (§10.1)."""
    config = settings.tracing
    if not config.enabled:
        return None
    exporter = otlp_exporter(settings.otlp_endpoint) if settings.otlp_endpoint else None
    return Tracing(
        service_name=service_name,
        sample_ratio=config.sample_ratio,
        store=TraceStore(config.store_traces) if config.store_traces else None,
        exporter=exporter,
    )


def _pool_metrics(metrics: Metrics) -> Callable[[PoolWaited], None]:
    """Checkout waits of the database pools as ``bazaar_db_pool_*`` metrics."""

    def observe(event: PoolWaited) -> None:
        metrics.db_pool_wait_seconds.labels(event.pool).observe(event.seconds)
        if event.timed_out:
            metrics.db_pool_timeouts_total.labels(event.pool).inc()

    return observe


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
    # First, so that everything built below (start-up statements too) is traced.
    tracing = build_tracing(settings)
    install_tracing(tracing)
    database = create_database(settings.effective_database_url, database_pool_config(settings))
    metrics = Metrics()
    observe_pools(database.engines, _pool_metrics(metrics))
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
    rate_limit_store = build_rate_limit_store(clock, redis)
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
    # Notification e-mails (capabilities §4.4, §4.6): joins the breaker view and faults.
    dependencies.register(
        DependencyGuard(
            SMTP_DEPENDENCY,
            DependencyPolicy(timeout_s=settings.smtp_timeout_s),
            breaker=breakers.get_or_create(SMTP_DEPENDENCY),
            clock=clock,
            listener=listener,
        )
    )
    # The broker as a dependency (capabilities §4.6): faults and a breaker for `broker`.
    dependencies.register(
        DependencyGuard(
            "broker",
            DependencyPolicy(timeout_s=5.0, max_concurrent=256, max_queue=256),
            breaker=breakers.get_or_create("broker"),
            clock=clock,
            listener=listener,
        )
    )
    messaging = build_messaging(
        settings, clock, database, redis=redis, ids=ids, guard=dependencies.get("broker")
    )
    identity = await build_identity_service(settings, clock, database, ids=ids)
    psp_guard = dependencies.get("psp")
    assert psp_guard is not None  # registered just above
    payments = build_payment_service(
        settings, clock, database, ids=ids, guard=psp_guard, psp_transport=psp_transport
    )
    webhooks = build_webhook_service(settings, clock, database, ids=ids)
    # Catalog reads (capabilities §4.6 db_read): faults, a breaker, and a stale copy from
    # the cache when they fail.
    db_read = dependencies.register(
        DependencyGuard(
            "db_read",
            DependencyPolicy(
                timeout_s=settings.database.statement_timeout_s,
                max_concurrent=64,
                max_queue=256,
            ),
            breaker=breakers.get_or_create("db_read"),
            clock=clock,
            listener=listener,
        )
    )
    # The inventory facade is the catalog's stock directory (one stateless service).
    inventory = build_inventory_service(clock, database)
    catalog_cache, cache_bus = build_catalog_cache(settings, clock, redis, listener, metrics)
    views = WriteBehindCounter(
        "product_views",
        SqlProductViews(database.sessions, database.read_sessions),
        clock,
        interval_s=settings.cache.views_flush_s,
    )
    catalog_reads = GuardedCatalogReadModel(SqlCatalogReadModel(database.read_sessions), db_read)
    catalog = await build_catalog_service(
        settings,
        clock,
        database,
        ids=ids,
        stock=inventory,
        reads=catalog_reads,
        cache=catalog_cache,
        views=ProductViews(views, SqlProductViews(database.sessions, database.read_sessions)),
    )
    catalog_background = CatalogBackground(
        cache=catalog_cache,
        bus=cache_bus,
        ids=catalog_reads,
        views=views,
        clock=clock,
        refresh_s=settings.cache.bloom_refresh_s,
    )
    orders = build_order_service(
        settings,
        clock,
        database,
        ids=ids,
        payments=payments,
        prices=catalog,
        listener=listener,
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
        rate_limit_store=rate_limit_store,
        messaging=messaging,
        identity=identity,
        payments=payments,
        webhooks=webhooks,
        catalog=catalog,
        catalog_background=catalog_background,
        inventory=inventory,
        orders=orders,
        tracing=tracing,
    )


def build_rate_limit_store(clock: Clock, redis: Redis | None) -> RateLimitStore:
    """Counters in Redis when configured (every API process enforces one limit together),
    else in this process (each ``bazaar api`` worker then enforces its own).

    With Redis, time is the Redis server's, so processes with skewed clocks agree on windows;
    a test's injected clock (anything but the system clock) drives the Redis store instead.
    """
    if redis is None:
        return MemoryRateLimitStore(clock)
    return RedisRateLimitStore(redis, clock=None if isinstance(clock, SystemClock) else clock)


# Remembered bearer subjects per process: one per active session (~200 bytes each).
SUBJECT_CACHE_MAX_ENTRIES = 100_000


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
    reads = CachedSubjects(
        SqlIdentityReadModel(database.read_engine),
        clock,
        ttl_s=auth.subject_cache_ttl_s,
        max_entries=SUBJECT_CACHE_MAX_ENTRIES,
    )
    return IdentityService(
        unit_of_work=lambda: SqlIdentityUnitOfWork(database.sessions),
        reads=reads,
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
        listeners=(AuditLogListener(), reads.on_event),
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


async def load_signing_keyring(settings: Settings) -> Keyring:
    """The JWT keyring the settings name (read or generated off the event loop)."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    return await asyncio.to_thread(
        load_keyring,
        secret=secret,
        private_key_file=settings.jwt_private_key_file,
        keys_dir=settings.data_dir / "keys",
    )


def derived_key(keyring: Keyring, purpose: bytes) -> bytes:
    """A 256-bit key for ``purpose``, derived from the keyring's signing key.

    HMAC-SHA256 keyed by the signing key's secret material over a purpose label (the
    extract-free form of HKDF-Expand, RFC 5869 §2.3, for one block): every process that
    verifies this deployment's tokens derives the same key, no setting is added, and the
    derived key reveals nothing about the signing key. Rotating the signing key rotates it.
    """
    private = keyring.signing.private_key
    material = (
        private
        if isinstance(private, bytes)
        else private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return hmac.new(material, purpose + b"\x01", hashlib.sha256).digest()


async def build_catalog_service(
    settings: Settings,
    clock: Clock,
    database: Database,
    *,
    ids: SnowflakeGenerator,
    stock: StockDirectory,
    cursor_key: bytes | None = None,
    reads: CatalogReadModel | None = None,
    cache: CatalogCache | None = None,
    views: ProductViews | None = None,
) -> CatalogService:
    """The catalog on the database, with stock from inventory and signed page cursors.

    Args:
        settings: where the JWT signing key comes from (the cursor key derives from it).
        clock: the time of records.
        database: where the catalog tables live (migrated by the caller).
        ids: the process's id generator.
        stock: the inventory facade (``InventoryService``) or a fake.
        cursor_key: signs page cursors; derived from the JWT signing key when None, so
            every API process of a deployment accepts the others' cursors. Cursors issued
            before a signing-key rotation answer 422 afterwards (clients start the list
            again).
        reads: the read model; the database's read sessions when None.
        cache: the catalog's caches (``build_catalog_cache``); None reads through.
        views: the product view counter; None counts nothing.
    """
    if cursor_key is None:
        cursor_key = derived_key(await load_signing_keyring(settings), b"bazaar catalog cursors")
    return CatalogService(
        unit_of_work=lambda: SqlCatalogUnitOfWork(database.sessions, clock=clock),
        reads=reads or SqlCatalogReadModel(database.read_sessions),
        stock=stock,
        ids=ids,
        clock=clock,
        cursors=CursorCodec(cursor_key),
        cache=cache,
        views=views,
    )


class _SnowflakeTimes:
    """When product ids were made (the Bloom filter's watermark works on id order)."""

    def issued_at(self, product_id: int) -> float:
        return decompose(product_id).timestamp_ms / 1000

    def first_id_at(self, at: float) -> int:
        return first_id_at(int(at * 1000))


# A cached value type (``build_catalog_cache``).
CachedT = TypeVar("CachedT")


def build_catalog_cache(
    settings: Settings,
    clock: Clock,
    redis: Redis | None,
    listener: CacheListener,
    metrics: Metrics,
) -> tuple[CatalogCache | None, InvalidationBus | None]:
    """The catalog's caches (capabilities §8): L1 in process, L2 and the load lock in Redis
    when configured, the invalidation bus on Redis pub/sub, the Bloom filter of product ids.

    Without Redis each process caches alone; one process (``bazaar up``) is then exact, and
    several (``bazaar api --workers N``) see another's product change within the TTLs.

    Returns:
        The cache (None when ``BAZAAR_CACHE__ENABLED`` is false) and the bus its processes
        tell each other of invalidations on (None without Redis).
    """
    config = settings.cache
    if not config.enabled:
        return None, None
    rng = random.Random()
    l2 = RedisCacheStore(redis) if redis is not None else None
    lock = RedisLoadLock(redis) if redis is not None else None
    bus = RedisInvalidationBus(redis) if redis is not None else None
    # Serve the last copy when the catalog's reads fail (capabilities §4.4), nothing else.
    stale_on: tuple[type[BaseException], ...] = (DependencyUnavailableError,)

    def policy(ttl_s: float, *, stale_ttl_s: float, early_beta: float) -> CachePolicy:
        return CachePolicy(
            ttl_s=ttl_s,
            negative_ttl_s=min(config.negative_ttl_s, ttl_s),
            stale_ttl_s=stale_ttl_s,
            jitter=config.jitter,
            early_beta=early_beta,
            lock_wait_s=config.lock_wait_s,
        )

    def shared(name: str, codec: Codec[CachedT], ttl_s: float) -> LayeredCache[CachedT]:
        """A cache in both layers, loaded once across processes, served stale on failure."""
        return LayeredCache(
            name,
            codec=codec,
            policy=policy(ttl_s, stale_ttl_s=config.stale_ttl_s, early_beta=config.early_beta),
            clock=clock,
            rng=rng,
            l1=LruCache(config.l1_max_entries, clock),
            l2=l2,
            lock=lock,
            bus=bus,
            listener=listener,
            stale_on=stale_on,
        )

    products = shared("products", ProductCodec(), config.product_ttl_s)
    # Stock is a live figure: in process only, briefly, never served stale.
    stock = LayeredCache(
        "stock",
        codec=ProductStockCodec(),
        policy=policy(config.stock_ttl_s, stale_ttl_s=0.0, early_beta=0.0),
        clock=clock,
        rng=rng,
        l1=LruCache(config.l1_max_entries, clock),
        bus=bus,
        listener=listener,
        stale_on=(),
    )
    lists = shared("product_lists", CachedPageCodec(), config.list_ttl_s)
    known_ids = None
    if config.bloom:
        params = BloomParameters.for_capacity(
            config.bloom_expected_items, config.bloom_false_positive_rate
        )
        ids_filter = (
            RedisBloomFilter(redis, "products", params)
            if redis is not None
            else InMemoryBloomFilter(params, name="products")
        )
        known_ids = KnownProductIds(ids_filter, times=_SnowflakeTimes(), clock=clock)
    filtered = metrics.cache_requests_total.labels("products", "filtered")
    cache = CatalogCache(
        products=products,
        stock=stock,
        lists=lists,
        known_ids=known_ids,
        on_filtered=filtered.inc,
    )
    return cache, bus


def build_inventory_service(clock: Clock, database: Database) -> InventoryService:
    """Inventory on the database: merchant stock, reads, the reservation expiry job."""
    return InventoryService(
        unit_of_work=lambda: SqlInventoryUnitOfWork(database.sessions, clock=clock),
        reads=SqlInventoryReadModel(database.read_sessions),
        clock=clock,
    )


def checkout_config(settings: Settings) -> CheckoutConfig:
    orders = settings.orders
    return CheckoutConfig(
        reservation_ttl_s=orders.reservation_ttl_s,
        payment_timeout_s=orders.step_timeout_s,
        payment_attempts=orders.payment_attempts,
        payment_backoff_s=orders.payment_backoff_s,
        payment_backoff_max_s=orders.payment_backoff_max_s,
        local_timeout_s=min(10.0, orders.step_timeout_s),
    )


def max_concurrent_sagas(settings: Settings) -> int:
    """Sagas one process drives at once: few on SQLite, whose single writer they share with
    the requests (more would only lengthen the queue a request waits in), more elsewhere."""
    configured = settings.orders.max_concurrent_sagas
    if configured is not None:
        return configured
    return 4 if settings.effective_database_url.startswith("sqlite") else 32


def build_order_service(
    settings: Settings,
    clock: Clock,
    database: Database,
    *,
    ids: SnowflakeGenerator,
    payments: PaymentService,
    prices: PriceList,
    listener: SagaListener | None = None,
    owner: str | None = None,
) -> OrderService:
    """Orders and their checkout saga on the database.

    The checkout's unit of work enlists the inventory and shipping contexts' transactional
    ports, built here on its session: a step's local effect and the saga log commit together.

    Args:
        settings: the ``orders.*`` timeouts, retries and leases.
        clock: time of orders, sagas, leases and retry waits.
        database: where the orders, saga log, stock and shipments live (migrated).
        ids: the process's id generator.
        payments: the payments facade the saga authorizes, captures, voids and refunds with.
        prices: the catalog's prices of products on sale.
        listener: receives the saga's events (metrics).
        owner: this process's name in saga leases (tests run two "processes" in one).
    """

    # An order's key is held only while its request runs (the saga runs after the
    # response): once the request deadline has certainly passed, a key left in flight by a
    # crash may be taken over.
    keys = IdempotencyConfig(lock_s=settings.request_timeout_s + 5.0)

    def unit_of_work() -> OrdersUnitOfWork:
        return SqlOrdersUnitOfWork(
            database.sessions,
            stock=SqlStockLedger,
            shipments=SqlShipmentBook,
            idempotency=keys,
            clock=clock,
        )

    config = checkout_config(settings)
    steps = CheckoutSteps(payments=payments, ids=ids, clock=clock, config=config)
    runner: SagaRunner[OrdersUnitOfWork] = SagaRunner(
        checkout_definition(config),
        steps.handlers(),
        unit_of_work,
        owner=owner or process_holder(),
        clock=clock,
        lease_s=settings.orders.saga_lease_s,
        listener=listener,
        on_transition=steps.on_transition,
    )
    supervisor = SagaSupervisor(
        {CHECKOUT: runner},
        unit_of_work,
        clock=clock,
        sweep_interval_s=settings.orders.saga_sweep_interval_s,
        max_concurrent=max_concurrent_sagas(settings),
    )
    return OrderService(
        unit_of_work=unit_of_work,
        reads=SqlOrdersReadModel(database.read_sessions),
        prices=prices,
        payments=payments,
        runner=runner,
        supervisor=supervisor,
        ids=ids,
        clock=clock,
    )


def build_notifications(
    settings: Settings,
    clock: Clock,
    *,
    identity: IdentityService,
    guard: DependencyGuard,
    sender: MailSender | None = None,
    recipients: RecipientDirectory | None = None,
) -> Callable[[Inbox], Subscription]:
    """The ``notifications`` consumer group, given the inbox the consumer runtime keeps.

    Args:
        settings: ``smtp_url`` (empty: every send fails as unavailable) and ``smtp_from``.
        clock: the time of inbox records.
        identity: where recipients' addresses come from (through its service).
        guard: the ``smtp`` dependency guard (``container.dependencies.get("smtp")``).
        sender: replaces the SMTP client (tests pass a ``RecordingMailSender``).
        recipients: replaces the identity directory (tests).

    Raises:
        ConfigurationError: ``smtp_url`` or ``smtp_from`` cannot be used.
    """
    mail_sender = sender or SmtpMailSender(settings.smtp_url, from_address=settings.smtp_from)
    directory = recipients or IdentityRecipientDirectory(identity)

    def subscription(inbox: Inbox) -> Subscription:
        return notification_subscription(
            sender=mail_sender, guard=guard, recipients=directory, inbox=inbox, clock=clock
        )

    return subscription


def ssrf_policy(settings: Settings) -> SsrfPolicy:
    """The SSRF guard's rules for user-given URLs: http(s), public addresses, ``ssrf_allow``.

    Raises:
        ConfigurationError: an ``ssrf_allow`` entry is neither a hostname nor a network.
    """
    return SsrfPolicy(allow=tuple(settings.ssrf_allow))


def webhook_event_types() -> frozenset[str]:
    """The event types a webhook endpoint may subscribe to: those of the webhooks topics."""
    return frozenset(t for t in known_event_types() if t.split(".", 1)[0] in WEBHOOKS_TOPICS)


def build_webhook_service(
    settings: Settings,
    clock: Clock,
    database: Database,
    *,
    ids: SnowflakeGenerator,
    resolver: Resolver | None = None,
) -> WebhookService:
    """Webhook endpoints on the database, their URLs checked by the SSRF guard.

    Args:
        settings: ``ssrf_allow`` (empty outside local development).
        clock: the time of records.
        database: where the webhooks tables live (migrated by the caller).
        ids: the process's id generator.
        resolver: host names → addresses for the guard (tests); the system's by default.
    """
    return WebhookService(
        unit_of_work=lambda: SqlWebhooksUnitOfWork(database.sessions, clock=clock),
        reads=SqlWebhooksReadModel(database.read_sessions),
        guard=UrlGuard(ssrf_policy(settings), resolver),
        ids=ids,
        clock=clock,
        event_types=webhook_event_types(),
    )


def build_webhooks(
    container: Container,
    *,
    sender: WebhookSender | None = None,
    resolver: Resolver | None = None,
    config: DispatcherConfig | None = None,
) -> tuple[Subscription, WebhookDispatcher]:
    """The worker side of webhooks: the ``webhooks`` consumer group and the dispatcher.

    Args:
        container: the process's container (database, clock, ids, leases, settings).
        sender: replaces the HTTP sender (tests pass one over an ``httpx.MockTransport``).
        resolver: host names → addresses for the send-time SSRF check (tests).
        config: the dispatcher's pacing, retry schedule and disable rule.
    """
    settings, clock, database = container.settings, container.clock, container.database

    def unit_of_work() -> SqlWebhooksUnitOfWork:
        return SqlWebhooksUnitOfWork(database.sessions, clock=clock)

    subscription = webhook_subscription(
        unit_of_work=unit_of_work,
        ids=container.ids,
        clock=clock,
        event_types=webhook_event_types(),
    )
    dispatcher = WebhookDispatcher(
        unit_of_work=unit_of_work,
        sender=sender or HttpWebhookSender(),
        guard=UrlGuard(ssrf_policy(settings), resolver),
        clock=clock,
        leases=container.messaging.leases,
        holder=container.messaging.holder,
        config=config or DispatcherConfig(lease_ttl_s=settings.messaging.lease_ttl_s),
    )
    return subscription, dispatcher


# The consumer groups a worker runs and the topics each reads (for the lag gauge).
CONSUMER_TOPICS: dict[str, tuple[str, ...]] = {
    NOTIFICATIONS_CONSUMER: NOTIFICATIONS_TOPICS,
    WEBHOOKS_CONSUMER: WEBHOOKS_TOPICS,
    JOBS_CONSUMER: (JOBS_TOPIC,),
    CATALOG_CACHE_CONSUMER: CATALOG_CACHE_TOPICS,
}


def process_holder() -> str:
    """This process's name in leases and consumer groups: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def build_messaging(
    settings: Settings,
    clock: Clock,
    database: Database,
    *,
    redis: Redis | None,
    ids: SnowflakeGenerator,
    guard: DependencyGuard | None = None,
) -> Messaging:
    """The broker the settings name, leases, and the SQL outbox, inbox and dead letters.

    ``BAZAAR_BROKER=sqlite`` (the default without Redis) keeps an embedded log in
    ``<data dir>/broker.db``; ``redis`` uses Redis Streams. ``guard`` (the ``broker``
    dependency) wraps it with timeouts, a breaker and fault injection. Leases live in Redis
    when it is configured (shared by every host), otherwise in the database's ``leases``.
    """
    from bazaar.infra.db import messaging_tables

    holder = process_holder()
    config = settings.messaging
    broker: Broker
    if settings.effective_broker == "redis":
        if redis is None:
            raise ConfigurationError("broker", "redis needs BAZAAR_REDIS_URL")
        from bazaar.kernel.messaging.redis_streams import RedisStreamsBroker

        broker = RedisStreamsBroker(
            redis,
            partitions=config.partitions,
            consumer_name=holder,
            visibility_timeout_s=config.visibility_timeout_s,
            max_length=config.max_stream_length,
            retention_s=config.retention_s,
        )
    else:
        from bazaar.kernel.messaging.sqlite_log import SqliteLogBroker

        broker = SqliteLogBroker(
            settings.data_dir / "broker.db",
            partitions=config.partitions,
            max_length=config.max_stream_length,
            retention_s=config.retention_s,
            clock=clock,
        )
    if guard is not None:
        broker = GuardedBroker(broker, guard)
    leases: LeaseStore
    if redis is not None:
        from bazaar.kernel.locks.redis import RedisLeaseStore

        leases = RedisLeaseStore(redis)
    else:
        leases = SqlLeaseStore(database.engine, messaging_tables.leases, clock)
    store = SqlDeadLetterStore(
        database.sessions, messaging_tables.dead_letters, database.read_sessions
    )
    return Messaging(
        broker=broker,
        leases=leases,
        outbox=SqlOutbox(database.sessions, messaging_tables.outbox, database.read_sessions),
        inbox=SqlInboxStore(database.sessions, messaging_tables.inbox, database.read_sessions),
        dead_letters=DeadLetters(store, broker, clock),
        jobs=JobQueue(broker, ids, clock),
        cron_claims=SqlCronClaims(database.sessions, messaging_tables.cron_runs),
        holder=holder,
    )


def known_event_types() -> frozenset[str]:
    """Every event type some context declares: a type outside this set is poison."""
    found: set[str] = set()
    pending: list[type[DomainEvent]] = [DomainEvent]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        declared = cls.__dict__.get("type")
        if isinstance(declared, str):
            found.add(declared)
    return frozenset(found)


def build_worker(
    container: Container,
    *,
    autoscale: AutoscalePolicy | None = None,
    jobs: Sequence[Job] = (),
    schedules: Sequence[CronSchedule] = (),
    notifications: Callable[[Inbox], Subscription] | None = None,
    webhooks: tuple[Subscription, WebhookDispatcher] | None = None,
) -> MessagingRuntime:
    """The worker of this process: relay, consumers, cron, the webhook dispatcher and
    (optionally) the autoscaler.

    Args:
        container: the process's container.
        autoscale: scale each consumer's partition tasks by backlog; None serves every
            partition it can lease.
        jobs: background jobs beyond the built-in maintenance jobs.
        schedules: cron schedules beyond the built-in ones.
        notifications: replaces the notifications subscription (tests pass a fake sender).
        webhooks: replaces the webhooks consumer and dispatcher (``build_webhooks`` with a
            test sender).
    """
    settings, clock, messaging = container.settings, container.clock, container.messaging
    listener = MessagingMetricsListener(container.metrics)
    smtp_guard = container.dependencies.get(SMTP_DEPENDENCY)
    assert smtp_guard is not None  # registered by build_container
    make_notifications = notifications or build_notifications(
        settings, clock, identity=container.identity, guard=smtp_guard
    )
    all_jobs = [*maintenance_jobs(container), *jobs]
    webhooks_subscription, webhook_dispatcher = webhooks or build_webhooks(container)
    subscriptions = [
        make_notifications(messaging.inbox),
        webhooks_subscription,
        jobs_subscription(all_jobs),
    ]
    if container.catalog.cache is not None:
        subscriptions.append(cache_invalidation_subscription(container.catalog.cache))
    jobs_config = settings.jobs
    consumer_config = ConsumerConfig(
        max_attempts=jobs_config.max_attempts,
        backoff_base_s=jobs_config.backoff_base_s,
        backoff_max_s=jobs_config.backoff_max_s,
        handler_timeout_s=jobs_config.timeout_s,
        lease_ttl_s=settings.messaging.lease_ttl_s,
    )
    known = known_event_types() | {job.type for job in all_jobs}
    consumers = [
        MessageConsumer(
            subscription,
            messaging.broker,
            leases=messaging.leases,
            inbox=messaging.inbox,
            dead_letters=messaging.dead_letters.store,
            clock=clock,
            ids=container.ids,
            holder=messaging.holder,
            known_types=known,
            config=consumer_config,
            listener=listener,
        )
        for subscription in subscriptions
    ]
    relay = OutboxRelay(
        messaging.outbox,
        messaging.broker,
        messaging.leases,
        clock,
        holder=messaging.holder,
        config=RelayConfig(
            batch_size=settings.messaging.relay_batch_size,
            idle_interval_s=settings.messaging.relay_interval_s,
            lease_ttl_s=settings.messaging.lease_ttl_s,
        ),
        listener=listener,
    )
    scheduler = CronScheduler(
        [*maintenance_schedules(), *schedules],
        messaging.cron_claims,
        messaging.jobs,
        clock,
        holder=messaging.holder,
    )
    parts: list[tuple[str, Runnable]] = [
        ("relay", relay),
        ("cron", scheduler),
        ("webhook-dispatcher", webhook_dispatcher),
    ]
    parts.extend((f"consumer:{c.name}", c) for c in consumers)
    if autoscale is not None:
        parts.append(("autoscaler", Autoscaler(consumers, messaging.broker, clock, autoscale)))
    return MessagingRuntime(parts)


# Rows older than this are purged by the maintenance jobs: far beyond any redelivery.
PURGE_AFTER_S = 7 * 86_400.0
# Delivered or abandoned webhook deliveries stay listable (with their attempts) this long.
WEBHOOK_DELIVERY_RETENTION_S = 30 * 86_400.0


def maintenance_jobs(container: Container) -> list[Job]:
    """Housekeeping as jobs: purge published outbox rows, old inbox ids, cron claims,
    expired idempotency keys, and final webhook deliveries after 30 days; release stock
    reservations past their TTL (capabilities §5.2)."""
    messaging, clock = container.messaging, container.clock

    async def purge_messaging(args: Mapping[str, Any]) -> None:
        before = clock.now() - float(args.get("older_than_s", PURGE_AFTER_S))
        await messaging.outbox.purge(before)
        await messaging.inbox.purge(before)
        await messaging.cron_claims.purge(before)

    async def purge_idempotency_keys(args: Mapping[str, Any]) -> None:
        await container.payments.purge_expired_keys()

    async def purge_webhook_deliveries(args: Mapping[str, Any]) -> None:
        older_than_s = float(args.get("older_than_s", WEBHOOK_DELIVERY_RETENTION_S))
        await container.webhooks.purge_deliveries(older_than_s)

    async def expire_reservations(args: Mapping[str, Any]) -> None:
        # Batches until none is left, so a backlog clears in one run.
        limit = int(args.get("limit", 500))
        while await container.inventory.expire_reservations(limit=limit) == limit:
            pass

    return [
        Job("expire_reservations", expire_reservations, timeout_s=60),
        Job("purge_messaging", purge_messaging, timeout_s=300),
        Job("purge_idempotency_keys", purge_idempotency_keys, timeout_s=300),
        Job("purge_webhook_deliveries", purge_webhook_deliveries, timeout_s=300),
    ]


def maintenance_schedules() -> list[CronSchedule]:
    return [
        CronSchedule("expire-reservations", "* * * * *", job="expire_reservations"),
        CronSchedule("purge-messaging", "17 * * * *", job="purge_messaging"),
        CronSchedule("purge-idempotency-keys", "*/10 * * * *", job="purge_idempotency_keys"),
        CronSchedule("purge-webhook-deliveries", "43 3 * * *", job="purge_webhook_deliveries"),
    ]
