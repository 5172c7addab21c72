"""The lease: a named, expiring right to act alone, with a fencing token; and its store port."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bazaar.kernel.errors import ConfigurationError

__all__ = ["Lease", "LeaseStore", "validate_ttl"]


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as the store granted it.

    ``token`` is the fencing token (Kleppmann, "How to do distributed locking", 2016): it
    grows strictly every time the lease is granted afresh (to another holder, or to the same
    holder after it expired or was released) and stays the same while the holder renews in
    time. Whatever the lease protects should remember the largest token it has seen and
    refuse writes carrying a smaller one, so a holder that paused past its expiry cannot
    overwrite its successor's work.

    ``expires_at`` is epoch seconds on the store's clock (the injected clock for the
    in-memory and SQL stores, the server's ``TIME`` for Redis); the lease is held while
    ``now < expires_at``.
    """

    name: str
    holder: str
    token: int
    expires_at: float

    def remaining_s(self, now: float) -> float:
        """Seconds left before expiry at ``now`` (0.0 once expired)."""
        return max(0.0, self.expires_at - now)


@runtime_checkable
class LeaseStore(Protocol):
    """Grants, renews and releases leases by name, each decision atomic in the store.

    Every adapter follows the same rules; the shared contract suite
    (``bazaar.testing.contracts.locks``) holds them to it:

    - at most one unexpired lease per name;
    - a lease that expired cannot be renewed, even if nobody took it since: expiry is loss,
      and the holder must ``acquire`` again (with a new, larger token);
    - release keeps the token counter, so tokens never repeat across releases.
    """

    async def acquire(self, name: str, holder: str, ttl_s: float) -> Lease | None:
        """Take the lease for ``ttl_s`` seconds, or renew it if ``holder`` already has it.

        Returns:
            The lease, or None while another holder's unexpired lease exists.

        Raises:
            LeaseStoreError: The store failed.
        """
        ...

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """Extend ``lease`` to ``ttl_s`` seconds from now, keeping its token.

        Returns:
            The extended lease, or None when it is lost (expired, released, or taken).

        Raises:
            LeaseStoreError: The store failed; the lease may still be held.
        """
        ...

    async def release(self, lease: Lease) -> None:
        """Give the lease up if it is still held by ``lease.holder`` with ``lease.token``.

        A stale lease (expired and taken by another, or already released) is a no-op.

        Raises:
            LeaseStoreError: The store failed; the lease then lapses at its expiry.
        """
        ...

    async def holder(self, name: str) -> Lease | None:
        """The unexpired lease on ``name``, if any."""
        ...


def validate_ttl(ttl_s: float, key: str = "ttl_s") -> float:
    """Check a lease duration, for stores and the keeper.

    Args:
        ttl_s: Seconds the lease should last.
        key: The argument's name, for the error.

    Returns:
        ``ttl_s`` as a float.

    Raises:
        ConfigurationError: If ``ttl_s`` is not a finite number of seconds > 0.
    """
    if not math.isfinite(ttl_s) or ttl_s <= 0:
        raise ConfigurationError(key, f"must be a finite number of seconds > 0, got {ttl_s}")
    return float(ttl_s)
