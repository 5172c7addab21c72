"""Property tests: the breaker against a plain reference model, over random call sequences."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.kernel.breaker import (
    Admission,
    BreakerClosed,
    BreakerConfig,
    BreakerHalfOpened,
    BreakerMachine,
    BreakerOpened,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    Outcome,
    Permit,
    Transition,
    TransitionReason,
)
from bazaar.kernel.clock import ManualClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
ALLOWED_TRANSITIONS = {
    (CLOSED, OPEN),
    (OPEN, HALF_OPEN),
    (HALF_OPEN, CLOSED),
    (HALF_OPEN, OPEN),
    (HALF_OPEN, HALF_OPEN),
}
SLOW_DURATION = 2.0  # what a "slow" call takes; slower than slow_call_s when that is set

configs = st.builds(
    BreakerConfig,
    failure_rate_threshold=st.sampled_from([0.25, 0.5, 0.75, 1.0]),
    minimum_calls=st.integers(1, 6),
    window_s=st.sampled_from([1.0, 2.0, 5.0]),
    window_buckets=st.sampled_from([1, 2, 5]),
    consecutive_failures=st.integers(1, 6),
    cooldown_s=st.sampled_from([1.0, 2.5, 5.0]),
    half_open_probes=st.integers(1, 3),
    slow_call_s=st.sampled_from([None, 1.0]),
)
# Failures weigh double and lists run long, so that most examples open the breaker, wait out
# cooldowns and run probe rounds, instead of idling in the closed state.
kinds = st.sampled_from(["success", "failure", "failure", "slow", "cancel"])
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("advance"),
            st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]) | st.floats(0.0, 7.0),
        ),
        st.tuples(st.just("call"), kinds),
        st.tuples(st.just("start"), kinds),
        st.tuples(st.just("finish"), st.integers(0, 20)),
    ),
    min_size=20,
    max_size=120,
)


@dataclass
class Model:
    """The breaker's rules written out plainly: lists instead of buckets, no shortcuts."""

    config: BreakerConfig
    state: BreakerState = CLOSED
    phase: int = 0  # bumped by every transition, like the machine's generation
    records: list[tuple[float, bool]] = field(default_factory=list)  # (time, failed)
    consecutive: int = 0
    opened_at: float = 0.0
    opened_at_wall: float | None = None
    half_opened_at: float = 0.0
    probes_admitted: int = 0
    probes_succeeded: int = 0

    def window(self, now: float) -> tuple[int, int]:
        width, buckets = (
            self.config.window_s / self.config.window_buckets,
            self.config.window_buckets,
        )
        newest = math.floor(now / width)
        inside = [failed for t, failed in self.records if math.floor(t / width) > newest - buckets]
        return len(inside), sum(inside)

    def acquire(self, now: float) -> tuple[Admission, tuple[object, ...] | None, float]:
        if self.state is CLOSED:
            return Admission.ALLOW, None, 0.0
        transition = None
        if self.state is OPEN:
            remaining = self.opened_at + self.config.cooldown_s - now
            if remaining > 0:
                return Admission.REJECT, None, remaining
            transition = self.half_open(now, TransitionReason.COOLDOWN_ELAPSED)
        elif now - self.half_opened_at >= self.config.cooldown_s:
            transition = self.half_open(now, TransitionReason.PROBE_ROUND_EXPIRED)
        if self.probes_admitted < self.config.half_open_probes:
            self.probes_admitted += 1
            return Admission.PROBE, transition, 0.0
        return Admission.REJECT, transition, 0.0

    def record(
        self, phase: int, admission: Admission, kind: str, now: float, wall: float
    ) -> tuple[object, ...] | None:
        if phase != self.phase:
            return None
        if kind == "cancel":
            if admission is Admission.PROBE:
                self.probes_admitted -= 1
            return None
        slow = self.config.slow_call_s
        failed = kind == "failure" or (kind == "slow" and slow is not None and slow < SLOW_DURATION)
        if admission is Admission.ALLOW:
            self.records.append((now, failed))
            self.consecutive = self.consecutive + 1 if failed else 0
            calls, failures = self.window(now)
            if failed and self.consecutive >= self.config.consecutive_failures:
                return self.open(now, wall, TransitionReason.CONSECUTIVE_FAILURES)
            if calls >= self.config.minimum_calls and failures / calls >= (
                self.config.failure_rate_threshold
            ):
                return self.open(now, wall, TransitionReason.FAILURE_RATE)
            return None
        if failed:
            return self.open(now, wall, TransitionReason.PROBE_FAILED)
        self.probes_succeeded += 1
        if self.probes_succeeded == self.config.half_open_probes:
            self.phase += 1
            self.state, self.records, self.consecutive = CLOSED, [], 0
            return (HALF_OPEN, CLOSED, TransitionReason.PROBES_SUCCEEDED)
        return None

    def open(self, now: float, wall: float, reason: TransitionReason) -> tuple[object, ...]:
        calls, failures = self.window(now)
        previous = self.state
        self.phase += 1
        self.state, self.opened_at, self.opened_at_wall = OPEN, now, wall
        return (previous, OPEN, reason, failures / calls if calls else 0.0, calls)

    def half_open(self, now: float, reason: TransitionReason) -> tuple[object, ...]:
        previous = self.state
        self.phase += 1
        self.state, self.half_opened_at = HALF_OPEN, now
        self.probes_admitted = self.probes_succeeded = 0
        return (previous, HALF_OPEN, reason)


def seen(transition: Transition | None) -> tuple[object, ...] | None:
    if transition is None:
        return None
    if transition.to_state is OPEN:
        return (
            transition.from_state,
            transition.to_state,
            transition.reason,
            transition.failure_rate,
            transition.calls,
        )
    return (transition.from_state, transition.to_state, transition.reason)


@dataclass
class InFlight:
    permit: Permit
    phase: int
    kind: str


class TestBreakerMachineProperties:
    @settings(max_examples=200, deadline=None)
    @given(config=configs, script=steps)
    def test_the_machine_decides_exactly_as_the_reference_model(
        self, config: BreakerConfig, script: list[tuple[str, object]]
    ) -> None:
        clock = ManualClock(start=1_700_000_000.0)
        machine = BreakerMachine(config, clock)
        model = Model(config)
        in_flight: list[InFlight] = []

        def admit(kind: str) -> InFlight | None:
            now = clock.monotonic()
            cooling = model.state is OPEN and model.opened_at + config.cooldown_s - now > 0
            permit = machine.acquire()
            admission, transition, retry_after = model.acquire(now)
            assert permit.admission is admission
            assert seen(permit.transition) == transition
            if cooling:  # never admits while open before the cooldown has run
                assert permit.admission is Admission.REJECT
                assert permit.retry_after_s == retry_after
            if permit.transition is not None:
                t = permit.transition
                assert (t.from_state, t.to_state) in ALLOWED_TRANSITIONS
            if admission is Admission.REJECT:
                return None
            return InFlight(permit, model.phase, kind)

        def finish(call: InFlight) -> None:
            outcome = {"cancel": Outcome.CANCELLED, "failure": Outcome.FAILURE}.get(
                call.kind, Outcome.SUCCESS
            )
            duration = SLOW_DURATION if call.kind == "slow" else 0.0
            transition = machine.record(call.permit, outcome, duration)
            expected = model.record(
                call.phase, call.permit.admission, call.kind, clock.monotonic(), clock.now()
            )
            assert seen(transition) == expected
            if transition is not None:
                assert (transition.from_state, transition.to_state) in ALLOWED_TRANSITIONS

        for action, argument in script:
            if action == "advance":
                assert isinstance(argument, float)
                clock.advance(argument)
            elif action == "call":
                assert isinstance(argument, str)
                call = admit(argument)
                if call is not None:
                    finish(call)
            elif action == "start":
                assert isinstance(argument, str)
                call = admit(argument)
                if call is not None:
                    in_flight.append(call)
            elif in_flight:
                assert isinstance(argument, int)
                finish(in_flight.pop(argument % len(in_flight)))

            probes = [c for c in in_flight if c.phase == model.phase and model.state is HALF_OPEN]
            assert len(probes) <= config.half_open_probes
            calls, failures = model.window(clock.monotonic())
            snapshot = machine.snapshot("dep")
            assert snapshot.state is machine.state is model.state
            assert (snapshot.calls, snapshot.consecutive_failures) == (calls, model.consecutive)
            assert snapshot.failure_rate == (failures / calls if calls else 0.0)
            assert snapshot.opened_at == (None if model.state is CLOSED else model.opened_at_wall)


class StateTracker:
    """A listener that follows the breaker's state from its events alone."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.state = CLOSED
        self.opened_at = 0.0
        self.transitions: list[tuple[BreakerState, BreakerState]] = []

    def on_event(self, event: object) -> None:
        target = {BreakerOpened: OPEN, BreakerHalfOpened: HALF_OPEN, BreakerClosed: CLOSED}.get(
            type(event)
        )
        if target is None:
            return
        self.transitions.append((self.state, target))
        self.state = target
        if target is OPEN:
            self.opened_at = self.clock.monotonic()


class TestCircuitBreakerProperties:
    @settings(max_examples=150, deadline=None)
    @given(
        calls=st.lists(
            st.tuples(st.sampled_from(["ok", "error", "slow"]), st.floats(0.0, 3.0)), max_size=60
        )
    )
    def test_the_dependency_is_never_called_while_open_before_the_cooldown(
        self, calls: list[tuple[str, float]]
    ) -> None:
        config = BreakerConfig(
            minimum_calls=4, window_s=5.0, consecutive_failures=3, cooldown_s=4.0, slow_call_s=1.0
        )
        clock = ManualClock(start=1_700_000_000.0)
        tracker = StateTracker(clock)
        breaker = CircuitBreaker("dep", config, clock, listener=tracker)
        for kind, pause in calls:
            clock.advance(pause)
            now = clock.monotonic()
            cooling = tracker.state is OPEN and tracker.opened_at + config.cooldown_s - now > 0
            called = False
            try:
                with breaker.guard():
                    called = True
                    if kind == "slow":
                        clock.advance(1.5)
                    elif kind == "error":
                        raise ConnectionError("down")
            except (ConnectionError, CircuitOpenError):
                pass
            assert not (cooling and called)
        assert set(tracker.transitions) <= ALLOWED_TRANSITIONS
