"""The breaker's ports: where its events go and where its state lives."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bazaar.kernel.breaker.core import BreakerConfig, BreakerSnapshot, Outcome, Permit, Transition
from bazaar.kernel.breaker.events import BreakerEvent
from bazaar.kernel.breaker.machine import BreakerMachine

__all__ = ["BreakerListener", "BreakerStore", "LocalBreakerStore"]


@runtime_checkable
class BreakerListener(Protocol):
    """Receives the breaker's events (as pybreaker's ``CircuitBreakerListener``).

    Called inline on the caller's task: it must be quick and must not raise.
    """

    def on_event(self, event: BreakerEvent) -> None: ...


@runtime_checkable
class BreakerStore(Protocol):
    """Holds the state of breakers by name, and makes their decisions atomically.

    Every adapter applies the rules of ``BreakerMachine``; the shared contract suite
    (``bazaar.testing.contracts.breaker``) holds them to it. ``config`` is passed on every call
    so a stateless adapter needs no registration step; all users of one name must pass the
    same configuration.
    """

    async def acquire(self, name: str, config: BreakerConfig) -> Permit:
        """Admit a call (ALLOW or PROBE) or reject it, claiming a probe slot atomically."""
        ...

    async def record(
        self,
        name: str,
        config: BreakerConfig,
        permit: Permit,
        outcome: Outcome,
        duration_s: float,
    ) -> Transition | None:
        """Report an admitted call's outcome; return the transition it caused, if any."""
        ...

    async def read(self, name: str, config: BreakerConfig) -> BreakerSnapshot:
        """The breaker's state and window figures now."""
        ...


@runtime_checkable
class LocalBreakerStore(Protocol):
    """Optional capability: the state lives in this process, in a ``BreakerMachine``.

    A breaker built on such a store decides synchronously (no await, no I/O) and offers the
    synchronous ``with breaker.guard():`` form.
    """

    def machine(self, name: str, config: BreakerConfig) -> BreakerMachine:
        """The machine holding ``name``'s state, created on first use."""
        ...
