"""Rate limiting (capabilities §3.1–3.2): five pure algorithms, two stores and a limiter."""

from __future__ import annotations

from bazaar.kernel.ratelimit.algorithms import (
    MIN_RETRY_AFTER_S,
    FixedWindow,
    LeakyBucket,
    SlidingLog,
    SlidingWindowCounter,
    TokenBucket,
    core_for,
)
from bazaar.kernel.ratelimit.errors import (
    RateLimitError,
    RateLimitSpecError,
    RateLimitStoreError,
)
from bazaar.kernel.ratelimit.events import (
    RateLimitEvent,
    RequestAdmitted,
    RequestLimited,
    StoreFailed,
)
from bazaar.kernel.ratelimit.limiter import FAIL_CLOSED_RETRY_CAP_S, RateLimiter
from bazaar.kernel.ratelimit.listeners import NullListener, RecordingListener
from bazaar.kernel.ratelimit.memory import DEFAULT_MAX_KEYS, MemoryRateLimitStore
from bazaar.kernel.ratelimit.policy import (
    MAX_LIMIT,
    Algorithm,
    Decision,
    FailureMode,
    RateLimit,
)
from bazaar.kernel.ratelimit.ports import (
    LocalRateLimitStore,
    RateLimitAlgorithm,
    RateLimitListener,
    RateLimitStore,
)
from bazaar.kernel.ratelimit.redis import DEFAULT_KEY_PREFIX, RedisRateLimitStore

__all__ = [
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_MAX_KEYS",
    "FAIL_CLOSED_RETRY_CAP_S",
    "MAX_LIMIT",
    "MIN_RETRY_AFTER_S",
    "Algorithm",
    "Decision",
    "FailureMode",
    "FixedWindow",
    "LeakyBucket",
    "LocalRateLimitStore",
    "MemoryRateLimitStore",
    "NullListener",
    "RateLimit",
    "RateLimitAlgorithm",
    "RateLimitError",
    "RateLimitEvent",
    "RateLimitListener",
    "RateLimitSpecError",
    "RateLimitStore",
    "RateLimitStoreError",
    "RateLimiter",
    "RecordingListener",
    "RedisRateLimitStore",
    "RequestAdmitted",
    "RequestLimited",
    "SlidingLog",
    "SlidingWindowCounter",
    "StoreFailed",
    "TokenBucket",
    "core_for",
]
