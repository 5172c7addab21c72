"""Errors of the idempotency block.

KernelError
└── IdempotencyError
    ├── InvalidIdempotencyKeyError   the key is empty, too long or not printable ASCII
    └── IdempotencyLockLostError     another request took over a stale in-flight key
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = ["IdempotencyError", "IdempotencyLockLostError", "InvalidIdempotencyKeyError"]


class IdempotencyError(KernelError):
    """Raised by the idempotency block."""


class InvalidIdempotencyKeyError(IdempotencyError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid Idempotency-Key: {reason}")
        self.reason = reason


class IdempotencyLockLostError(IdempotencyError):
    """Completing a key whose lock another request took over after it went stale."""

    def __init__(self, scope: str, key: str) -> None:
        super().__init__(f"lost the lock on idempotency key {key!r} in scope {scope!r}")
        self.scope = scope
        self.key = key
