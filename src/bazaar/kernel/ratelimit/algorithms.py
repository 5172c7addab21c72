"""The five rate-limit algorithms as pure cores: state and time in, decision and state out.

Every core has the same interface (``ports.RateLimitAlgorithm``),
``apply(state, now, cost) -> (decision, state, expires_at)``:

* ``state`` is the algorithm's small immutable state for one key (None: never seen);
* ``now`` is epoch seconds; a ``now`` earlier than the state's own time is read as that time,
  so a clock stepping back never hands out a fresh allowance;
* ``cost`` is how many units the request takes, ``0..limit``; 0 is a pure peek that reports
  ``remaining`` without consuming and returns the state unchanged (``allowed`` and
  ``retry_after_s`` then answer for a request of cost 1);
* ``expires_at`` is the time after which the state is as good as fresh, so stores may drop it.

A rejected request never changes the state. The Redis scripts (``resources/*.lua``) mirror
these functions operation for operation, so both stores reach bit-identical decisions; keep
them in step (the contract suite compares them).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from bazaar.kernel.ratelimit.policy import Algorithm, Decision, RateLimit
from bazaar.kernel.ratelimit.ports import RateLimitAlgorithm

__all__ = [
    "MIN_RETRY_AFTER_S",
    "FixedWindow",
    "LeakyBucket",
    "SlidingLog",
    "SlidingWindowCounter",
    "TokenBucket",
    "core_for",
]

_floor = math.floor  # a module global: one lookup instead of two on every decision
# Decisions are built as the tuple they are, in ``Decision``'s field order (allowed, limit,
# remaining, reset_at, retry_after_s, delay_s, store_failed): a call of ``make_decision``
# costs ~70 ns more, a twentieth of a decision. The contract suite compares every field
# with the Redis store's decisions, built by ``make_decision``.
_new_tuple = tuple.__new__

# Reported when float rounding puts the solved retry time at or before now: a rejected caller
# must still be told to wait, however briefly.
MIN_RETRY_AFTER_S = 1e-6

# A window index is a float holding an integer (floor(now / period)): multiplied by the
# period on every decision, a float index costs half what an int one does (the int is
# converted first, and epoch-sized indexes are multi-digit ints), to the same bits.
FixedWindowState = tuple[float, int]  # (window index, units admitted in it)
SlidingLogState = tuple[float, ...]  # admission times of units, oldest first (some dead)
# (window index, previous window's units, current's), the counts as floats too (see apply)
SlidingWindowState = tuple[float, float, float]
BucketState = tuple[float, float]  # (tokens or queued units, when they were counted)


class _Core:
    __slots__ = ("_float_limit", "_limit", "_period", "_rate", "rate_limit")

    def __init__(self, rate_limit: RateLimit) -> None:
        self.rate_limit = rate_limit
        self._limit = rate_limit.limit
        self._float_limit = float(rate_limit.limit)
        self._period = rate_limit.period_s
        self._rate = rate_limit.limit / rate_limit.period_s


def _bad_cost(cost: int, limit: int) -> ValueError:
    return ValueError(f"cost must be between 0 and the limit {limit}, got {cost}")


class FixedWindow(_Core):
    """Fixed window counter: up to ``limit`` units per window ``floor(now / period)``.

    Cheap and exact per window, but a burst straddling a boundary can reach 2 x limit
    within one period. ``reset_at`` is the window's end.
    """

    __slots__ = ()

    def apply(
        self, state: FixedWindowState | None, now: float, cost: int
    ) -> tuple[Decision, FixedWindowState | None, float]:
        """See ``RateLimitAlgorithm.apply``."""
        limit = self._limit
        if not 0 <= cost <= limit:
            raise _bad_cost(cost, limit)
        window = now / self._period
        window -= window % 1.0  # floor, as a float (exact: see FixedWindowState)
        count = 0
        if state is not None and window <= state[0]:
            window, count = state
        window_end = (window + 1.0) * self._period
        allowed = count + (cost or 1) <= limit
        retry = 0.0
        if not allowed:
            retry = window_end - now
            if retry <= 0:
                retry = MIN_RETRY_AFTER_S
        elif cost:
            count += cost
            state = (window, count)
        decision = _new_tuple(
            Decision, (allowed, limit, limit - count, window_end, retry, 0.0, False)
        )
        return decision, state, window_end


class SlidingLog(_Core):
    """Sliding log: the admission time of every unit; a unit counts while ``now - t < period``.

    Exact, never more than ``limit`` units in any window of length ``period``, at the cost of
    memory and work proportional to the limit.
    """

    __slots__ = ()

    def apply(
        self, state: SlidingLogState | None, now: float, cost: int
    ) -> tuple[Decision, SlidingLogState | None, float]:
        """See ``RateLimitAlgorithm.apply``."""
        limit, period = self._limit, self._period
        if not 0 <= cost <= limit:
            raise _bad_cost(cost, limit)
        need = cost or 1
        log = state or ()
        if log and now < log[-1]:
            now = log[-1]
        start = bisect_right(log, now - period)
        count = len(log) - start
        allowed = count + need <= limit
        retry = 0.0
        if not allowed:
            # The oldest live units leave first: wait for the one whose departure makes room.
            retry = log[start + count + need - limit - 1] + period - now
            if retry <= 0:
                retry = MIN_RETRY_AFTER_S
        elif cost:
            # Dead entries are dropped only once they outnumber the live ones: appending to
            # the tuple as it is copies it once, slicing first would copy it twice.
            if start > count:
                log = log[start:]
            state = log = log + ((now,) if cost == 1 else (now,) * cost)
            count += cost
        reset_at = log[-1] + period if count else now
        decision = _new_tuple(
            Decision, (allowed, limit, limit - count, reset_at, retry, 0.0, False)
        )
        return decision, state, reset_at


class SlidingWindowCounter(_Core):
    """Sliding window counter: the previous window's count, weighted by how much of it still
    overlaps the sliding window, plus the current window's count.

    ``estimate = previous * (1 - elapsed / period) + current``; a request is admitted while
    ``estimate + cost <= limit``. Two counters per key, an approximation of the sliding log
    that assumes the previous window's requests were spread evenly; the current window alone
    never exceeds ``limit``. ``reset_at`` is when both counted windows have slid out.
    """

    __slots__ = ()

    def apply(
        self, state: SlidingWindowState | None, now: float, cost: int
    ) -> tuple[Decision, SlidingWindowState | None, float]:
        """See ``RateLimitAlgorithm.apply``."""
        limit, period = self._limit, self._period
        if not 0 <= cost <= limit:
            raise _bad_cost(cost, limit)
        # The arithmetic runs on floats only (the limit and the counts too): CPython's
        # float-float operations are specialised, mixed int-float ones are not, and this is
        # a third of a decision's time. Small integers are exact as floats, so the results
        # are the same bits (and the Lua script's, which has only doubles).
        float_limit = self._float_limit
        need = cost or 1
        window = now / period
        window -= window % 1.0  # floor, as a float (exact: see FixedWindowState)
        if state is None:
            previous = current = 0.0
        elif window <= state[0]:
            window, previous, current = state
        elif window == state[0] + 1:
            previous, current = state[2], 0.0
        else:
            previous = current = 0.0
        start = window * period
        elapsed = now - start
        if elapsed < 0:
            elapsed = 0.0
        weight = 1.0 - elapsed / period
        estimate = previous * weight + current
        # One branch per outcome, each computing only what it reports: a refusal is the
        # common case under a flood, and the cheapest.
        if estimate + need <= float_limit:
            allowed, retry = True, 0.0
            if cost:
                current += cost
                state = (window, previous, current)
                estimate = previous * weight + current
        else:
            allowed = False
            room = float_limit - need - current
            if room >= 0:
                # Admitted later in this window, once the previous window's weight has faded.
                retry = start + period * (1.0 - room / previous) - now
            else:
                # Admitted in the next window, once this window's count has faded enough.
                retry = (
                    (window + 1.0) * period + period * (1.0 - (float_limit - need) / current) - now
                )
            if retry <= 0:
                retry = MIN_RETRY_AFTER_S
        remaining = _floor(float_limit - estimate)
        if remaining < 0:
            remaining = 0
        if current:
            reset_at = (window + 2.0) * period
        elif previous:
            reset_at = (window + 1.0) * period
        else:
            reset_at = now
        decision = _new_tuple(Decision, (allowed, limit, remaining, reset_at, retry, 0.0, False))
        return decision, state, reset_at


class TokenBucket(_Core):
    """Token bucket: holds up to ``limit`` tokens, refills ``limit / period`` per second,
    starts full; a request takes ``cost`` tokens.

    A burst of ``limit`` at once, then the refill rate: over any interval T it admits at
    most ``limit + rate * T`` units.
    """

    __slots__ = ()

    def apply(
        self, state: BucketState | None, now: float, cost: int
    ) -> tuple[Decision, BucketState | None, float]:
        """See ``RateLimitAlgorithm.apply``."""
        limit, rate = self._limit, self._rate
        if not 0 <= cost <= limit:
            raise _bad_cost(cost, limit)
        need = cost or 1
        if state is None:
            tokens = float(limit)
        else:
            tokens, counted_at = state
            if now < counted_at:
                now = counted_at
            tokens = tokens + (now - counted_at) * rate
            if tokens > limit:
                tokens = float(limit)
        allowed = tokens >= need
        retry = 0.0
        if not allowed:
            retry = (need - tokens) / rate
            if retry <= 0:
                retry = MIN_RETRY_AFTER_S
        elif cost:
            tokens = tokens - cost
            state = (tokens, now)
        reset_at = now + (limit - tokens) / rate
        decision = _new_tuple(
            Decision, (allowed, limit, _floor(tokens), reset_at, retry, 0.0, False)
        )
        return decision, state, reset_at


class LeakyBucket(_Core):
    """Leaky bucket as a queue (metered outflow, GCRA): up to ``limit`` units wait in the
    queue, which drains at ``limit / period`` units per second; excess is rejected.

    An admitted request waits ``delay_s`` (the queue ahead of it divided by the drain rate)
    before it leaves, so departures are spaced at least ``period / limit`` apart: the output
    never exceeds the drain rate. Admissions match a token bucket's; the delay is the shaping.
    """

    __slots__ = ()

    def apply(
        self, state: BucketState | None, now: float, cost: int
    ) -> tuple[Decision, BucketState | None, float]:
        """See ``RateLimitAlgorithm.apply``."""
        limit, rate = self._limit, self._rate
        if not 0 <= cost <= limit:
            raise _bad_cost(cost, limit)
        need = cost or 1
        level = 0.0
        if state is not None:
            level, counted_at = state
            if now < counted_at:
                now = counted_at
            level = level - (now - counted_at) * rate
            if level < 0:
                level = 0.0
        allowed = level + need <= limit
        retry = delay = 0.0
        if not allowed:
            retry = (level + need - limit) / rate
            if retry <= 0:
                retry = MIN_RETRY_AFTER_S
        else:
            delay = level / rate
            if cost:
                level = level + cost
                state = (level, now)
        reset_at = now + level / rate
        remaining = _floor(limit - level)
        decision = _new_tuple(Decision, (allowed, limit, remaining, reset_at, retry, delay, False))
        return decision, state, reset_at


_CORES: dict[Algorithm, Callable[[RateLimit], RateLimitAlgorithm[Any]]] = {
    Algorithm.FIXED_WINDOW: FixedWindow,
    Algorithm.SLIDING_LOG: SlidingLog,
    Algorithm.SLIDING_WINDOW: SlidingWindowCounter,
    Algorithm.TOKEN_BUCKET: TokenBucket,
    Algorithm.LEAKY_BUCKET: LeakyBucket,
}


def core_for(rate_limit: RateLimit) -> RateLimitAlgorithm[Any]:
    """The pure core deciding ``rate_limit``.

    Args:
        rate_limit: The limit; its ``algorithm`` picks the class.

    Returns:
        A new core (cores are stateless beyond the limit, so sharing one is safe).
    """
    return _CORES[rate_limit.algorithm](rate_limit)
