"""Load shedding: a per-process bound on requests in flight, with priorities (§3.4)."""

from __future__ import annotations

from bazaar.kernel.shedding.admission import (
    DEFAULT_CRITICAL_RESERVE_RATIO,
    AdmissionController,
    AdmissionSnapshot,
    shed_reason,
)
from bazaar.kernel.shedding.errors import AdmissionReleaseError, OverloadedError, SheddingError
from bazaar.kernel.shedding.ports import (
    Priority,
    RecordingListener,
    RequestShed,
    SheddingEvent,
    SheddingListener,
    ShedReason,
)

__all__ = [
    "DEFAULT_CRITICAL_RESERVE_RATIO",
    "AdmissionController",
    "AdmissionReleaseError",
    "AdmissionSnapshot",
    "OverloadedError",
    "Priority",
    "RecordingListener",
    "RequestShed",
    "ShedReason",
    "SheddingError",
    "SheddingEvent",
    "SheddingListener",
    "shed_reason",
]
