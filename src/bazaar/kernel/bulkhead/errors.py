"""Errors raised when a bulkhead cannot give a caller a slot.

    KernelError                     (bazaar.kernel.errors)
    └── BulkheadError
        ├── BulkheadFullError       every slot busy and the wait queue full: refused at once
        ├── BulkheadTimeoutError    waited in the queue longer than the queue timeout
        └── BulkheadReleaseError    release() without a slot held (a caller's bug)

Errors carry fields, not only messages, so callers never parse strings.
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = [
    "BulkheadError",
    "BulkheadFullError",
    "BulkheadReleaseError",
    "BulkheadTimeoutError",
]


class BulkheadError(KernelError):
    """A bulkhead refused or mishandled a slot."""


class BulkheadFullError(BulkheadError):
    """All ``max_concurrent`` slots are in use and ``max_queue`` callers already wait."""

    def __init__(self, name: str, max_concurrent: int, max_queue: int) -> None:
        super().__init__(
            f"bulkhead {name!r} is full: {max_concurrent} in use and {max_queue} waiting"
        )
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue


class BulkheadTimeoutError(BulkheadError):
    """A caller waited ``waited_s`` seconds for a slot and gave up (the queue timeout)."""

    def __init__(self, name: str, waited_s: float) -> None:
        super().__init__(f"bulkhead {name!r}: no slot after waiting {waited_s:.3f} s")
        self.name = name
        self.waited_s = waited_s


class BulkheadReleaseError(BulkheadError):
    """``release()`` was called with no slot in use."""

    def __init__(self, name: str) -> None:
        super().__init__(f"bulkhead {name!r}: release() without a slot in use")
        self.name = name
