"""Errors raised by the admission controller.

    KernelError                         (bazaar.kernel.errors)
    └── SheddingError
        ├── OverloadedError             the work was shed: too much already in flight
        └── AdmissionReleaseError       release() with nothing admitted (a caller's bug)

Errors carry fields, not only messages, so callers never parse strings.
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = ["AdmissionReleaseError", "OverloadedError", "SheddingError"]


class SheddingError(KernelError):
    """The admission controller refused or was misused."""


class OverloadedError(SheddingError):
    """Work was shed: ``in_flight`` units were running against a limit of ``limit``.

    ``reason`` is the ``ShedReason`` value (``in_flight_limit``, ...).
    """

    def __init__(self, reason: str, in_flight: int, limit: int) -> None:
        super().__init__(f"overloaded ({reason}): {in_flight} in flight, limit {limit}")
        self.reason = reason
        self.in_flight = in_flight
        self.limit = limit


class AdmissionReleaseError(SheddingError):
    """``release()`` was called while nothing was in flight."""

    def __init__(self) -> None:
        super().__init__("release() without an admitted unit of work in flight")
