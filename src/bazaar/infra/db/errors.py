"""Errors of the data layer.

BazaarError
└── DatabaseError
    ├── UnsupportedDatabaseError   the URL's scheme has no engine factory
    └── DatabaseUnavailableError   the engine cannot be reached (readiness fails)
"""

from __future__ import annotations

from bazaar.kernel.errors import BazaarError

__all__ = ["DatabaseError", "DatabaseUnavailableError", "UnsupportedDatabaseError"]


class DatabaseError(BazaarError):
    """Raised by bazaar's data layer."""


class UnsupportedDatabaseError(DatabaseError):
    def __init__(self, scheme: str, supported: tuple[str, ...]) -> None:
        super().__init__(f"no engine for {scheme!r}; supported: {', '.join(supported)}")
        self.scheme = scheme
        self.supported = supported


class DatabaseUnavailableError(DatabaseError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
