"""Errors raised by the cache.

    KernelError                         (bazaar.kernel.errors)
    ├── CacheError
    │   ├── CacheStoreError             L2, the load lock or the invalidation bus failed
    │   └── CacheConfigurationError     a policy or store argument the cache cannot work with
    └── ConfigurationError              (bazaar.kernel.errors)
        └── CacheConfigurationError     (also: it is configuration, named by its key)

``LayeredCache`` never lets a ``CacheStoreError`` fail a read: it emits ``CacheStoreFailed``
and goes on as if the failing layer were absent. Errors a loader raises are the loader's own;
the cache re-raises them unchanged (or serves a stale copy, see ``CachePolicy.stale_ttl_s``).
"""

from __future__ import annotations

from bazaar.kernel.errors import ConfigurationError, KernelError

__all__ = ["CacheConfigurationError", "CacheError", "CacheStoreError"]


class CacheError(KernelError):
    """An error raised by the cache."""


class CacheStoreError(CacheError):
    """A shared store operation failed (e.g. Redis unreachable); the driver's error is chained.

    ``operation`` names what failed (``get``, ``set``, ``acquire``, ``publish``, ...). The key
    is deliberately not carried: cache keys can hold tenant ids and search terms.
    """

    def __init__(self, operation: str, detail: str = "") -> None:
        message = f"cache store failed to {operation}"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.operation = operation
        self.detail = detail


class CacheConfigurationError(CacheError, ConfigurationError):
    """A cache was built with an argument it cannot work with (``key`` names it)."""

    def __init__(self, key: str, reason: str) -> None:
        ConfigurationError.__init__(self, key, reason)
