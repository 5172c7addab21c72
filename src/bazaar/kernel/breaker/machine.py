"""The breaker's pure decision core: the state machine over a bucketed sliding time window."""

from __future__ import annotations

import math

from bazaar.kernel.breaker.core import (
    Admission,
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
    Outcome,
    Permit,
    Transition,
    TransitionReason,
)
from bazaar.kernel.clock import Clock

__all__ = ["BreakerMachine", "bucket_end"]

_floor = math.floor
_nextafter = math.nextafter
_INF = math.inf
_CLOSED = BreakerState.CLOSED
_OPEN = BreakerState.OPEN
_HALF_OPEN = BreakerState.HALF_OPEN
_ALLOW = Admission.ALLOW
_PROBE = Admission.PROBE
_REJECT = Admission.REJECT
_SUCCESS = Outcome.SUCCESS
_FAILURE = Outcome.FAILURE
_CANCELLED = Outcome.CANCELLED


def bucket_end(index: int, bucket_s: float) -> float:
    """The first time that falls past window bucket ``index``.

    A time ``t`` is in bucket ``floor(t / bucket_s)`` (the rule the Redis script applies too).
    ``(index + 1) * bucket_s`` can round a hair either side of where that floor changes, so
    the product is stepped to the exact float boundary: then ``t >= bucket_end(i, w)`` holds
    exactly when ``floor(t / w) > i``, and the hot path compares instead of dividing.

    Args:
        index: A bucket index.
        bucket_s: Bucket width in seconds.

    Returns:
        The smallest float ``t`` with ``floor(t / bucket_s) > index``.
    """
    end = (index + 1) * bucket_s
    while _floor(end / bucket_s) <= index:
        end = _nextafter(end, _INF)
    while True:
        below = _nextafter(end, -_INF)
        if _floor(below / bucket_s) <= index:
            return end
        end = below


class BreakerMachine:
    """Circuit breaker state machine (Nygard's Circuit Breaker pattern); decides, never calls.

    Transitions::

        CLOSED    -> OPEN       failures / calls >= threshold over >= minimum_calls in the
                                window, or consecutive_failures failures in a row
        OPEN      -> HALF_OPEN  at the first acquire once cooldown_s has elapsed
        HALF_OPEN -> CLOSED     all half_open_probes probes succeeded (window reset)
        HALF_OPEN -> OPEN       a probe failed (the cooldown starts again)
        HALF_OPEN -> HALF_OPEN  no probe answered within cooldown_s: a new probe round

    ``acquire`` returns a ``Permit`` (ALLOW, PROBE or REJECT) and ``record`` takes it back with
    the call's outcome; both return the resulting ``Transition`` instead of raising or
    emitting, so a thin driver carries the decisions out. Intervals are read from
    ``clock.monotonic()``, ``opened_at`` from ``clock.now()``.

    The window is ``window_buckets`` time buckets; a time ``t`` falls in bucket
    ``floor(t / bucket_s)`` and the window holds the newest bucket seen and the ones before
    it. Running totals are kept, and a bucket is subtracted once, when time first moves past
    it, so recording is O(1) amortized. The newest bucket's counts live in plain attributes:
    a success while closed is one clock read, one comparison and one increment.

    Not thread-safe: it belongs to one event loop, where nothing runs between the statements
    of a method (none awaits), so it needs no lock.
    """

    __slots__ = (
        "_bucket_calls",
        "_bucket_failures",
        "_bucket_s",
        "_buckets",
        "_clock",
        "_config",
        "_consecutive",
        "_cooldown_s",
        "_failures",
        "_generation",
        "_half_opened_at",
        "_head",
        "_head_calls",
        "_head_ends_at",
        "_head_failures",
        "_max_consecutive",
        "_max_probes",
        "_min_calls",
        "_monotonic",
        "_older_calls",
        "_opened_at",
        "_opened_at_wall",
        "_probes_admitted",
        "_probes_succeeded",
        "_slow_limit",
        "_state",
        "_threshold",
        "closed_permit",
    )

    def __init__(self, config: BreakerConfig, clock: Clock) -> None:
        """Create a closed breaker with an empty window.

        Args:
            config: Thresholds, window and recovery settings.
            clock: Where time is read from.
        """
        self._config = config
        self._clock = clock
        self._monotonic = clock.monotonic
        # Copied out of the config: attribute chains cost on a path taken once per call.
        self._threshold = config.failure_rate_threshold
        self._min_calls = config.minimum_calls
        self._max_consecutive = config.consecutive_failures
        self._cooldown_s = config.cooldown_s
        self._max_probes = config.half_open_probes
        self._slow_limit = _INF if config.slow_call_s is None else config.slow_call_s
        self._bucket_s = config.bucket_s
        self._buckets = config.window_buckets
        # Older buckets by slot (index % buckets); the newest bucket is in _head_calls and
        # _head_failures until time moves past it. _older_calls sums the older buckets' calls,
        # _failures every bucket's failures: a success then touches a single counter.
        self._bucket_calls = [0] * self._buckets
        self._bucket_failures = [0] * self._buckets
        # Further back than the window spans, so the first reading starts from scratch.
        self._head = -self._buckets - 1
        self._head_ends_at = bucket_end(self._head, self._bucket_s)
        self._head_calls = 0
        self._head_failures = 0
        self._older_calls = 0
        self._failures = 0
        self._state = _CLOSED
        self._generation = 0
        self._consecutive = 0
        self._opened_at = 0.0
        self._opened_at_wall: float | None = None
        self._half_opened_at = 0.0
        self._probes_admitted = 0
        self._probes_succeeded = 0
        self.closed_permit: Permit | None = Permit(_ALLOW, 0)
        """While closed, the one permit every call of this generation gets; else None.

        Read-only for callers: a driver may take it instead of calling ``acquire`` (the
        same answer, one call cheaper). Shared, because all closed permits of a generation
        are alike, so the closed hot path builds no permit."""

    @property
    def config(self) -> BreakerConfig:
        """The configuration this machine runs on."""
        return self._config

    @property
    def state(self) -> BreakerState:
        """The current state, as of the last acquire or record."""
        return self._state

    @property
    def generation(self) -> int:
        """Counts transitions; permits from an older generation are ignored by ``record``."""
        return self._generation

    def acquire(self) -> Permit:
        """Decide whether a call may be made now.

        Returns:
            ALLOW while closed; PROBE for one of the ``half_open_probes`` half-open slots
            (the open -> half-open transition, if this acquire caused it, rides on the
            permit); REJECT otherwise, with the cooldown still to run.
        """
        state = self._state
        if state is _CLOSED:
            return self.closed_permit or Permit(_ALLOW, self._generation)
        now = self._monotonic()
        transition = None
        if state is _OPEN:
            remaining = self._opened_at + self._cooldown_s - now
            if remaining > 0:
                return Permit(_REJECT, self._generation, remaining)
            transition = self._half_open(now, TransitionReason.COOLDOWN_ELAPSED)
        elif now - self._half_opened_at >= self._cooldown_s:
            transition = self._half_open(now, TransitionReason.PROBE_ROUND_EXPIRED)
        if self._probes_admitted < self._max_probes:
            self._probes_admitted += 1
            return Permit(_PROBE, self._generation, 0.0, transition)
        return Permit(_REJECT, self._generation, 0.0, transition)

    def record(
        self, permit: Permit, outcome: Outcome, duration_s: float = 0.0
    ) -> Transition | None:
        """Report how an admitted call ended.

        Args:
            permit: The permit ``acquire`` returned for the call.
            outcome: SUCCESS, FAILURE or CANCELLED.
            duration_s: How long the call took; over ``slow_call_s`` a success is a failure.

        Returns:
            The transition the outcome caused, or None.
        """
        if permit is self.closed_permit and outcome is _SUCCESS and duration_s <= self._slow_limit:
            # The hot path: a success while closed, in the current generation.
            now = self._monotonic()
            if now >= self._head_ends_at:
                self._roll(now)
            self._head_calls += 1
            self._consecutive = 0
            # Only failures in the window can bring the rate to the threshold.
            return self._check_rate() if self._failures else None
        return self._record_other(permit, outcome, duration_s)

    def snapshot(self, name: str) -> BreakerSnapshot:
        """The state and window figures now, for the admin endpoint.

        Args:
            name: The name to put on the snapshot.

        Returns:
            A snapshot; ``opened_at`` is None while closed.
        """
        self._slide()
        calls = self._older_calls + self._head_calls
        return BreakerSnapshot(
            name=name,
            state=self._state,
            failure_rate=self._failures / calls if calls else 0.0,
            calls=calls,
            opened_at=None if self._state is _CLOSED else self._opened_at_wall,
            consecutive_failures=self._consecutive,
        )

    # --- outcomes off the hot path ---

    def _record_other(
        self, permit: Permit, outcome: Outcome, duration_s: float
    ) -> Transition | None:
        if permit.generation != self._generation:
            # Admitted before the last transition: it says nothing about the current phase
            # (a late failure must not count against a half-open round it was not part of).
            return None
        admission = permit.admission
        if outcome is _CANCELLED:
            if admission is _PROBE:
                self._probes_admitted -= 1
            return None
        failed = outcome is _FAILURE or duration_s > self._slow_limit
        if admission is _ALLOW:
            now = self._monotonic()
            if now >= self._head_ends_at:
                self._roll(now)
            self._head_calls += 1
            if not failed:
                self._consecutive = 0
                return self._check_rate() if self._failures else None
            self._head_failures += 1
            self._failures += 1
            self._consecutive += 1
            if self._consecutive >= self._max_consecutive:
                return self._open(TransitionReason.CONSECUTIVE_FAILURES)
            return self._check_rate()
        if admission is _PROBE:
            if failed:
                return self._open(TransitionReason.PROBE_FAILED)
            self._probes_succeeded += 1
            if self._probes_succeeded >= self._max_probes:
                return self._close()
        return None

    def _check_rate(self) -> Transition | None:
        calls = self._older_calls + self._head_calls
        if calls >= self._min_calls and self._failures / calls >= self._threshold:
            return self._open(TransitionReason.FAILURE_RATE)
        return None

    # --- transitions ---

    def _open(self, reason: TransitionReason) -> Transition:
        self._slide()
        calls = self._older_calls + self._head_calls
        rate = self._failures / calls if calls else 0.0
        transition = Transition(self._state, _OPEN, reason, rate, calls)
        self._state = _OPEN
        self._generation += 1
        self.closed_permit = None
        self._opened_at = self._monotonic()
        self._opened_at_wall = self._clock.now()
        return transition

    def _half_open(self, now: float, reason: TransitionReason) -> Transition:
        transition = Transition(self._state, _HALF_OPEN, reason)
        self._state = _HALF_OPEN
        self._generation += 1
        self._half_opened_at = now
        self._probes_admitted = 0
        self._probes_succeeded = 0
        return transition

    def _close(self) -> Transition:
        transition = Transition(_HALF_OPEN, _CLOSED, TransitionReason.PROBES_SUCCEEDED)
        self._state = _CLOSED
        self._generation += 1
        self._clear_window()
        self._consecutive = 0
        self.closed_permit = Permit(_ALLOW, self._generation)
        return transition

    # --- the window ---

    def _slide(self) -> None:
        now = self._monotonic()
        if now >= self._head_ends_at:
            self._roll(now)

    def _roll(self, now: float) -> None:
        """Make the bucket of ``now`` the newest, dropping those that left the window."""
        index = _floor(now / self._bucket_s)
        size = self._buckets
        if index - self._head >= size:
            self._clear_window()
        else:
            calls, failures = self._bucket_calls, self._bucket_failures
            slot = self._head % size
            calls[slot] = self._head_calls
            failures[slot] = self._head_failures
            self._older_calls += self._head_calls
            for bucket in range(self._head + 1, index + 1):
                slot = bucket % size
                self._older_calls -= calls[slot]
                self._failures -= failures[slot]
                calls[slot] = 0
                failures[slot] = 0
        self._head = index
        self._head_ends_at = bucket_end(index, self._bucket_s)
        self._head_calls = 0
        self._head_failures = 0

    def _clear_window(self) -> None:
        self._bucket_calls = [0] * self._buckets
        self._bucket_failures = [0] * self._buckets
        self._head_calls = 0
        self._head_failures = 0
        self._older_calls = 0
        self._failures = 0
