"""Typed events a cache emits to its listener (metrics, logs and spans live elsewhere)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "CacheEvent",
    "CacheEvicted",
    "CacheHit",
    "CacheInvalidated",
    "CacheLoadFailed",
    "CacheLoaded",
    "CacheMiss",
    "CacheRefreshedEarly",
    "CacheStaleServed",
    "CacheStoreFailed",
    "Layer",
]


class Layer(enum.Enum):
    """Which layer answered a hit."""

    L1 = "l1"  # this process's LRU
    L2 = "l2"  # the shared store (Redis)


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A read found a fresh copy in ``layer``."""

    cache: str
    layer: Layer


@dataclass(frozen=True, slots=True)
class CacheMiss:
    """A read found no fresh copy in any layer and went to the loader (or joined its run)."""

    cache: str


@dataclass(frozen=True, slots=True)
class CacheStaleServed:
    """The loader failed with ``error`` (a class name); the last copy was served instead."""

    cache: str
    error: str


@dataclass(frozen=True, slots=True)
class CacheLoaded:
    """One loader run finished in ``duration_s``; ``found`` is False for a negative entry."""

    cache: str
    duration_s: float
    found: bool


@dataclass(frozen=True, slots=True)
class CacheLoadFailed:
    """One loader run raised ``error`` (a class name)."""

    cache: str
    error: str


@dataclass(frozen=True, slots=True)
class CacheRefreshedEarly:
    """XFetch chose to reload a key before it expired; readers keep the cached copy meanwhile."""

    cache: str


@dataclass(frozen=True, slots=True)
class CacheEvicted:
    """The L1 dropped ``count`` fresh entries to stay within its size bound.

    Entries that expire or are invalidated are not evictions.
    """

    cache: str
    count: int


@dataclass(frozen=True, slots=True)
class CacheStoreFailed:
    """The L2, the load lock or the bus failed at ``operation``; the cache went on without it.

    ``error`` is the class name of the underlying driver exception (``ConnectionError``), or
    of the store error itself when nothing is chained. ``cache`` is ``"*"`` for an
    invalidation bus, which serves every cache of the process.
    """

    cache: str
    operation: str
    error: str


@dataclass(frozen=True, slots=True)
class CacheInvalidated:
    """``keys`` keys were dropped, by this process (``remote=False``) or by a bus message."""

    cache: str
    keys: int
    remote: bool


CacheEvent = (
    CacheHit
    | CacheMiss
    | CacheStaleServed
    | CacheLoaded
    | CacheLoadFailed
    | CacheRefreshedEarly
    | CacheEvicted
    | CacheStoreFailed
    | CacheInvalidated
)
