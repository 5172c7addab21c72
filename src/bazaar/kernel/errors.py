"""The root of bazaar's error tree.

    BazaarError
    ├── KernelError                 (bazaar.kernel.*)
    │   └── ConfigurationError      a block was built with arguments it cannot work with
    └── <Context>Error              one per context, e.g. IdentityError (bazaar.contexts.*)

Each package's ``errors.py`` draws its own subtree. Errors carry fields, not only messages,
so callers (and the problem+json mapping) never parse strings.
"""

from __future__ import annotations

__all__ = ["BazaarError", "ConfigurationError", "KernelError"]


class BazaarError(Exception):
    """Every error bazaar raises on purpose."""


class KernelError(BazaarError):
    """An error raised by a kernel building block."""


class ConfigurationError(KernelError):
    """A block was given a configuration it cannot work with."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason
