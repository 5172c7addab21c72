"""In-process breaker store: one ``BreakerMachine`` per name, no I/O (the default)."""

from __future__ import annotations

from bazaar.kernel.breaker.core import BreakerConfig, BreakerSnapshot, Outcome, Permit, Transition
from bazaar.kernel.breaker.machine import BreakerMachine
from bazaar.kernel.clock import Clock, SystemClock

__all__ = ["InMemoryBreakerStore"]


class InMemoryBreakerStore:
    """Keeps each breaker's state in this process (implements ``BreakerStore`` and
    ``LocalBreakerStore``).

    Breakers sharing the store and a name share one machine. The first configuration seen for
    a name is the one used.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        """Create an empty store.

        Args:
            clock: Time for every machine; the system clock by default.
        """
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._machines: dict[str, BreakerMachine] = {}

    def machine(self, name: str, config: BreakerConfig) -> BreakerMachine:
        """The machine for ``name``, created closed on first use.

        Args:
            name: The breaker's name.
            config: Used only when the machine is created.

        Returns:
            The machine holding ``name``'s state.
        """
        machine = self._machines.get(name)
        if machine is None:
            machine = self._machines[name] = BreakerMachine(config, self._clock)
        return machine

    async def acquire(self, name: str, config: BreakerConfig) -> Permit:
        """See ``BreakerStore.acquire``."""
        return self.machine(name, config).acquire()

    async def record(
        self,
        name: str,
        config: BreakerConfig,
        permit: Permit,
        outcome: Outcome,
        duration_s: float,
    ) -> Transition | None:
        """See ``BreakerStore.record``."""
        return self.machine(name, config).record(permit, outcome, duration_s)

    async def read(self, name: str, config: BreakerConfig) -> BreakerSnapshot:
        """See ``BreakerStore.read``."""
        return self.machine(name, config).snapshot(name)
