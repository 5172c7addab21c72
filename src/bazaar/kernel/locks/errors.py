"""Errors raised by the leases block.

    KernelError                     (bazaar.kernel.errors)
    └── LockError
        ├── LeaseStoreError         the store could not be reached or answered badly
        └── LeaseLostError          work was about to run under a lease that is no longer held

A lease held by someone else is not an error: ``acquire`` answers None. Configuration
mistakes (a TTL that is not a positive number of seconds) raise ``ConfigurationError``
(bazaar.kernel.errors) naming the argument.
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = ["LeaseLostError", "LeaseStoreError", "LockError"]


class LockError(KernelError):
    """An error raised by the leases block."""


class LeaseStoreError(LockError):
    """A lease store operation failed (database or Redis unreachable); the cause is chained."""

    def __init__(self, name: str, operation: str) -> None:
        super().__init__(f"lease store failed to {operation} lease {name!r}")
        self.name = name
        self.operation = operation


class LeaseLostError(LockError):
    """``LeaseKeeper.check()`` found the lease not held (never acquired, lost or expired)."""

    def __init__(self, name: str, holder: str) -> None:
        super().__init__(f"{holder!r} does not hold lease {name!r}")
        self.name = name
        self.holder = holder
