"""Property tests: each algorithm's defining guarantee, over random arrival sequences."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.kernel.ratelimit import Algorithm, Decision, RateLimit, core_for

START = 1_000.0
TICK = 0.125  # arrival times are multiples of 1/8 s: exact in binary, so no rounding near ties
SLACK = 1e-9  # for the buckets, whose rates (limit / period) are not binary fractions

periods = st.sampled_from([0.3, 0.5, 1.0, 2.5, 10.0])
limits = st.integers(1, 12)
# (gap before the request in ticks, cost); a cost above the limit is clipped to it, 0 peeks.
arrivals = st.lists(st.tuples(st.integers(0, 20), st.integers(0, 12)), min_size=1, max_size=80)


@dataclass(frozen=True)
class Step:
    now: float
    cost: int
    decision: Decision


def replay(limit: RateLimit, requests: list[tuple[int, int]]) -> list[Step]:
    """Run ``requests`` through the limit's core, threading the state as a store does."""
    core, state, ticks, steps = core_for(limit), None, 0, []
    for gap, cost in requests:
        ticks += gap
        now, cost = START + ticks * TICK, min(cost, limit.limit)
        decision, state, _ = core.apply(state, now, cost)
        steps.append(Step(now, cost, decision))
    return steps


def admitted(steps: list[Step]) -> list[Step]:
    """The steps that consumed units (admitted, cost > 0)."""
    return [s for s in steps if s.decision.allowed and s.cost]


class TestFixedWindow:
    @settings(max_examples=200, deadline=None)
    @given(limits, periods, arrivals)
    def test_never_admits_more_than_the_limit_per_window(
        self, count: int, period: float, requests: list[tuple[int, int]]
    ) -> None:
        per_window: dict[int, int] = {}
        for step in admitted(replay(RateLimit(Algorithm.FIXED_WINDOW, count, period), requests)):
            window = math.floor(step.now / period)
            per_window[window] = per_window.get(window, 0) + step.cost
        assert all(units <= count for units in per_window.values())

    @given(limits, st.sampled_from([0.5, 1.0, 2.0, 8.0]), st.integers(1, 1000))
    def test_admits_twice_the_limit_within_one_period_across_a_boundary(
        self, count: int, period: float, window: int
    ) -> None:
        core, state = core_for(RateLimit(Algorithm.FIXED_WINDOW, count, period)), None
        boundary = window * period
        decisions = []
        # A quarter period apart: the limit just before the boundary, the limit on it.
        for now in [boundary - period / 4] * count + [boundary] * count:
            decision, state, _ = core.apply(state, now, 1)
            decisions.append(decision)
        assert all(d.allowed for d in decisions)


class TestSlidingLog:
    @settings(max_examples=200, deadline=None)
    @given(limits, periods, arrivals)
    def test_never_admits_more_than_the_limit_in_any_period_long_window(
        self, count: int, period: float, requests: list[tuple[int, int]]
    ) -> None:
        taken = admitted(replay(RateLimit(Algorithm.SLIDING_LOG, count, period), requests))
        # The busiest window [a, a + period) starts at an admission time.
        for start in taken:
            inside = sum(s.cost for s in taken if 0 <= s.now - start.now < period)
            assert inside <= count


class TestSlidingWindowCounter:
    @settings(max_examples=200, deadline=None)
    @given(limits, periods, arrivals)
    def test_never_admits_more_than_the_limit_within_one_window(
        self, count: int, period: float, requests: list[tuple[int, int]]
    ) -> None:
        limit = RateLimit(Algorithm.SLIDING_WINDOW, count, period)
        per_window: dict[int, int] = {}
        for step in admitted(replay(limit, requests)):
            window = math.floor(step.now / period)
            per_window[window] = per_window.get(window, 0) + step.cost
        assert all(units <= count for units in per_window.values())


class TestTokenBucket:
    @settings(max_examples=200, deadline=None)
    @given(limits, periods, arrivals)
    def test_admits_at_most_a_burst_plus_the_rate_over_any_interval(
        self, count: int, period: float, requests: list[tuple[int, int]]
    ) -> None:
        limit = RateLimit(Algorithm.TOKEN_BUCKET, count, period)
        taken = admitted(replay(limit, requests))
        for i, first in enumerate(taken):
            units = 0
            for last in taken[i:]:
                units += last.cost
                assert units <= count + limit.rate_per_s * (last.now - first.now) + SLACK

    @given(limits, periods, st.lists(st.integers(1, 12), min_size=1, max_size=30))
    def test_a_full_bucket_admits_exactly_the_limit_at_once(
        self, count: int, period: float, costs: list[int]
    ) -> None:
        # Requests of any costs at one instant, then unit requests until one is refused.
        core, state, units = core_for(RateLimit(Algorithm.TOKEN_BUCKET, count, period)), None, 0
        for cost in [min(c, count) for c in costs] + [1] * (count + 1):
            decision, state, _ = core.apply(state, START, cost)
            units += cost if decision.allowed else 0
        assert units == count


class TestLeakyBucket:
    @settings(max_examples=200, deadline=None)
    @given(limits, periods, arrivals)
    def test_departures_never_exceed_the_drain_rate(
        self, count: int, period: float, requests: list[tuple[int, int]]
    ) -> None:
        taken = admitted(replay(RateLimit(Algorithm.LEAKY_BUCKET, count, period), requests))
        departures = [(s.now + s.decision.delay_s, s.cost) for s in taken]
        for (leaves, cost), (next_leaves, _) in pairwise(departures):
            # A request of cost c holds the outflow for c intervals of period / limit.
            assert next_leaves - leaves >= cost * period / count - SLACK

    @settings(max_examples=200, deadline=None)
    @given(limits, periods, arrivals)
    def test_no_admitted_request_waits_longer_than_the_queue_takes_to_drain(
        self, count: int, period: float, requests: list[tuple[int, int]]
    ) -> None:
        for step in admitted(replay(RateLimit(Algorithm.LEAKY_BUCKET, count, period), requests)):
            assert 0 <= step.decision.delay_s <= (count - step.cost) * period / count + SLACK


class TestEveryAlgorithm:
    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from(list(Algorithm)), limits, periods, arrivals)
    def test_decisions_are_well_formed(
        self, algorithm: Algorithm, count: int, period: float, requests: list[tuple[int, int]]
    ) -> None:
        for step in replay(RateLimit(algorithm, count, period), requests):
            d = step.decision
            assert d.limit == count
            assert 0 <= d.remaining <= count
            assert d.reset_at >= step.now
            if d.allowed:
                assert d.retry_after_s == 0.0
            else:
                assert d.retry_after_s > 0
                assert d.delay_s == 0.0
            if algorithm is not Algorithm.LEAKY_BUCKET:
                assert d.delay_s == 0.0

    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from(list(Algorithm)), limits, periods, arrivals)
    def test_peeks_and_refusals_never_change_the_state(
        self, algorithm: Algorithm, count: int, period: float, requests: list[tuple[int, int]]
    ) -> None:
        core = core_for(RateLimit(algorithm, count, period))
        state: Any = None
        now = START
        for gap, cost in requests:
            now += gap * TICK
            peek, after_peek, _ = core.apply(state, now, 0)
            assert after_peek is state
            decision, new_state, _ = core.apply(state, now, min(cost, count))
            if not decision.allowed:
                assert new_state is state
            assert peek.remaining >= decision.remaining
            state = new_state
        # A peek answers for a unit request without taking it.
        unit, _, _ = core.apply(state, now, 1)
        assert core.apply(state, now, 0)[0].allowed == unit.allowed

    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from(list(Algorithm)), limits, periods, arrivals, st.integers(1, 12))
    def test_a_refused_request_is_admitted_after_retry_after_and_not_before(
        self,
        algorithm: Algorithm,
        count: int,
        period: float,
        requests: list[tuple[int, int]],
        cost: int,
    ) -> None:
        core = core_for(RateLimit(algorithm, count, period))
        cost = min(cost, count)
        state: Any = None
        now = START
        for gap, spent in requests:
            now += gap * TICK
            _, state, _ = core.apply(state, now, min(spent, count))
        refused, state, _ = core.apply(state, now, cost)
        if refused.allowed:
            return
        # 1 µs either side: far above float rounding at these magnitudes (~1e-13 s).
        wait = refused.retry_after_s
        assert core.apply(state, now + wait + 1e-6, cost)[0].allowed
        if wait > 1e-6:
            assert not core.apply(state, now + wait - 1e-6, cost)[0].allowed

    @settings(max_examples=300, deadline=None)
    @given(
        st.sampled_from(list(Algorithm)),
        st.sampled_from([1, 2, 4, 8]),
        st.sampled_from([0.5, 1.0, 2.0, 8.0]),
        arrivals,
        st.integers(0, 8),
    )
    def test_a_state_past_its_expiry_decides_as_a_fresh_one(
        self,
        algorithm: Algorithm,
        count: int,
        period: float,
        requests: list[tuple[int, int]],
        probe: int,
    ) -> None:
        # Binary-fraction limits and periods: the rates are exact, so "fresh again" holds at
        # expires_at itself, not only some rounding later.
        core = core_for(RateLimit(algorithm, count, period))
        state: Any = None
        now, expires_at = START, START
        for gap, cost in requests:
            now += gap * TICK
            _, state, expires_at = core.apply(state, now, min(cost, count))
        later = max(now, expires_at)
        probe = min(probe, count)
        assert core.apply(state, later, probe)[0] == core.apply(None, later, probe)[0]
