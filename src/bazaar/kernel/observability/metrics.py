"""Prometheus metric families of api.md "Metrics", on a registry owned by one container."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["LATENCY_BUCKETS", "POOL_WAIT_BUCKETS", "Metrics"]

# Seconds. Dense below 50 ms, where the API's own work lives; sparse above, up to the
# default request deadline of 10 s.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


# Seconds. A connection from an idle pool takes tens of µs; waits start where it is busy.
POOL_WAIT_BUCKETS = (
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class Metrics:
    """The metric families of one process.

    A registry per container (not the global default) keeps tests independent and lets one
    process host several apps (API and PSP simulator in ``bazaar up``).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.http_requests_total = Counter(
            "http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.http_request_duration_seconds = Histogram(
            "http_request_duration_seconds",
            "Time from request start to the end of the response body.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_requests_in_flight = Gauge(
            "http_requests_in_flight",
            "Requests being served by this process.",
            registry=self.registry,
        )
        self.dependency_calls_total = Counter(
            "bazaar_dependency_calls_total",
            "Attempts at an outbound dependency, by outcome.",
            ("dependency", "outcome"),
            registry=self.registry,
        )
        self.dependency_duration_seconds = Histogram(
            "bazaar_dependency_duration_seconds",
            "Duration of attempts at an outbound dependency.",
            ("dependency",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.breaker_state = Gauge(
            "bazaar_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ("dependency",),
            registry=self.registry,
        )
        self.shed_total = Counter(
            "bazaar_shed_total",
            "Requests refused by admission control before any work, by reason.",
            ("reason",),
            registry=self.registry,
        )
        # result: allowed | limited | failed_open | failed_closed (the store was unreachable).
        self.ratelimit_decisions_total = Counter(
            "bazaar_ratelimit_decisions_total",
            "Rate-limit decisions by policy and result.",
            ("policy", "result"),
            registry=self.registry,
        )

        # --- caches (capabilities §8.7; api.md "Metrics") ---
        # result: hit | miss | stale (the loader failed, the last copy was served) |
        # filtered (the Bloom filter knew the id was no product's, nothing was asked).
        self.cache_requests_total = Counter(
            "bazaar_cache_requests_total",
            "Cache reads by cache and result.",
            ("cache", "result"),
            registry=self.registry,
        )
        self.cache_loads_total = Counter(
            "bazaar_cache_loads_total",
            "Loader runs (reads that went to the source of truth), by cache.",
            ("cache",),
            registry=self.registry,
        )
        self.cache_load_duration_seconds = Histogram(
            "bazaar_cache_load_duration_seconds",
            "How long one loader run took, by cache.",
            ("cache",),
            registry=self.registry,
        )
        self.cache_evictions_total = Counter(
            "bazaar_cache_evictions_total",
            "Entries the in-process LRU dropped to stay within its bound, by cache.",
            ("cache",),
            registry=self.registry,
        )
        self.cache_invalidations_total = Counter(
            "bazaar_cache_invalidations_total",
            "Keys dropped by invalidation, by cache and origin (local | remote).",
            ("cache", "origin"),
            registry=self.registry,
        )
        self.cache_store_failures_total = Counter(
            "bazaar_cache_store_failures_total",
            "Failures of the shared cache store, load lock or bus, by cache and operation.",
            ("cache", "operation"),
            registry=self.registry,
        )

        # --- database pools (capabilities §10.2, USE; api.md "Metrics") ---
        self.db_pool_wait_seconds = Histogram(
            "bazaar_db_pool_wait_seconds",
            "Time a caller waited for a pooled database connection (saturation).",
            ("pool",),
            buckets=POOL_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.db_pool_timeouts_total = Counter(
            "bazaar_db_pool_timeouts_total",
            "Callers that gave up waiting for a pooled connection (errors).",
            ("pool",),
            registry=self.registry,
        )
        self.db_pool_connections = Gauge(
            "bazaar_db_pool_connections",
            "Connections of the pool by state: in_use (utilization) or idle.",
            ("pool", "state"),
            registry=self.registry,
        )
        self.db_pool_max_connections = Gauge(
            "bazaar_db_pool_max_connections",
            "Connections the pool may open (size + overflow).",
            ("pool",),
            registry=self.registry,
        )
        self.db_pool_waiting = Gauge(
            "bazaar_db_pool_waiting",
            "Callers waiting for a pooled connection now.",
            ("pool",),
            registry=self.registry,
        )

        # --- messaging (capabilities §6; api.md "Metrics") ---
        self.outbox_pending = Gauge(
            "bazaar_outbox_pending",
            "Outbox rows committed but not yet published to the broker.",
            registry=self.registry,
        )
        self.outbox_lag_seconds = Gauge(
            "bazaar_outbox_lag_seconds",
            "Age of the oldest unpublished outbox row (0 when none).",
            registry=self.registry,
        )
        self.outbox_published_total = Counter(
            "bazaar_outbox_published_total",
            "Events the relay of this process published.",
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "bazaar_consumer_lag",
            "Messages of the consumer's topics it has not acknowledged yet.",
            ("consumer",),
            registry=self.registry,
        )
        self.dlq_messages = Gauge(
            "bazaar_dlq_messages",
            "Dead letters not yet replayed, by original topic.",
            ("topic",),
            registry=self.registry,
        )
        self.messages_handled_total = Counter(
            "bazaar_messages_handled_total",
            "Messages consumers finished, by result (handled, duplicate, skipped, dead_lettered).",
            ("consumer", "result"),
            registry=self.registry,
        )
        self.message_handling_seconds = Histogram(
            "bazaar_message_handling_seconds",
            "Time from fetch to done per message, retries included.",
            ("consumer",),
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.message_retries_total = Counter(
            "bazaar_message_retries_total",
            "Handler attempts that failed and were retried.",
            ("consumer",),
            registry=self.registry,
        )
        self.consumer_pauses_total = Counter(
            "bazaar_consumer_pauses_total",
            "Pauses of a consumer because a dependency's breaker was open.",
            ("consumer", "dependency"),
            registry=self.registry,
        )

        self.saga_total = Counter(
            "bazaar_saga_total",
            "Sagas that reached a terminal state (completed, compensated, needs_attention).",
            ("saga", "outcome"),
            registry=self.registry,
        )
        self.saga_step_failures_total = Counter(
            "bazaar_saga_step_failures_total",
            "Failed attempts of saga steps and compensations.",
            ("saga", "step", "phase"),
            registry=self.registry,
        )
        self.saga_step_duration_seconds = Histogram(
            "bazaar_saga_step_duration_seconds",
            "Time of one successful step (or compensation) attempt.",
            ("saga", "step"),
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every family."""
        return generate_latest(self.registry)
