"""The five pure cores on explicit times: admissions, remaining, reset_at, retry_after, delay."""

from __future__ import annotations

from typing import Any

import pytest

from bazaar.kernel.ratelimit import (
    MIN_RETRY_AFTER_S,
    Algorithm,
    Decision,
    FixedWindow,
    LeakyBucket,
    RateLimit,
    RateLimitAlgorithm,
    SlidingLog,
    SlidingWindowCounter,
    TokenBucket,
    core_for,
)

T0 = 1_000.0  # a multiple of every period below, so windows start on it


class Run:
    """Threads one key's state through a core, like a store would."""

    def __init__(self, core: RateLimitAlgorithm[Any]) -> None:
        self.core = core
        self.state: Any = None
        self.expires_at = 0.0

    def at(self, now: float, cost: int = 1) -> Decision:
        decision, self.state, self.expires_at = self.core.apply(self.state, now, cost)
        return decision


def run(spec: str) -> Run:
    return Run(core_for(RateLimit.parse(spec)))


class TestCoreFor:
    @pytest.mark.parametrize(
        ("algorithm", "core_type"),
        [
            (Algorithm.FIXED_WINDOW, FixedWindow),
            (Algorithm.SLIDING_LOG, SlidingLog),
            (Algorithm.SLIDING_WINDOW, SlidingWindowCounter),
            (Algorithm.TOKEN_BUCKET, TokenBucket),
            (Algorithm.LEAKY_BUCKET, LeakyBucket),
        ],
    )
    def test_picks_the_class_of_the_algorithm(
        self, algorithm: Algorithm, core_type: type[object]
    ) -> None:
        limit = RateLimit(algorithm, 3, 10.0)
        core = core_for(limit)
        assert isinstance(core, core_type)
        assert core.rate_limit == limit

    @pytest.mark.parametrize("algorithm", list(Algorithm))
    @pytest.mark.parametrize("cost", [-1, 4])
    def test_a_cost_outside_zero_to_the_limit_is_a_value_error(
        self, algorithm: Algorithm, cost: int
    ) -> None:
        with pytest.raises(ValueError, match=f"between 0 and the limit 3, got {cost}"):
            core_for(RateLimit(algorithm, 3, 10.0)).apply(None, T0, cost)

    @pytest.mark.parametrize("algorithm", list(Algorithm))
    def test_a_peek_on_a_fresh_key_keeps_no_state(self, algorithm: Algorithm) -> None:
        decision, state, _ = core_for(RateLimit(algorithm, 3, 10.0)).apply(None, T0, 0)
        assert (decision.allowed, decision.remaining, decision.retry_after_s) == (True, 3, 0.0)
        assert state is None


class TestFixedWindow:
    def test_counts_per_window_and_starts_over_at_the_boundary(self) -> None:
        r = run("fixed_window:3/10")
        assert [r.at(T0 + t) for t in (0, 1, 2, 3)] == [
            Decision(True, 3, 2, T0 + 10, 0.0),
            Decision(True, 3, 1, T0 + 10, 0.0),
            Decision(True, 3, 0, T0 + 10, 0.0),
            Decision(False, 3, 0, T0 + 10, 7.0),
        ]
        assert r.expires_at == T0 + 10
        assert r.at(T0 + 10) == Decision(True, 3, 2, T0 + 20, 0.0)

    def test_admits_twice_the_limit_across_a_boundary(self) -> None:
        r = run("fixed_window:3/10")
        before = [r.at(T0 + 9.5).allowed for _ in range(3)]
        after = [r.at(T0 + 10.0).allowed for _ in range(3)]
        assert before + after == [True] * 6

    def test_a_clock_stepping_back_stays_in_the_newest_window(self) -> None:
        r = run("fixed_window:2/10")
        r.at(T0 + 10, 2)
        refused = r.at(T0 + 9.0)
        assert (refused.allowed, refused.reset_at, refused.retry_after_s) == (False, T0 + 20, 11.0)


class TestSlidingLog:
    def test_a_unit_counts_for_exactly_one_period(self) -> None:
        r = run("sliding_log:3/10")
        assert [r.at(T0 + t) for t in (0, 1, 2)] == [
            Decision(True, 3, 2, T0 + 10, 0.0),
            Decision(True, 3, 1, T0 + 11, 0.0),
            Decision(True, 3, 0, T0 + 12, 0.0),
        ]
        # Full until the oldest unit (T0) leaves at T0 + 10.
        assert r.at(T0 + 5) == Decision(False, 3, 0, T0 + 12, 5.0)
        assert r.at(T0 + 10) == Decision(True, 3, 0, T0 + 20, 0.0)
        # T0 + 1 leaves at T0 + 11, T0 + 2 at T0 + 12.
        assert r.at(T0 + 11, 0).remaining == 1
        assert r.at(T0 + 12, 0).remaining == 2

    def test_a_costly_request_waits_for_as_many_units_to_leave(self) -> None:
        r = run("sliding_log:3/10")
        for t in (0, 1, 2):
            r.at(T0 + t)
        refused = r.at(T0 + 3, 3)
        # All three must leave: the newest, from T0 + 2, leaves at T0 + 12.
        assert (refused.allowed, refused.retry_after_s) == (False, 9.0)
        # At T0 + 10.5 the unit from T0 has left: two of cost 2 wait for T0 + 1's to leave.
        assert r.at(T0 + 10.5, 2) == Decision(False, 3, 1, T0 + 12, 0.5)
        assert r.at(T0 + 11, 2) == Decision(True, 3, 0, T0 + 21, 0.0)

    def test_a_peek_reports_when_the_log_empties(self) -> None:
        r = run("sliding_log:3/10")
        r.at(T0, 2)
        assert r.at(T0 + 4, 0) == Decision(True, 3, 1, T0 + 10, 0.0)
        assert r.at(T0 + 10, 0) == Decision(True, 3, 3, T0 + 10, 0.0)

    def test_dead_entries_are_dropped_once_they_outnumber_the_live_ones(self) -> None:
        r = run("sliding_log:4/10")
        for t in (0, 1, 2, 3):
            r.at(T0 + t)
        r.at(T0 + 11.5)  # two dead (T0, T0 + 1), two live: the dead are kept for now
        assert len(r.state) == 5
        r.at(T0 + 13.5)  # four dead, one live: dropped
        assert r.state == (T0 + 11.5, T0 + 13.5)


class TestSlidingWindowCounter:
    def test_weights_the_previous_window_by_its_overlap(self) -> None:
        r = run("sliding_window:10/10")
        assert r.at(T0 + 2, 6) == Decision(True, 10, 4, T0 + 20, 0.0)
        # 2.5 s into the next window, 75% of the previous 6 still count: 4.5.
        assert r.at(T0 + 12.5, 0) == Decision(True, 10, 5, T0 + 20, 0.0)
        assert r.at(T0 + 12.5, 5) == Decision(True, 10, 0, T0 + 30, 0.0)
        refused = r.at(T0 + 12.5)
        assert not refused.allowed
        # Room for one once 6 * (1 - e/10) <= 4, i.e. e = 10/3 s into the window.
        assert refused.retry_after_s == pytest.approx(10 / 3 - 2.5)

    def test_a_full_window_waits_into_the_next_one(self) -> None:
        r = run("sliding_window:10/10")
        r.at(T0 + 5, 10)
        refused = r.at(T0 + 6)
        # Next window: 10 * (1 - e/10) + 1 <= 10 once e = 1 s, at T0 + 11.
        assert (refused.allowed, refused.retry_after_s, refused.reset_at) == (False, 5.0, T0 + 20)
        assert r.at(T0 + 11).allowed

    def test_only_the_previous_window_carries_over(self) -> None:
        r = run("sliding_window:10/10")
        r.at(T0, 10)
        assert r.at(T0 + 20, 0) == Decision(True, 10, 10, T0 + 20, 0.0)


class TestTokenBucket:
    def test_a_full_bucket_bursts_then_refills_at_the_rate(self) -> None:
        r = run("token_bucket:4/8")  # 0.5 token per second
        assert [r.at(T0) for _ in range(5)] == [
            Decision(True, 4, 3, T0 + 2, 0.0),
            Decision(True, 4, 2, T0 + 4, 0.0),
            Decision(True, 4, 1, T0 + 6, 0.0),
            Decision(True, 4, 0, T0 + 8, 0.0),
            Decision(False, 4, 0, T0 + 8, 2.0),
        ]
        assert r.at(T0 + 2) == Decision(True, 4, 0, T0 + 10, 0.0)
        assert r.at(T0 + 3) == Decision(False, 4, 0, T0 + 10, 1.0)

    def test_a_costly_request_waits_for_its_tokens(self) -> None:
        r = run("token_bucket:4/8")
        r.at(T0, 4)
        assert r.at(T0 + 1, 3).retry_after_s == 5.0
        assert r.at(T0 + 6, 3) == Decision(True, 4, 0, T0 + 14, 0.0)

    def test_the_bucket_never_holds_more_than_the_limit(self) -> None:
        r = run("token_bucket:4/8")
        r.at(T0)
        assert r.at(T0 + 1_000, 0).remaining == 4


class TestLeakyBucket:
    def test_queues_up_to_the_limit_and_spaces_departures_at_the_drain_rate(self) -> None:
        r = run("leaky_bucket:4/8")  # one departure every 2 s
        assert [r.at(T0) for _ in range(5)] == [
            Decision(True, 4, 3, T0 + 2, 0.0, 0.0),
            Decision(True, 4, 2, T0 + 4, 0.0, 2.0),
            Decision(True, 4, 1, T0 + 6, 0.0, 4.0),
            Decision(True, 4, 0, T0 + 8, 0.0, 6.0),
            Decision(False, 4, 0, T0 + 8, 2.0, 0.0),
        ]
        assert r.at(T0 + 1) == Decision(False, 4, 0, T0 + 8, 1.0, 0.0)
        # Admitted at T0 + 2 behind three queued units: it leaves at T0 + 8.
        assert r.at(T0 + 2) == Decision(True, 4, 0, T0 + 10, 0.0, 6.0)

    def test_an_empty_queue_lets_a_request_through_at_once(self) -> None:
        r = run("leaky_bucket:4/8")
        r.at(T0)
        assert r.at(T0 + 5).delay_s == 0.0


class TestEveryCore:
    @pytest.mark.parametrize("algorithm", list(Algorithm))
    def test_a_rejection_and_a_peek_leave_the_state_alone(self, algorithm: Algorithm) -> None:
        core = core_for(RateLimit(algorithm, 2, 10.0))
        _, state, _ = core.apply(None, T0, 2)
        refused, after_refusal, _ = core.apply(state, T0 + 1, 1)
        peek, after_peek, _ = core.apply(state, T0 + 1, 0)
        assert not refused.allowed
        assert after_refusal is state
        assert after_peek is state
        assert peek.remaining == refused.remaining

    @pytest.mark.parametrize("algorithm", list(Algorithm))
    def test_retry_after_is_never_zero_for_a_refusal(self, algorithm: Algorithm) -> None:
        # A clock stepping back can put the solved time at or before now.
        core = core_for(RateLimit(algorithm, 1, 10.0))
        _, state, _ = core.apply(None, T0 + 9.999, 1)
        refused, _, _ = core.apply(state, T0 + 9.999, 1)
        assert refused.retry_after_s >= MIN_RETRY_AFTER_S

    @pytest.mark.parametrize("algorithm", list(Algorithm))
    def test_decisions_are_built_field_by_field_as_the_constructor_would(
        self, algorithm: Algorithm
    ) -> None:
        """The cores build their decisions as tuples in ``Decision``'s field order."""
        core = core_for(RateLimit(algorithm, 2, 10.0))
        admitted, state, _ = core.apply(None, T0, 2)
        refused, _, _ = core.apply(state, T0 + 1, 1)
        for decision in (admitted, refused):
            assert type(decision) is Decision
            assert decision.store_failed is False
            assert isinstance(decision.allowed, bool)
            assert decision.limit == 2
        assert (admitted.allowed, admitted.retry_after_s) == (True, 0.0)
        assert not refused.allowed
        assert refused.retry_after_s > 0
        assert refused.delay_s == 0.0
