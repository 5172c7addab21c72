"""Fault control of the simulator (latency, error rate, outage) and its request counters."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from enum import Enum

from bazaar.kernel.clock import Clock

__all__ = ["FaultInjector", "FaultVerdict", "Faults", "RequestStats"]

MAX_LATENCY_MS = 60_000


@dataclass(frozen=True, slots=True)
class Faults:
    """The faults applied to every API call (health and admin calls are exempt).

    Attributes:
        latency_ms: added before the call is handled (through the injected clock's sleep).
        error_rate: fraction of calls answered 503 before anything is written.
        outage: every call answers 503 at once.
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    outage: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.latency_ms <= MAX_LATENCY_MS:
            raise ValueError(f"latency_ms must be within 0..{MAX_LATENCY_MS}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be within 0..1")

    def as_dict(self) -> dict[str, object]:
        return {"latency_ms": self.latency_ms, "error_rate": self.error_rate, "outage": self.outage}


class FaultVerdict(Enum):
    PROCEED = "proceed"
    OUTAGE = "outage"
    INJECTED_ERROR = "injected_error"


class FaultInjector:
    """Applies the current ``Faults`` to one call: sleeps the latency, then decides.

    The random draw for ``error_rate`` comes from the injected ``random.Random`` (seeded in
    tests) and is taken only when the rate is above zero, so enabling no fault leaves the
    sequence of draws the card tokens see unchanged.
    """

    def __init__(self, clock: Clock, rng: random.Random) -> None:
        self._clock = clock
        self._rng = rng
        self.faults = Faults()

    def clear(self) -> None:
        self.faults = Faults()

    async def before_call(self) -> FaultVerdict:
        faults = self.faults
        if faults.outage:
            return FaultVerdict.OUTAGE
        if faults.latency_ms:
            await self._clock.sleep(faults.latency_ms / 1000)
        if faults.error_rate > 0 and self._rng.random() < faults.error_rate:
            return FaultVerdict.INJECTED_ERROR
        return FaultVerdict.PROCEED


class RequestStats:
    """Counters of the API calls received (before faults or authentication are applied)."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        self.replayed = 0
        self.rejected_by_faults = 0

    @property
    def total(self) -> int:
        return self.by_operation.total()

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "by_operation": dict(sorted(self.by_operation.items())),
            "replayed": self.replayed,
            "rejected_by_faults": self.rejected_by_faults,
        }
