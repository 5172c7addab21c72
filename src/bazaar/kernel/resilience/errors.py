"""Errors of the dependency guard.

    KernelError
    ├── DependencyFailureError      raised by adapters: the dependency failed (transient)
    │   ├── DependencyTimeoutError  the call ran out of its timeout (outcome unknown)
    │   └── InjectedFaultError      a fault injected on purpose (tests, tour, chaos)
    └── DependencyUnavailableError  raised by the guard: the dependency cannot be used now

Adapters subclass ``DependencyFailureError`` for infrastructure failures (5xx, connection
errors, timeouts) and may set ``retry_after_s`` from a ``Retry-After`` header. Any other
exception is the dependency's *answer* (a decline, a 404): the guard lets it through and
the breaker counts it as a success.
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = [
    "DependencyFailureError",
    "DependencyTimeoutError",
    "DependencyUnavailableError",
    "InjectedFaultError",
]


class DependencyFailureError(KernelError):
    """The dependency failed; worth a retry when the operation is retry-safe."""

    def __init__(self, dependency: str, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{dependency}: {reason}")
        self.dependency = dependency
        self.reason = reason
        self.retry_after_s = retry_after_s


class DependencyTimeoutError(DependencyFailureError):
    def __init__(self, dependency: str, timeout_s: float) -> None:
        super().__init__(dependency, f"no answer within {timeout_s:.3f} s")
        self.timeout_s = timeout_s


class InjectedFaultError(DependencyFailureError):
    """A fault set through the fault-injection API (capabilities §4.6)."""


class DependencyUnavailableError(KernelError):
    """The guard gives up on the dependency for this call; callers degrade or answer 503.

    ``reason`` is one of ``breaker_open``, ``bulkhead_full``, ``failed``; ``retry_after_s``
    is when trying again makes sense (the breaker's remaining cooldown, say).
    """

    def __init__(self, dependency: str, reason: str, retry_after_s: float) -> None:
        super().__init__(f"{dependency} unavailable ({reason}); retry after {retry_after_s:.1f} s")
        self.dependency = dependency
        self.reason = reason
        self.retry_after_s = retry_after_s
