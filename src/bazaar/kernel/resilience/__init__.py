"""Resilience for outbound calls: one guard per dependency composing the kernel blocks."""

from __future__ import annotations

from bazaar.kernel.resilience.errors import (
    DependencyFailureError,
    DependencyTimeoutError,
    DependencyUnavailableError,
    InjectedFaultError,
)
from bazaar.kernel.resilience.faults import FaultInjector, FaultSpec
from bazaar.kernel.resilience.guard import DependencyGuard, DependencyPolicy
from bazaar.kernel.resilience.ports import (
    CallOutcome,
    DependencyCalled,
    GuardListener,
    RecordingGuardListener,
)
from bazaar.kernel.resilience.registry import DependencyRegistry

__all__ = [
    "CallOutcome",
    "DependencyCalled",
    "DependencyFailureError",
    "DependencyGuard",
    "DependencyPolicy",
    "DependencyRegistry",
    "DependencyTimeoutError",
    "DependencyUnavailableError",
    "FaultInjector",
    "FaultSpec",
    "GuardListener",
    "InjectedFaultError",
    "RecordingGuardListener",
]
