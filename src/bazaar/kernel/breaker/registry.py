"""A registry of circuit breakers by dependency name, sharing one store, clock and listener."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from bazaar.kernel.breaker.breaker import CircuitBreaker, Excluded
from bazaar.kernel.breaker.core import BreakerConfig, BreakerSnapshot
from bazaar.kernel.breaker.memory import InMemoryBreakerStore
from bazaar.kernel.breaker.ports import BreakerListener, BreakerStore
from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.errors import ConfigurationError

__all__ = ["BreakerRegistry"]


class BreakerRegistry:
    """One ``CircuitBreaker`` per dependency name, built on first use (a registry, not a
    global: the composition root owns one per process)."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        store: BreakerStore | None = None,
        listener: BreakerListener | None = None,
        default_config: BreakerConfig | None = None,
        configs: Mapping[str, BreakerConfig] | None = None,
    ) -> None:
        """Create an empty registry.

        Args:
            clock: Shared by every breaker; the system clock when None.
            store: Shared by every breaker; one ``InMemoryBreakerStore`` when None.
            listener: Receives every breaker's events (they carry the name).
            default_config: For names without an entry in ``configs``.
            configs: Per-name configuration, e.g. a tighter cooldown for ``psp``.
        """
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._store: BreakerStore = (
            store if store is not None else InMemoryBreakerStore(self._clock)
        )
        self._listener = listener
        self._default_config = default_config if default_config is not None else BreakerConfig()
        self._configs = dict(configs or {})
        self._breakers: dict[str, CircuitBreaker] = {}

    def get_or_create(
        self, name: str, config: BreakerConfig | None = None, *, excluded: Excluded = ()
    ) -> CircuitBreaker:
        """The breaker for ``name``, built on first use.

        Args:
            name: The dependency's name.
            config: Its configuration; else the registry's entry for ``name``, else the default.
            excluded: Exceptions that do not count as failures (used when building).

        Returns:
            The one breaker registered under ``name``.

        Raises:
            ConfigurationError: If ``config`` differs from that of the existing breaker.
        """
        breaker = self._breakers.get(name)
        if breaker is not None:
            if config is not None and config != breaker.config:
                raise ConfigurationError(
                    "config", f"breaker {name!r} already exists with a different configuration"
                )
            return breaker
        resolved = config if config is not None else self._configs.get(name, self._default_config)
        breaker = CircuitBreaker(
            name,
            resolved,
            self._clock,
            store=self._store,
            listener=self._listener,
            excluded=excluded,
        )
        self._breakers[name] = breaker
        return breaker

    def get(self, name: str) -> CircuitBreaker | None:
        """The breaker registered under ``name``, or None."""
        return self._breakers.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._breakers

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(list(self._breakers.values()))

    def __len__(self) -> int:
        return len(self._breakers)

    async def snapshots(self) -> list[BreakerSnapshot]:
        """A snapshot of every breaker, sorted by name.

        Returns:
            The snapshots.

        Raises:
            BreakerStoreError: If a shared store cannot be read.
        """
        return [await self._breakers[name].snapshot() for name in sorted(self._breakers)]
