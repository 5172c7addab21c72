"""Tests for the retry budget: retries bounded by a fraction of calls over a sliding window."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.retry import BudgetSnapshot, RetryBudget, RetryBudgetPort


def make(clock: ManualClock | None = None, **kwargs: float) -> RetryBudget:
    return RetryBudget(clock or ManualClock(), **kwargs)  # type: ignore[arg-type]


def spend_all(budget: RetryBudget) -> int:
    allowed = 0
    while budget.try_acquire_retry():
        allowed += 1
        assert allowed < 10_000
    return allowed


class TestRetryBudget:
    def test_satisfies_the_budget_port(self) -> None:
        budget: RetryBudgetPort = make()
        assert isinstance(budget, RetryBudget)

    def test_a_quiet_dependency_still_gets_the_minimum_allowance(self) -> None:
        assert spend_all(make(min_retries_per_window=3)) == 3

    def test_allows_ratio_of_calls_on_top_of_the_minimum(self) -> None:
        budget = make(ratio=0.1, min_retries_per_window=3)
        for _ in range(100):
            budget.record_call()
        assert spend_all(budget) == 13
        assert budget.snapshot() == BudgetSnapshot(calls=100, retries=13, allowance=13.0)

    def test_a_refused_retry_spends_nothing(self) -> None:
        budget = make(ratio=0.0, min_retries_per_window=1)
        assert budget.try_acquire_retry()
        assert not budget.try_acquire_retry()
        assert not budget.try_acquire_retry()
        assert budget.snapshot().retries == 1

    def test_counts_age_out_after_the_window(self) -> None:
        clock = ManualClock()
        budget = make(clock, ratio=0.5, window_s=10.0, min_retries_per_window=0)
        for _ in range(10):
            budget.record_call()
        assert spend_all(budget) == 5
        clock.advance(10.0)
        assert budget.snapshot() == BudgetSnapshot(calls=0, retries=0, allowance=0.0)
        assert not budget.try_acquire_retry()

    def test_the_window_slides_one_bucket_at_a_time(self) -> None:
        clock = ManualClock()
        budget = make(clock, ratio=1.0, window_s=10.0, buckets=10, min_retries_per_window=0)
        budget.record_call()  # bucket 0
        clock.advance(5.0)
        budget.record_call()  # bucket 5
        clock.advance(4.5)  # t = 9.5: both inside
        assert budget.snapshot().calls == 2
        clock.advance(0.5)  # t = 10.0: bucket 0 has aged out
        assert budget.snapshot().calls == 1
        clock.advance(5.0)  # t = 15.0: bucket 5 has aged out
        assert budget.snapshot().calls == 0

    def test_a_slot_reused_after_a_long_pause_starts_empty(self) -> None:
        clock = ManualClock()
        budget = make(clock, ratio=1.0, window_s=1.0, buckets=2, min_retries_per_window=0)
        budget.record_call()
        clock.advance(100.0)  # the same ring slot, a much later bucket
        assert budget.snapshot().calls == 0

    @pytest.mark.parametrize(
        ("kwargs", "key"),
        [
            ({"ratio": -0.1}, "ratio"),
            ({"ratio": float("nan")}, "ratio"),
            ({"window_s": 0.0}, "window_s"),
            ({"window_s": float("inf")}, "window_s"),
            ({"min_retries_per_window": -1}, "min_retries_per_window"),
            ({"buckets": 0}, "buckets"),
        ],
    )
    def test_refuses_invalid_values_naming_the_key(
        self, kwargs: dict[str, float], key: str
    ) -> None:
        with pytest.raises(ConfigurationError) as caught:
            make(**kwargs)
        assert caught.value.key == key

    @given(
        ratio=st.sampled_from([0.0, 0.1, 0.25, 1.0]),
        minimum=st.integers(min_value=0, max_value=5),
        buckets=st.integers(min_value=1, max_value=10),
        steps=st.lists(
            st.tuples(
                st.sampled_from(["call", "retry"]),
                st.sampled_from([0.0, 0.0, 0.1, 0.7, 1.0, 2.5, 10.0]),
            ),
            max_size=200,
        ),
    )
    def test_never_allows_more_retries_than_the_window_allowance(
        self,
        ratio: float,
        minimum: int,
        buckets: int,
        steps: list[tuple[str, float]],
    ) -> None:
        # An independent model: a log of every counted event, and the window read straight
        # from the definition (the current bucket and the buckets - 1 before it).
        window_s = 10.0
        bucket_s = window_s / buckets
        clock = ManualClock()
        budget = make(
            clock, ratio=ratio, window_s=window_s, buckets=buckets, min_retries_per_window=minimum
        )
        log: list[tuple[int, str]] = []
        for kind, advance in steps:
            clock.advance(advance)
            now_bucket = math.floor(clock.monotonic() / bucket_s)
            if kind == "call":
                budget.record_call()
                log.append((now_bucket, "call"))
                continue
            in_window = [k for b, k in log if b > now_bucket - buckets]
            calls, retries = in_window.count("call"), in_window.count("retry")
            allowed = budget.try_acquire_retry()
            if allowed:
                log.append((now_bucket, "retry"))
            # Never over the bound, and never stingier than it either.
            assert allowed == (retries + 1 <= ratio * calls + minimum)
