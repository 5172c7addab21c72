"""Bulkheads: per-dependency concurrency limits with a bounded, timed wait queue."""

from __future__ import annotations

from bazaar.kernel.bulkhead.bulkhead import Bulkhead, BulkheadSlot, BulkheadSnapshot
from bazaar.kernel.bulkhead.core import Admission, admit
from bazaar.kernel.bulkhead.errors import (
    BulkheadError,
    BulkheadFullError,
    BulkheadReleaseError,
    BulkheadTimeoutError,
)
from bazaar.kernel.bulkhead.ports import (
    BulkheadEvent,
    BulkheadListener,
    BulkheadRejected,
    BulkheadTimedOut,
    RecordingListener,
)

__all__ = [
    "Admission",
    "Bulkhead",
    "BulkheadError",
    "BulkheadEvent",
    "BulkheadFullError",
    "BulkheadListener",
    "BulkheadRejected",
    "BulkheadReleaseError",
    "BulkheadSlot",
    "BulkheadSnapshot",
    "BulkheadTimedOut",
    "BulkheadTimeoutError",
    "RecordingListener",
    "admit",
]
