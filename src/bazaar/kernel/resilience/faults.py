"""Fault injection per dependency (capabilities §4.6): latency, error rate, outage."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bazaar.kernel.clock import Clock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.resilience.errors import InjectedFaultError

__all__ = ["FaultInjector", "FaultSpec"]


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """What to inject into every call of one dependency."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    outage: bool = False

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ConfigurationError("latency_ms", "must be >= 0")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ConfigurationError("error_rate", "must be within 0..1")

    @property
    def active(self) -> bool:
        return self.latency_ms > 0 or self.error_rate > 0 or self.outage


class FaultInjector:
    """The faults currently set for one dependency; applied inside its guard.

    Applied inside the timeout and the breaker, so an injected fault looks exactly like the
    dependency misbehaving: latency eats the call's timeout, errors open the breaker.
    """

    def __init__(self, dependency: str, clock: Clock, rng: random.Random | None = None) -> None:
        self.dependency = dependency
        self._clock = clock
        self._rng = rng or random.Random()
        self.spec = FaultSpec()

    def set(self, spec: FaultSpec) -> None:
        self.spec = spec

    def clear(self) -> None:
        self.spec = FaultSpec()

    async def apply(self) -> None:
        """Sleep the injected latency, then fail if an outage or the error rate says so.

        Raises:
            InjectedFaultError: the dependency is "down" for this call.
        """
        spec = self.spec
        if not spec.active:
            return
        if spec.latency_ms > 0:
            await self._clock.sleep(spec.latency_ms / 1000)
        if spec.outage:
            raise InjectedFaultError(self.dependency, "injected outage")
        if spec.error_rate > 0 and self._rng.random() < spec.error_rate:
            raise InjectedFaultError(self.dependency, "injected error")
