"""Typed events a rate limiter emits to its listener (metrics, logs and spans live elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.kernel.ratelimit.policy import FailureMode

__all__ = ["RateLimitEvent", "RequestAdmitted", "RequestLimited", "StoreFailed"]


@dataclass(frozen=True, slots=True)
class RequestAdmitted:
    """The limiter named ``limiter`` admitted a request for ``key``."""

    limiter: str
    key: str


@dataclass(frozen=True, slots=True)
class RequestLimited:
    """The limiter refused a request for ``key``; it may come back after ``retry_after_s``."""

    limiter: str
    key: str
    retry_after_s: float


@dataclass(frozen=True, slots=True)
class StoreFailed:
    """The store could not decide; the limiter answered by its ``failure_mode`` instead.

    ``error`` is the class name of the underlying driver exception (``ConnectionError``),
    or of the store error itself when nothing is chained.
    """

    limiter: str
    error: str
    failure_mode: FailureMode


RateLimitEvent = RequestAdmitted | RequestLimited | StoreFailed
