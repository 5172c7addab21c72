"""Value types of the circuit breaker: states, decisions, outcomes, configuration, snapshots."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import TypeGuard

from bazaar.kernel.errors import ConfigurationError

__all__ = [
    "MAX_WINDOW_BUCKETS",
    "Admission",
    "BreakerConfig",
    "BreakerSnapshot",
    "BreakerState",
    "Outcome",
    "Permit",
    "Transition",
    "TransitionReason",
]

# The Redis script sums every bucket on each recorded outcome; this keeps that bounded.
MAX_WINDOW_BUCKETS = 1000


class BreakerState(enum.Enum):
    """Where a breaker is in its cycle; ``gauge_value`` is the api.md metric encoding."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    @property
    def gauge_value(self) -> int:
        """The ``bazaar_breaker_state`` value: 0 closed, 1 half-open, 2 open."""
        return _GAUGE_VALUES[self]


_GAUGE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class Admission(enum.Enum):
    """What the breaker decided about one call."""

    ALLOW = "allow"  # closed: make the call and report its outcome
    PROBE = "probe"  # half-open: make the call as one of the probes that decide the state
    REJECT = "reject"  # open, or every probe slot taken: do not make the call


class Outcome(enum.Enum):
    """How a call ended, as reported back to the breaker."""

    SUCCESS = "success"
    FAILURE = "failure"
    # Not the dependency's fault (task cancelled, process stopping): neither success nor
    # failure, but a half-open probe slot it held is given back.
    CANCELLED = "cancelled"


class TransitionReason(enum.Enum):
    """Why the breaker changed state."""

    FAILURE_RATE = "failure_rate"  # closed -> open
    CONSECUTIVE_FAILURES = "consecutive_failures"  # closed -> open
    PROBE_FAILED = "probe_failed"  # half-open -> open
    COOLDOWN_ELAPSED = "cooldown_elapsed"  # open -> half-open
    PROBES_SUCCEEDED = "probes_succeeded"  # half-open -> closed
    # half-open -> half-open: no probe reported within a cooldown (caller hung, process
    # died holding the permit), so the round starts over instead of staying stuck.
    PROBE_ROUND_EXPIRED = "probe_round_expired"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """When a breaker opens and how it recovers (defaults: capabilities.md §4.3).

    Attributes:
        failure_rate_threshold: Open when failures / calls in the window reach this (0, 1].
        minimum_calls: ...but only once the window holds at least this many calls.
        window_s: Length of the sliding time window, in seconds.
        consecutive_failures: Also open after this many failures in a row, window or not.
        cooldown_s: How long an open breaker rejects before admitting probes; also how long
            a half-open probe round may go unanswered before it starts over.
        half_open_probes: Probe calls admitted concurrently when half-open; all must succeed
            to close, any failure reopens.
        slow_call_s: A call slower than this counts as a failure; None disables.
        window_buckets: The window is kept as this many equal time buckets; a call leaves
            the window when its whole bucket does, so the window is exact to one bucket.

    Raises:
        ConfigurationError: On construction, naming the first field it cannot work with.
    """

    failure_rate_threshold: float = 0.5
    minimum_calls: int = 10
    window_s: float = 10.0
    consecutive_failures: int = 5
    cooldown_s: float = 30.0
    half_open_probes: int = 1
    slow_call_s: float | None = None
    window_buckets: int = 10

    def __post_init__(self) -> None:
        rate = self.failure_rate_threshold
        if not _is_number(rate) or not 0.0 < rate <= 1.0:
            raise ConfigurationError("failure_rate_threshold", f"must be in (0, 1], got {rate!r}")
        _require_positive_int("minimum_calls", self.minimum_calls)
        _require_positive_seconds("window_s", self.window_s)
        _require_positive_int("consecutive_failures", self.consecutive_failures)
        # A zero cooldown would also make every half-open round expire at once, admitting
        # unlimited probes.
        _require_positive_seconds("cooldown_s", self.cooldown_s)
        _require_positive_int("half_open_probes", self.half_open_probes)
        if self.slow_call_s is not None:
            _require_positive_seconds("slow_call_s", self.slow_call_s)
        _require_positive_int("window_buckets", self.window_buckets)
        if self.window_buckets > MAX_WINDOW_BUCKETS:
            raise ConfigurationError(
                "window_buckets",
                f"must be at most {MAX_WINDOW_BUCKETS}, got {self.window_buckets}",
            )

    @property
    def bucket_s(self) -> float:
        """Width of one window bucket, in seconds."""
        return self.window_s / self.window_buckets


class Permit:
    """The breaker's answer to one admission request, and the token to report its outcome with.

    A permit remembers the state generation it was issued in: an outcome reported after the
    breaker has moved on (a call admitted while closed that ends after it opened) is ignored.

    Attributes:
        admission: ALLOW, PROBE or REJECT.
        generation: The state generation the permit belongs to.
        retry_after_s: For REJECT, the cooldown still to run (0.0 while probes are deciding).
        transition: The state change this admission caused (open -> half-open), if any.
    """

    # A plain slotted class, not a dataclass: the closed-state permit is cached and shared,
    # and the others are built on the slow path, so immutability by convention suffices.
    __slots__ = ("admission", "generation", "retry_after_s", "transition")

    def __init__(
        self,
        admission: Admission,
        generation: int,
        retry_after_s: float = 0.0,
        transition: Transition | None = None,
    ) -> None:
        self.admission = admission
        self.generation = generation
        self.retry_after_s = retry_after_s
        self.transition = transition

    def __repr__(self) -> str:
        return (
            f"Permit({self.admission.name}, generation={self.generation}, "
            f"retry_after_s={self.retry_after_s!r}, transition={self.transition!r})"
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change, with the window figures at the moment it happened.

    Attributes:
        from_state: The state left.
        to_state: The state entered (equal to ``from_state`` for an expired probe round).
        reason: Why.
        failure_rate: Failures / calls in the window when it happened (0.0 if no calls).
        calls: Calls in the window when it happened.
    """

    from_state: BreakerState
    to_state: BreakerState
    reason: TransitionReason
    failure_rate: float = 0.0
    calls: int = 0


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """A breaker's state for the admin endpoint and the console.

    Attributes:
        name: The dependency the breaker guards.
        state: CLOSED, OPEN or HALF_OPEN.
        failure_rate: Failures / calls in the current window (0.0 if no calls).
        calls: Calls in the current window.
        opened_at: Wall-clock epoch seconds of the last opening; None while closed.
        consecutive_failures: Failures in a row since the last success while closed.
    """

    name: str
    state: BreakerState
    failure_rate: float
    calls: int
    opened_at: float | None
    consecutive_failures: int


def _is_number(value: object) -> TypeGuard[float]:
    # bool is an int subclass; True as a threshold is a mistake, not 1.0.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require_positive_int(key: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(key, f"must be an integer of at least 1, got {value!r}")


def _require_positive_seconds(key: str, value: object) -> None:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(key, f"must be a finite number of seconds above 0, got {value!r}")
