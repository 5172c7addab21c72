"""Circuit breakers (capabilities §4.3): a pure decision core, an async driver and two stores."""

from __future__ import annotations

from bazaar.kernel.breaker.breaker import (
    SLOW_CALL_ERROR_TYPE,
    BreakerGuard,
    CircuitBreaker,
    Excluded,
)
from bazaar.kernel.breaker.core import (
    MAX_WINDOW_BUCKETS,
    Admission,
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
    Outcome,
    Permit,
    Transition,
    TransitionReason,
)
from bazaar.kernel.breaker.errors import BreakerError, BreakerStoreError, CircuitOpenError
from bazaar.kernel.breaker.events import (
    BreakerClosed,
    BreakerEvent,
    BreakerHalfOpened,
    BreakerOpened,
    BreakerStoreFailed,
    CallFailed,
    CallRejected,
    CallSucceeded,
)
from bazaar.kernel.breaker.listeners import NullListener, RecordingListener
from bazaar.kernel.breaker.machine import BreakerMachine
from bazaar.kernel.breaker.memory import InMemoryBreakerStore
from bazaar.kernel.breaker.ports import BreakerListener, BreakerStore, LocalBreakerStore
from bazaar.kernel.breaker.redis import RedisBreakerStore
from bazaar.kernel.breaker.registry import BreakerRegistry

__all__ = [
    "MAX_WINDOW_BUCKETS",
    "SLOW_CALL_ERROR_TYPE",
    "Admission",
    "BreakerClosed",
    "BreakerConfig",
    "BreakerError",
    "BreakerEvent",
    "BreakerGuard",
    "BreakerHalfOpened",
    "BreakerListener",
    "BreakerMachine",
    "BreakerOpened",
    "BreakerRegistry",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerStore",
    "BreakerStoreError",
    "BreakerStoreFailed",
    "CallFailed",
    "CallRejected",
    "CallSucceeded",
    "CircuitBreaker",
    "CircuitOpenError",
    "Excluded",
    "InMemoryBreakerStore",
    "LocalBreakerStore",
    "NullListener",
    "Outcome",
    "Permit",
    "RecordingListener",
    "RedisBreakerStore",
    "Transition",
    "TransitionReason",
]
