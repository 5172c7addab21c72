"""Tests for the retry policy value and its full-jitter backoff."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.retry import RetryPolicy, full_jitter


class EdgeRandom:
    """Returns a fixed point of the interval, rounding error included (0.0 or just past b)."""

    def __init__(self, past_the_end: bool) -> None:
        self.past_the_end = past_the_end

    def uniform(self, a: float, b: float) -> float:
        return b * (1 + 1e-12) if self.past_the_end else a


class TestRetryPolicy:
    def test_defaults_are_three_attempts_100ms_doubling_capped_at_5s(self) -> None:
        policy = RetryPolicy()
        assert (policy.max_attempts, policy.base_delay_s, policy.max_delay_s) == (3, 0.1, 5.0)
        assert policy.multiplier == 2.0
        assert policy.retry_after_limit_s == 5.0

    def test_is_frozen(self) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            RetryPolicy().max_attempts = 5  # type: ignore[misc]

    @pytest.mark.parametrize(
        ("kwargs", "key"),
        [
            ({"max_attempts": 0}, "max_attempts"),
            ({"base_delay_s": -0.1}, "base_delay_s"),
            ({"base_delay_s": float("nan")}, "base_delay_s"),
            ({"max_delay_s": float("inf")}, "max_delay_s"),
            ({"base_delay_s": 2.0, "max_delay_s": 1.0}, "max_delay_s"),
            ({"multiplier": 0.5}, "multiplier"),
            ({"multiplier": float("inf")}, "multiplier"),
            ({"max_retry_after_s": -1.0}, "max_retry_after_s"),
        ],
    )
    def test_refuses_invalid_values_naming_the_key(
        self, kwargs: dict[str, float], key: str
    ) -> None:
        with pytest.raises(ConfigurationError) as caught:
            RetryPolicy(**kwargs)  # type: ignore[arg-type]
        assert caught.value.key == key

    def test_backoff_cap_grows_by_the_multiplier_until_the_max(self) -> None:
        policy = RetryPolicy(base_delay_s=0.1, max_delay_s=1.0, multiplier=3.0)
        caps = [policy.backoff_cap(attempt) for attempt in range(1, 6)]
        assert caps == pytest.approx([0.1, 0.3, 0.9, 1.0, 1.0])

    def test_backoff_cap_survives_attempt_counts_that_overflow_a_float(self) -> None:
        assert RetryPolicy(multiplier=10.0).backoff_cap(10_000) == 5.0

    def test_attempts_are_numbered_from_one(self) -> None:
        with pytest.raises(ValueError, match="from 1"):
            RetryPolicy().backoff_cap(0)

    def test_an_explicit_retry_after_limit_replaces_the_max_delay(self) -> None:
        assert RetryPolicy(max_retry_after_s=60.0).retry_after_limit_s == 60.0


class TestFullJitter:
    def test_is_reproducible_with_a_seeded_random(self) -> None:
        policy = RetryPolicy()
        first = [full_jitter(policy, n, random.Random(42)) for n in (1, 2, 3)]
        again = [full_jitter(policy, n, random.Random(42)) for n in (1, 2, 3)]
        assert first == again

    def test_draws_uniformly_between_zero_and_the_cap(self) -> None:
        rng = random.Random(7)
        delays = [full_jitter(RetryPolicy(base_delay_s=1.0), 1, rng) for _ in range(2_000)]
        assert min(delays) < 0.05
        assert max(delays) > 0.95
        assert 0.45 < sum(delays) / len(delays) < 0.55

    def test_rounding_past_the_cap_is_clamped(self) -> None:
        policy = RetryPolicy(base_delay_s=0.3)
        assert full_jitter(policy, 1, EdgeRandom(past_the_end=True)) == 0.3
        assert full_jitter(policy, 1, EdgeRandom(past_the_end=False)) == 0.0

    @given(
        base=st.floats(min_value=0, max_value=10, allow_nan=False),
        extra=st.floats(min_value=0, max_value=100, allow_nan=False),
        multiplier=st.floats(min_value=1, max_value=50, allow_nan=False),
        attempt=st.integers(min_value=1, max_value=5_000),
        seed=st.integers(min_value=0, max_value=2**32),
    )
    def test_delay_is_always_within_zero_and_the_cap(
        self, base: float, extra: float, multiplier: float, attempt: int, seed: int
    ) -> None:
        policy = RetryPolicy(
            max_attempts=10, base_delay_s=base, max_delay_s=base + extra, multiplier=multiplier
        )
        cap = min(policy.max_delay_s, policy.backoff_cap(attempt))
        delay = full_jitter(policy, attempt, random.Random(seed))
        assert 0.0 <= delay <= cap <= policy.max_delay_s
