"""In-process lease store: for tests and single-process deployments, on an injected clock."""

from __future__ import annotations

from dataclasses import replace

from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.locks.ports import Lease, validate_ttl

__all__ = ["InMemoryLeaseStore"]


class InMemoryLeaseStore:
    """Leases in a dict, decided without awaiting anything (implements ``LeaseStore``).

    Each method runs to completion without yielding to the event loop, so concurrent tasks
    of one process see every decision as atomic. Tokens come from a per-name counter that
    outlives releases, as in the shared stores.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        """Create an empty store.

        Args:
            clock: Where ``now()`` comes from; the system clock by default.
        """
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._leases: dict[str, Lease] = {}
        self._tokens: dict[str, int] = {}

    async def acquire(self, name: str, holder: str, ttl_s: float) -> Lease | None:
        """See ``LeaseStore.acquire``."""
        ttl_s = validate_ttl(ttl_s)
        now = self._clock.now()
        current = self._live(name, now)
        if current is not None:
            if current.holder != holder:
                return None
            renewed = replace(current, expires_at=now + ttl_s)
            self._leases[name] = renewed
            return renewed
        token = self._tokens.get(name, 0) + 1
        self._tokens[name] = token
        lease = Lease(name=name, holder=holder, token=token, expires_at=now + ttl_s)
        self._leases[name] = lease
        return lease

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """See ``LeaseStore.renew``."""
        ttl_s = validate_ttl(ttl_s)
        now = self._clock.now()
        current = self._live(lease.name, now)
        if current is None or (current.holder, current.token) != (lease.holder, lease.token):
            return None
        renewed = replace(current, expires_at=now + ttl_s)
        self._leases[lease.name] = renewed
        return renewed

    async def release(self, lease: Lease) -> None:
        """See ``LeaseStore.release``."""
        current = self._leases.get(lease.name)
        if current is not None and (current.holder, current.token) == (lease.holder, lease.token):
            del self._leases[lease.name]

    async def holder(self, name: str) -> Lease | None:
        """See ``LeaseStore.holder``."""
        return self._live(name, self._clock.now())

    def _live(self, name: str, now: float) -> Lease | None:
        lease = self._leases.get(name)
        if lease is None or lease.expires_at <= now:
            return None
        return lease
