"""Retries for retry-safe calls: full-jitter backoff, a per-dependency budget, deadlines."""

from __future__ import annotations

from bazaar.kernel.retry.budget import BudgetSnapshot, RetryBudget
from bazaar.kernel.retry.driver import retry_after_attribute, retry_call
from bazaar.kernel.retry.errors import RetryError, RetryStateError
from bazaar.kernel.retry.machine import (
    AttemptFailed,
    Decision,
    DoAttempt,
    DoSleep,
    GiveUp,
    Retrying,
    RetryState,
)
from bazaar.kernel.retry.policy import RetryPolicy, full_jitter
from bazaar.kernel.retry.ports import (
    GiveUpReason,
    RandomSource,
    RecordingListener,
    RetryBudgetExhausted,
    RetryBudgetPort,
    RetryEvent,
    RetryGaveUp,
    RetryListener,
    RetryScheduled,
)

__all__ = [
    "AttemptFailed",
    "BudgetSnapshot",
    "Decision",
    "DoAttempt",
    "DoSleep",
    "GiveUp",
    "GiveUpReason",
    "RandomSource",
    "RecordingListener",
    "RetryBudget",
    "RetryBudgetExhausted",
    "RetryBudgetPort",
    "RetryError",
    "RetryEvent",
    "RetryGaveUp",
    "RetryListener",
    "RetryPolicy",
    "RetryScheduled",
    "RetryState",
    "RetryStateError",
    "Retrying",
    "full_jitter",
    "retry_after_attribute",
    "retry_call",
]
