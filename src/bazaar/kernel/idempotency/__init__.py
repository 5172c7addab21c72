"""Idempotency keys (capabilities §5.4): same key + same request → the same response, once.

Pure decision in ``model.decide``; records behind the ``IdempotencyRecords`` port, in memory
or in a SQL table that joins the caller's transaction.
"""

from __future__ import annotations

from bazaar.kernel.idempotency.errors import (
    IdempotencyError,
    IdempotencyLockLostError,
    InvalidIdempotencyKeyError,
)
from bazaar.kernel.idempotency.memory import InMemoryIdempotencyRecords
from bazaar.kernel.idempotency.model import (
    Claim,
    Decision,
    IdempotencyConfig,
    KeyRecord,
    KeyState,
    StoredResponse,
    decide,
    fingerprint,
    validate_key,
)
from bazaar.kernel.idempotency.ports import IdempotencyRecords, KeyTicket

__all__ = [
    "Claim",
    "Decision",
    "IdempotencyConfig",
    "IdempotencyError",
    "IdempotencyLockLostError",
    "IdempotencyRecords",
    "InMemoryIdempotencyRecords",
    "InvalidIdempotencyKeyError",
    "KeyRecord",
    "KeyState",
    "KeyTicket",
    "StoredResponse",
    "decide",
    "fingerprint",
    "validate_key",
]
