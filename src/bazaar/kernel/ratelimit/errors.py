"""Errors raised by the rate limiter.

    KernelError                         (bazaar.kernel.errors)
    ├── RateLimitError
    │   ├── RateLimitStoreError         the shared store could not be reached or answered badly
    │   └── RateLimitSpecError          a "<algorithm>:<limit>/<seconds>" spec is malformed
    └── ConfigurationError              (bazaar.kernel.errors)
        └── RateLimitSpecError          (also: a spec is configuration, named by its text)

Being limited is not an error: it is a ``Decision`` with ``allowed=False``, which the HTTP layer
turns into a 429. A cost outside ``0..limit`` is a programming error and raises ``ValueError``.
Errors carry fields, not only messages, so callers never parse strings.
"""

from __future__ import annotations

from bazaar.kernel.errors import ConfigurationError, KernelError

__all__ = ["RateLimitError", "RateLimitSpecError", "RateLimitStoreError"]


class RateLimitError(KernelError):
    """An error raised by the rate limiter."""


class RateLimitStoreError(RateLimitError):
    """A store operation failed (e.g. Redis unreachable); the driver's exception is chained.

    The key is deliberately not carried: rate-limit keys are IP addresses, account names and
    API keys, which do not belong in error messages and logs.
    """

    def __init__(self, operation: str, limit: str) -> None:
        super().__init__(f"rate-limit store failed to {operation} for limit {limit!r}")
        self.operation = operation
        self.limit = limit


class RateLimitSpecError(RateLimitError, ConfigurationError):
    """A rate-limit spec such as ``token_bucket:100/3600`` could not be understood.

    ``text`` is the spec as given; ``reason`` says what is wrong with it.
    """

    def __init__(self, text: str, reason: str) -> None:
        ConfigurationError.__init__(self, "rate_limit", f"{text!r}: {reason}")
        self.text = text
        self.reason = reason
