"""Listeners that turn the kernel blocks' typed events into metrics (blocks never import them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bazaar.kernel.breaker import BreakerClosed, BreakerHalfOpened, BreakerOpened, BreakerState
from bazaar.kernel.cache import (
    CacheEvicted,
    CacheHit,
    CacheInvalidated,
    CacheLoaded,
    CacheLoadFailed,
    CacheMiss,
    CacheStaleServed,
    CacheStoreFailed,
)
from bazaar.kernel.observability.metrics import Metrics
from bazaar.kernel.ratelimit import FailureMode, RequestAdmitted, RequestLimited, StoreFailed
from bazaar.kernel.resilience import DependencyCalled
from bazaar.kernel.saga import SagaFinished, SagaStepFailed, SagaStepSucceeded
from bazaar.kernel.shedding import RequestShed

__all__ = ["MessagingMetricsListener", "MetricsListener"]


class MetricsListener:
    """One listener for every block: dispatches each event type to its metric update.

    Event types it does not know are ignored, so a block can emit more than is measured.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            RequestShed: self._shed,
            DependencyCalled: self._dependency_called,
            BreakerOpened: self._breaker_opened,
            BreakerHalfOpened: self._breaker_half_opened,
            BreakerClosed: self._breaker_closed,
            SagaFinished: self._saga_finished,
            SagaStepFailed: self._saga_step_failed,
            SagaStepSucceeded: self._saga_step_succeeded,
            RequestAdmitted: self._rate_limit_admitted,
            RequestLimited: self._rate_limit_limited,
            StoreFailed: self._rate_limit_store_failed,
            CacheHit: self._cache_hit,
            CacheMiss: self._cache_miss,
            CacheStaleServed: self._cache_stale,
            CacheLoaded: self._cache_loaded,
            CacheLoadFailed: self._cache_load_failed,
            CacheEvicted: self._cache_evicted,
            CacheInvalidated: self._cache_invalidated,
            CacheStoreFailed: self._cache_store_failed,
        }

    def on_event(self, event: object) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _shed(self, event: RequestShed) -> None:
        self.metrics.shed_total.labels(event.reason.value).inc()

    def _rate_limit_admitted(self, event: RequestAdmitted) -> None:
        self.metrics.ratelimit_decisions_total.labels(event.limiter, "allowed").inc()

    def _rate_limit_limited(self, event: RequestLimited) -> None:
        self.metrics.ratelimit_decisions_total.labels(event.limiter, "limited").inc()

    def _rate_limit_store_failed(self, event: StoreFailed) -> None:
        result = "failed_open" if event.failure_mode is FailureMode.OPEN else "failed_closed"
        self.metrics.ratelimit_decisions_total.labels(event.limiter, result).inc()

    def _cache_hit(self, event: CacheHit) -> None:
        self.metrics.cache_requests_total.labels(event.cache, "hit").inc()

    def _cache_miss(self, event: CacheMiss) -> None:
        self.metrics.cache_requests_total.labels(event.cache, "miss").inc()

    def _cache_stale(self, event: CacheStaleServed) -> None:
        self.metrics.cache_requests_total.labels(event.cache, "stale").inc()

    def _cache_loaded(self, event: CacheLoaded) -> None:
        self.metrics.cache_loads_total.labels(event.cache).inc()
        self.metrics.cache_load_duration_seconds.labels(event.cache).observe(event.duration_s)

    def _cache_load_failed(self, event: CacheLoadFailed) -> None:
        self.metrics.cache_loads_total.labels(event.cache).inc()

    def _cache_evicted(self, event: CacheEvicted) -> None:
        self.metrics.cache_evictions_total.labels(event.cache).inc(event.count)

    def _cache_invalidated(self, event: CacheInvalidated) -> None:
        origin = "remote" if event.remote else "local"
        self.metrics.cache_invalidations_total.labels(event.cache, origin).inc(event.keys)

    def _cache_store_failed(self, event: CacheStoreFailed) -> None:
        self.metrics.cache_store_failures_total.labels(event.cache, event.operation).inc()

    def _dependency_called(self, event: DependencyCalled) -> None:
        self.metrics.dependency_calls_total.labels(event.dependency, event.outcome.value).inc()
        self.metrics.dependency_duration_seconds.labels(event.dependency).observe(event.duration_s)

    def _breaker_opened(self, event: BreakerOpened) -> None:
        self.metrics.breaker_state.labels(event.name).set(BreakerState.OPEN.gauge_value)

    def _breaker_half_opened(self, event: BreakerHalfOpened) -> None:
        self.metrics.breaker_state.labels(event.name).set(BreakerState.HALF_OPEN.gauge_value)

    def _breaker_closed(self, event: BreakerClosed) -> None:
        self.metrics.breaker_state.labels(event.name).set(BreakerState.CLOSED.gauge_value)

    def _saga_finished(self, event: SagaFinished) -> None:
        self.metrics.saga_total.labels(event.saga, event.outcome.value).inc()

    def _saga_step_failed(self, event: SagaStepFailed) -> None:
        phase = "compensation" if event.compensation else "action"
        self.metrics.saga_step_failures_total.labels(event.saga, event.step, phase).inc()

    def _saga_step_succeeded(self, event: SagaStepSucceeded) -> None:
        self.metrics.saga_step_duration_seconds.labels(event.saga, event.step).observe(
            event.duration_s
        )


class MessagingMetricsListener:
    """The relay's and the consumers' listener ports, as metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    # RelayListener
    def published(self, count: int, oldest_age_s: float) -> None:
        self.metrics.outbox_published_total.inc(count)

    def failed(self, error: BaseException) -> None:
        return None  # logged by the relay; the pending gauge shows the consequence

    # ConsumerListener
    def handled(self, consumer: str, result: str, duration_s: float) -> None:
        self.metrics.messages_handled_total.labels(consumer, result).inc()
        self.metrics.message_handling_seconds.labels(consumer).observe(duration_s)

    def retried(self, consumer: str, attempt: int, error: BaseException) -> None:
        self.metrics.message_retries_total.labels(consumer).inc()

    def paused(self, consumer: str, dependency: str, seconds: float) -> None:
        self.metrics.consumer_pauses_total.labels(consumer, dependency).inc()
