"""Errors raised by the circuit breaker.

    KernelError                     (bazaar.kernel.errors)
    └── BreakerError
        ├── CircuitOpenError        the breaker rejected a call without making it
        └── BreakerStoreError       the shared state store could not be reached or answered badly

Configuration mistakes raise ``ConfigurationError`` (bazaar.kernel.errors) naming the field.
Errors carry fields, not only messages, so callers (and the problem+json mapping) never parse
strings.
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = ["BreakerError", "BreakerStoreError", "CircuitOpenError"]


class BreakerError(KernelError):
    """An error raised by a circuit breaker."""


class CircuitOpenError(BreakerError):
    """The breaker is open (or its half-open probes are taken): the call was not made.

    ``retry_after_s`` is the cooldown still to run before the breaker admits a probe; 0.0
    while half-open probes are deciding, so callers should come back shortly.
    """

    def __init__(self, name: str, retry_after_s: float) -> None:
        super().__init__(f"circuit {name!r} is open; retry after {retry_after_s:.3f} s")
        self.name = name
        self.retry_after_s = retry_after_s


class BreakerStoreError(BreakerError):
    """A breaker store operation failed (e.g. Redis unreachable); the cause is chained."""

    def __init__(self, name: str, operation: str) -> None:
        super().__init__(f"breaker store failed to {operation} circuit {name!r}")
        self.name = name
        self.operation = operation
