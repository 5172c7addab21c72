"""The cache's value types: how long entries live (``CachePolicy``) and what a read answers."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from bazaar.kernel.cache.errors import CacheConfigurationError

__all__ = ["CachePolicy", "CacheRead", "CacheStatus"]

V = TypeVar("V")


class CacheStatus(enum.Enum):
    """Where a read's value came from."""

    HIT = "HIT"  # a fresh copy in L1 or L2
    MISS = "MISS"  # no fresh copy: the loader ran (here or in another process)
    STALE = "STALE"  # the loader failed; an expired copy within the stale window was served


@dataclass(frozen=True, slots=True)
class CacheRead(Generic[V]):
    """A read's answer: ``value`` is None for a key the loader did not find (negative entry)."""

    value: V | None
    status: CacheStatus


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How a ``LayeredCache`` keeps its entries.

    Attributes:
        ttl_s: How long a loaded value is fresh (before jitter).
        negative_ttl_s: How long "not found" is remembered; 0 remembers nothing.
        stale_ttl_s: How long past expiry a copy is kept, to be served (STALE) if the
            loader fails; 0 keeps none.
        jitter: Each TTL is shortened by a random fraction of up to this, in ``[0, 1)``, so
            keys written together do not expire together.
        early_beta: XFetch eagerness (1.0 is the paper's optimum); 0 disables early refresh.
        lock_ttl_s: How long the cross-process load lock is held at most (bounds the harm
            of a crashed loader).
        lock_wait_s: How long a process waits for another's load (polling L2) before it
            loads anyway.
        l1_ttl_s: The longest an entry stays in this process's L1, shorter than ``ttl_s``
            when other processes may change it and the bus may miss a message; None: as
            long as it is fresh (and stale-servable).
        lock_poll_s: How often a waiting process looks in L2 for the other's result.

    Raises:
        CacheConfigurationError: On construction, naming the field at fault.
    """

    ttl_s: float
    negative_ttl_s: float
    stale_ttl_s: float = 0.0
    jitter: float = 0.1
    early_beta: float = 1.0
    lock_ttl_s: float = 5.0
    lock_wait_s: float = 1.0
    l1_ttl_s: float | None = None
    lock_poll_s: float = 0.05

    def __post_init__(self) -> None:
        _check("ttl_s", self.ttl_s, positive=True)
        _check("negative_ttl_s", self.negative_ttl_s)
        _check("stale_ttl_s", self.stale_ttl_s)
        _check("early_beta", self.early_beta)
        _check("lock_ttl_s", self.lock_ttl_s, positive=True)
        _check("lock_wait_s", self.lock_wait_s)
        _check("lock_poll_s", self.lock_poll_s, positive=True)
        if self.l1_ttl_s is not None:
            _check("l1_ttl_s", self.l1_ttl_s, positive=True)
        _check("jitter", self.jitter)
        if self.jitter >= 1.0:
            raise CacheConfigurationError("jitter", f"must be below 1, got {self.jitter!r}")


def _check(name: str, value: object, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CacheConfigurationError(name, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise CacheConfigurationError(name, f"must be finite, got {value!r}")
    if positive and value <= 0:
        raise CacheConfigurationError(name, f"must be above 0, got {value!r}")
    if value < 0:
        raise CacheConfigurationError(name, f"must not be negative, got {value!r}")
