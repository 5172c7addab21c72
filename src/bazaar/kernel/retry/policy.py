"""How often and how long to retry: the policy value and its full-jitter backoff."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.retry.ports import RandomSource

__all__ = ["RetryPolicy", "full_jitter"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in delay (a value object).

    Attributes:
        max_attempts: Attempts in all, the first included (1 means never retry).
        base_delay_s: The cap of the first retry's delay.
        max_delay_s: The cap no backoff delay exceeds, however many attempts came before.
        multiplier: How much the cap grows per attempt.
        max_retry_after_s: The longest ``Retry-After`` from a dependency that is honoured by
            waiting; a longer one ends the retries (``RETRY_AFTER_TOO_LONG``). None means
            ``max_delay_s``, so with the defaults no single wait ever exceeds ``max_delay_s``.
            Raise it for background work that can afford to wait, not for request paths.
    """

    max_attempts: int = 3
    base_delay_s: float = 0.1
    max_delay_s: float = 5.0
    multiplier: float = 2.0
    max_retry_after_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("max_attempts", f"must be at least 1, got {self.max_attempts}")
        _require_non_negative("base_delay_s", self.base_delay_s)
        _require_non_negative("max_delay_s", self.max_delay_s)
        if self.max_delay_s < self.base_delay_s:
            raise ConfigurationError(
                "max_delay_s",
                f"must be at least base_delay_s ({self.base_delay_s}), got {self.max_delay_s}",
            )
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1):
            raise ConfigurationError("multiplier", f"must be at least 1, got {self.multiplier}")
        if self.max_retry_after_s is not None:
            _require_non_negative("max_retry_after_s", self.max_retry_after_s)

    @property
    def retry_after_limit_s(self) -> float:
        """The longest dependency ``Retry-After`` this policy waits for."""
        return self.max_delay_s if self.max_retry_after_s is None else self.max_retry_after_s

    def backoff_cap(self, attempt: int) -> float:
        """The upper bound of the delay after failed attempt number ``attempt`` (from 1).

        ``min(max_delay_s, base_delay_s * multiplier ** (attempt - 1))``.

        Raises:
            ValueError: If ``attempt`` is less than 1.
        """
        if attempt < 1:
            raise ValueError(f"attempts are numbered from 1, got {attempt}")
        try:
            grown = self.base_delay_s * self.multiplier ** (attempt - 1)
        except OverflowError:  # float ** raises rather than returning inf
            return self.max_delay_s
        return min(self.max_delay_s, grown)


def full_jitter(policy: RetryPolicy, attempt: int, rng: RandomSource) -> float:
    """The delay after failed attempt ``attempt``: uniform in ``[0, policy.backoff_cap(attempt)]``.

    Full jitter spreads the retries of many clients that failed together over the whole
    interval instead of bunching them at its end, which is what re-creates the spike
    (Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015).

    Args:
        policy: The backoff bounds.
        attempt: The number of the attempt that just failed, from 1.
        rng: The randomness; a seeded ``random.Random`` in tests.

    Returns:
        Seconds to wait, within ``[0, cap]``.

    Raises:
        ValueError: If ``attempt`` is less than 1.
    """
    cap = policy.backoff_cap(attempt)
    # uniform(a, b) is a + (b - a) * random(), which rounding can push a hair past b.
    return min(cap, max(0.0, rng.uniform(0.0, cap)))


def _require_non_negative(key: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ConfigurationError(key, f"must be a finite number >= 0, got {value}")
