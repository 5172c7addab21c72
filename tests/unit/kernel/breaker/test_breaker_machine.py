"""Tests for the pure breaker core: every transition, the sliding window and stale permits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.kernel.breaker import (
    Admission,
    BreakerConfig,
    BreakerMachine,
    BreakerState,
    Outcome,
    Permit,
    Transition,
    TransitionReason,
)
from bazaar.kernel.breaker.machine import bucket_end
from bazaar.kernel.clock import ManualClock

START = 1_700_000_000.0
S, F, C = Outcome.SUCCESS, Outcome.FAILURE, Outcome.CANCELLED
CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def make(**overrides: object) -> tuple[BreakerMachine, ManualClock]:
    clock = ManualClock(start=START)
    return BreakerMachine(BreakerConfig(**overrides), clock), clock  # type: ignore[arg-type]


def run(machine: BreakerMachine, outcomes: str, duration_s: float = 0.0) -> list[Transition]:
    """One admitted call per letter: s success, f failure."""
    transitions = []
    for letter in outcomes:
        permit = machine.acquire()
        assert permit.admission is not Admission.REJECT
        transition = machine.record(permit, S if letter == "s" else F, duration_s)
        if transition is not None:
            transitions.append(transition)
    return transitions


def open_machine(**overrides: object) -> tuple[BreakerMachine, ManualClock]:
    machine, clock = make(**{"minimum_calls": 100, "consecutive_failures": 3, **overrides})
    run(machine, "fff")
    assert machine.state is OPEN
    return machine, clock


class TestClosed:
    def test_a_new_breaker_is_closed_and_allows(self) -> None:
        machine, _ = make()
        permit = machine.acquire()
        assert machine.state is CLOSED
        assert permit.admission is Admission.ALLOW
        assert permit is machine.closed_permit

    def test_opens_when_the_rate_reaches_the_threshold_over_minimum_calls(self) -> None:
        machine, _ = make(consecutive_failures=100)
        assert run(machine, "sf" * 5) == [
            Transition(CLOSED, OPEN, TransitionReason.FAILURE_RATE, 0.5, 10)
        ]
        assert machine.state is OPEN
        assert machine.closed_permit is None

    def test_stays_closed_below_minimum_calls(self) -> None:
        machine, _ = make(consecutive_failures=100)
        assert run(machine, "f" * 9) == []
        assert machine.state is CLOSED

    def test_stays_closed_below_the_threshold(self) -> None:
        machine, _ = make(consecutive_failures=100)
        assert run(machine, "sssfsssfsssfsssf") == []

    def test_the_rate_is_checked_after_every_outcome_including_successes(self) -> None:
        # 5 failures in 9 calls is below minimum_calls; the 10th call, a success, completes
        # the minimum at exactly the threshold.
        machine, _ = make(consecutive_failures=100)
        assert run(machine, "fsfsfsfsf") == []
        assert [t.reason for t in run(machine, "s")] == [TransitionReason.FAILURE_RATE]

    def test_opens_on_consecutive_failures(self) -> None:
        machine, _ = make(minimum_calls=100)
        assert run(machine, "ffff") == []
        [transition] = run(machine, "f")
        assert (transition.to_state, transition.reason) == (
            OPEN,
            TransitionReason.CONSECUTIVE_FAILURES,
        )
        assert (transition.calls, transition.failure_rate) == (5, 1.0)

    def test_a_success_resets_the_consecutive_count(self) -> None:
        machine, _ = make(minimum_calls=100)
        assert run(machine, "ffffsffff") == []
        assert machine.snapshot("x").consecutive_failures == 4

    def test_a_call_slower_than_slow_call_s_is_a_failure(self) -> None:
        machine, _ = make(minimum_calls=100, consecutive_failures=2, slow_call_s=1.0)
        assert run(machine, "ss", duration_s=1.0) == []  # not slower: successes
        assert [t.reason for t in run(machine, "ss", duration_s=1.01)] == [
            TransitionReason.CONSECUTIVE_FAILURES
        ]

    def test_a_cancelled_call_counts_nothing(self) -> None:
        machine, _ = make(minimum_calls=1, consecutive_failures=1)
        assert machine.record(machine.acquire(), C) is None
        snapshot = machine.snapshot("x")
        assert (snapshot.state, snapshot.calls) == (CLOSED, 0)

    def test_a_permit_built_for_the_current_generation_is_honoured(self) -> None:
        machine, _ = make(minimum_calls=100, consecutive_failures=1)
        assert machine.record(Permit(Admission.ALLOW, machine.generation), F) is not None


class TestWindow:
    def test_calls_leave_the_window_with_their_bucket(self) -> None:
        machine, clock = make(consecutive_failures=100)  # 10 s window of 1 s buckets
        run(machine, "ffff")
        clock.advance(9.999)
        assert machine.snapshot("x").calls == 4
        clock.advance(0.001)
        assert machine.snapshot("x").calls == 0

    def test_the_rate_covers_only_the_window(self) -> None:
        machine, clock = make(consecutive_failures=100)
        run(machine, "ffffff")
        clock.advance(5.0)
        run(machine, "ssss")
        assert machine.snapshot("x").failure_rate == 0.6
        clock.advance(5.0)  # the failures' bucket has left
        snapshot = machine.snapshot("x")
        assert (snapshot.calls, snapshot.failure_rate) == (4, 0.0)

    def test_a_jump_longer_than_the_window_clears_it(self) -> None:
        machine, clock = make(consecutive_failures=100)
        run(machine, "ff")
        clock.advance(3600.0)
        run(machine, "s")
        assert machine.snapshot("x").calls == 1

    def test_buckets_slide_one_at_a_time(self) -> None:
        machine, clock = make(consecutive_failures=100, window_s=3.0, window_buckets=3)
        for letters in ("f", "ff", "fff"):
            run(machine, letters)
            clock.advance(1.0)
        # At 3 s the window holds buckets 1 and 2 (and the empty bucket 3).
        assert machine.snapshot("x").calls == 5
        clock.advance(1.0)
        assert machine.snapshot("x").calls == 3

    @given(
        index=st.integers(min_value=-(10**6), max_value=10**12),
        bucket_s=st.floats(min_value=1e-3, max_value=1e4),
    )
    def test_bucket_end_is_the_exact_first_time_past_the_bucket(
        self, index: int, bucket_s: float
    ) -> None:
        end = bucket_end(index, bucket_s)
        assert math.floor(end / bucket_s) > index
        assert math.floor(math.nextafter(end, -math.inf) / bucket_s) <= index


class TestOpen:
    def test_rejects_with_the_cooldown_left(self) -> None:
        machine, clock = open_machine()
        clock.advance(10.0)
        permit = machine.acquire()
        assert permit.admission is Admission.REJECT
        assert permit.retry_after_s == 20.0

    def test_records_when_it_opened_on_the_wall_clock(self) -> None:
        machine, clock = make(minimum_calls=100, consecutive_failures=3)
        clock.advance(7.0)
        run(machine, "fff")
        assert machine.snapshot("x").opened_at == START + 7.0

    def test_half_opens_at_the_first_acquire_after_the_cooldown(self) -> None:
        machine, clock = open_machine()
        clock.advance(29.999)
        assert machine.acquire().admission is Admission.REJECT
        clock.advance(0.001)
        assert machine.state is OPEN  # transitions happen on acquire, not on their own
        permit = machine.acquire()
        assert permit.admission is Admission.PROBE
        assert permit.transition == Transition(OPEN, HALF_OPEN, TransitionReason.COOLDOWN_ELAPSED)
        assert machine.state is HALF_OPEN


class TestHalfOpen:
    def half_open(self, probes: int = 3) -> tuple[BreakerMachine, ManualClock]:
        machine, clock = open_machine(half_open_probes=probes)
        clock.advance(30.0)
        return machine, clock

    def test_admits_exactly_the_probe_count(self) -> None:
        machine, _ = self.half_open(probes=3)
        admissions = [machine.acquire() for _ in range(5)]
        assert [p.admission for p in admissions] == [Admission.PROBE] * 3 + [Admission.REJECT] * 2
        assert admissions[-1].retry_after_s == 0.0

    def test_closes_when_every_probe_succeeds_and_resets_the_window(self) -> None:
        machine, _ = self.half_open(probes=2)
        first, second = machine.acquire(), machine.acquire()
        assert machine.record(first, S) is None
        assert machine.state is HALF_OPEN
        assert machine.record(second, S) == Transition(
            HALF_OPEN, CLOSED, TransitionReason.PROBES_SUCCEEDED
        )
        snapshot = machine.snapshot("x")
        assert (snapshot.state, snapshot.calls, snapshot.consecutive_failures) == (CLOSED, 0, 0)
        assert snapshot.opened_at is None
        assert machine.acquire() is machine.closed_permit

    def test_a_failed_probe_reopens_with_a_fresh_cooldown(self) -> None:
        machine, clock = self.half_open(probes=2)
        probe = machine.acquire()
        clock.advance(1.5)
        transition = machine.record(probe, F)
        assert transition is not None
        assert (transition.from_state, transition.to_state, transition.reason) == (
            HALF_OPEN,
            OPEN,
            TransitionReason.PROBE_FAILED,
        )
        assert machine.acquire().retry_after_s == 30.0
        assert machine.snapshot("x").opened_at == clock.now()

    def test_a_slow_probe_is_a_failed_probe(self) -> None:
        machine, clock = open_machine(slow_call_s=2.0)
        clock.advance(30.0)
        transition = machine.record(machine.acquire(), S, duration_s=2.5)
        assert transition is not None
        assert transition.reason is TransitionReason.PROBE_FAILED

    def test_a_cancelled_probe_frees_its_slot(self) -> None:
        machine, _ = self.half_open(probes=1)
        probe = machine.acquire()
        assert machine.acquire().admission is Admission.REJECT
        assert machine.record(probe, C) is None
        assert machine.acquire().admission is Admission.PROBE

    def test_an_unanswered_round_starts_over_after_a_cooldown(self) -> None:
        machine, clock = self.half_open(probes=1)
        lost = machine.acquire()
        clock.advance(30.0)
        fresh = machine.acquire()
        assert fresh.admission is Admission.PROBE
        assert fresh.transition == Transition(
            HALF_OPEN, HALF_OPEN, TransitionReason.PROBE_ROUND_EXPIRED
        )
        assert machine.record(lost, F) is None
        assert machine.state is HALF_OPEN


class TestStalePermits:
    def test_a_failure_admitted_before_opening_is_ignored(self) -> None:
        machine, clock = make(minimum_calls=100, consecutive_failures=3)
        early = machine.acquire()
        run(machine, "fff")
        generation = machine.generation
        assert machine.record(early, F) is None
        clock.advance(30.0)
        probe = machine.acquire()
        # It must not reopen a half-open breaker it was never a probe of.
        assert machine.record(early, F) is None
        assert machine.state is HALF_OPEN
        assert machine.generation == generation + 1
        assert machine.record(probe, S) is not None

    def test_a_success_from_an_old_closed_phase_does_not_count_in_the_new_one(self) -> None:
        machine, clock = make(minimum_calls=100, consecutive_failures=3)
        early = machine.acquire()
        run(machine, "fff")
        clock.advance(30.0)
        machine.record(machine.acquire(), S)
        assert machine.state is CLOSED
        assert machine.record(early, S) is None
        assert machine.snapshot("x").calls == 0


class TestSnapshot:
    def test_reports_state_rate_calls_and_consecutive_failures(self) -> None:
        machine, _ = make(consecutive_failures=100)
        run(machine, "ssff")
        snapshot = machine.snapshot("psp")
        assert snapshot.name == "psp"
        assert (snapshot.state, snapshot.calls, snapshot.failure_rate) == (CLOSED, 4, 0.5)
        assert (snapshot.opened_at, snapshot.consecutive_failures) == (None, 2)

    def test_half_open_keeps_the_opening_time(self) -> None:
        machine, clock = open_machine()
        opened_at = machine.snapshot("x").opened_at
        clock.advance(30.0)
        machine.acquire()
        assert machine.snapshot("x").opened_at == opened_at == START

    @pytest.mark.parametrize(("state", "gauge"), [(CLOSED, 0), (HALF_OPEN, 1), (OPEN, 2)])
    def test_states_map_to_the_metric_values_of_the_api(
        self, state: BreakerState, gauge: int
    ) -> None:
        assert state.gauge_value == gauge
