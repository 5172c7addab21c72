"""The rate limiter's ports: its algorithms, where its state lives, where its events go."""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

from bazaar.kernel.ratelimit.events import RateLimitEvent
from bazaar.kernel.ratelimit.policy import Decision, RateLimit

__all__ = ["LocalRateLimitStore", "RateLimitAlgorithm", "RateLimitListener", "RateLimitStore"]

S = TypeVar("S")


class RateLimitAlgorithm(Protocol[S]):
    """A pure rate-limit core for one ``RateLimit``; ``S`` is its per-key state."""

    @property
    def rate_limit(self) -> RateLimit: ...

    def apply(self, state: S | None, now: float, cost: int) -> tuple[Decision, S | None, float]:
        """Decide a request of ``cost`` units at ``now``.

        Args:
            state: The key's state from the previous call, or None.
            now: Epoch seconds.
            cost: Units the request takes; 0 peeks.

        Returns:
            The decision, the key's new state, and when that state expires.

        Raises:
            ValueError: If ``cost`` is negative or greater than the limit.
        """
        ...


@runtime_checkable
class RateLimitStore(Protocol):
    """Holds per-key rate-limit state and makes each decision atomically.

    Every adapter applies the pure cores of ``bazaar.kernel.ratelimit.algorithms``; the shared
    contract suite (``bazaar.testing.contracts.ratelimit``) holds them to it, concurrent
    callers included. State is keyed by (limit, key): the same key under two limits is two
    independent counters.
    """

    async def decide(self, limit: RateLimit, key: str, cost: int = 1) -> Decision:
        """Decide one request of ``cost`` units for ``key``, consuming them if admitted.

        Args:
            limit: The limit to apply.
            key: Whose allowance (an IP, an account, an API key).
            cost: Units the request takes, ``0..limit.limit``; 0 peeks without consuming.

        Returns:
            The decision.

        Raises:
            ValueError: If ``cost`` is out of range.
            RateLimitStoreError: If a shared store cannot be reached.
        """
        ...

    async def reset(self, limit: RateLimit, key: str) -> None:
        """Forget ``key``'s state under ``limit`` (e.g. a successful login clears failures).

        Raises:
            RateLimitStoreError: If a shared store cannot be reached.
        """
        ...


@runtime_checkable
class LocalRateLimitStore(Protocol):
    """Optional capability: the state lives in this process and decisions need no await.

    A ``RateLimiter`` built on such a store calls ``decide_now`` directly.
    """

    def decide_now(self, limit: RateLimit, key: str, cost: int = 1) -> Decision:
        """``RateLimitStore.decide``, synchronously."""
        ...


@runtime_checkable
class RateLimitListener(Protocol):
    """Receives the limiter's events (as pybreaker's ``CircuitBreakerListener``).

    Called inline on the caller's task: it must be quick and must not raise.
    """

    def on_event(self, event: RateLimitEvent) -> None: ...
