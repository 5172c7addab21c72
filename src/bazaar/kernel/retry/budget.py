"""A retry budget: retries to one dependency stay a fraction of the calls made to it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bazaar.kernel.clock import Clock
from bazaar.kernel.errors import ConfigurationError

__all__ = ["BudgetSnapshot", "RetryBudget"]


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """The counts a budget decides on, over its current window."""

    calls: int
    retries: int
    allowance: float


class RetryBudget:
    """Retry budget over a bucketed sliding window; one instance per dependency.

    Per-call retry limits alone multiply load during an outage: with 3 attempts, every
    caller sends three times its traffic to a dependency that is already failing. A budget
    bounds retries by the traffic itself: a retry is allowed only while

        retries_in_window + 1 <= ratio * calls_in_window + min_retries_per_window

    so at most ``ratio`` extra load (10 % by default) reaches a failing dependency, while
    the fixed allowance lets a quiet dependency still retry its occasional failure. This
    is Finagle's ``RetryBudget`` (percentCanRetry with minRetriesPerSec over a TTL; see
    twitter/finagle ``com.twitter.finagle.service.RetryBudget``) and the idea behind
    Envoy's ``retry_budget`` (budget_percent of active requests, min_retry_concurrency).

    Calls are first attempts only; retries spend the budget but do not refill it. The
    window is ``buckets`` slots of ``window_s / buckets`` seconds on the clock's monotonic
    time: the current slot and the ``buckets - 1`` before it. Slots age out whole, so the
    window's length is between ``window_s - window_s / buckets`` and ``window_s``.

    Not thread-safe: use one per event loop (the asyncio API is single-threaded).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        ratio: float = 0.1,
        window_s: float = 10.0,
        min_retries_per_window: int = 3,
        buckets: int = 10,
    ) -> None:
        """Create an empty budget.

        Args:
            clock: Where monotonic time comes from.
            ratio: Retries allowed per call in the window (0.1 = 10 %).
            window_s: The length of the sliding window, in seconds.
            min_retries_per_window: Retries allowed in any window regardless of traffic.
            buckets: How many slots the window is counted in (more = smoother, costlier).

        Raises:
            ConfigurationError: If an argument is negative, zero where it must be positive,
                or not finite.
        """
        if not (math.isfinite(ratio) and ratio >= 0):
            raise ConfigurationError("ratio", f"must be a finite number >= 0, got {ratio}")
        if not (math.isfinite(window_s) and window_s > 0):
            raise ConfigurationError("window_s", f"must be a finite number > 0, got {window_s}")
        if min_retries_per_window < 0:
            raise ConfigurationError(
                "min_retries_per_window", f"must be >= 0, got {min_retries_per_window}"
            )
        if buckets < 1:
            raise ConfigurationError("buckets", f"must be at least 1, got {buckets}")
        self._clock = clock
        self._ratio = ratio
        self._min = min_retries_per_window
        self._buckets = buckets
        self._bucket_s = window_s / buckets
        # Ring of slots; _slot_index[i] is the absolute bucket number slot i currently counts.
        self._slot_index: list[float] = [-math.inf] * buckets
        self._calls = [0] * buckets
        self._retries = [0] * buckets

    def record_call(self) -> None:
        """Count one call (a first attempt) towards the allowance."""
        self._calls[self._roll()[1]] += 1

    def try_acquire_retry(self) -> bool:
        """Spend one retry if the window's allowance has room.

        Returns:
            True if the retry may go ahead (and it is counted); False if the budget is spent.
        """
        index, slot = self._roll()
        calls, retries = self._totals(index)
        if retries + 1 > self._ratio * calls + self._min:
            return False
        self._retries[slot] += 1
        return True

    def snapshot(self) -> BudgetSnapshot:
        """The window's calls and retries and the retries it allows in all."""
        index, _ = self._roll()
        calls, retries = self._totals(index)
        return BudgetSnapshot(
            calls=calls, retries=retries, allowance=self._ratio * calls + self._min
        )

    def _roll(self) -> tuple[int, int]:
        """The current bucket number and its slot, emptied first if it held an older bucket."""
        index = math.floor(self._clock.monotonic() / self._bucket_s)
        slot = index % self._buckets
        if self._slot_index[slot] != index:
            self._slot_index[slot] = index
            self._calls[slot] = 0
            self._retries[slot] = 0
        return index, slot

    def _totals(self, index: int) -> tuple[int, int]:
        oldest = index - self._buckets + 1
        calls = retries = 0
        for slot in range(self._buckets):
            if self._slot_index[slot] >= oldest:
                calls += self._calls[slot]
                retries += self._retries[slot]
        return calls, retries
