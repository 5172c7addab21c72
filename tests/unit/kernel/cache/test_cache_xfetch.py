"""XFetch's early-refresh decision and TTL jitter: pure functions of their inputs and the rng."""

from __future__ import annotations

import math
import random

import pytest

from bazaar.kernel.cache import jittered_ttl, should_refresh_early


def decisions(
    *, gap_s: float, delta_s: float, beta: float, seed: int, n: int = 2_000
) -> list[bool]:
    rng = random.Random(seed)
    return [
        should_refresh_early(
            now=100.0, expires_at=100.0 + gap_s, delta_s=delta_s, beta=beta, rng=rng
        )
        for _ in range(n)
    ]


class TestShouldRefreshEarly:
    def test_beta_zero_never_refreshes_early_and_draws_nothing(self) -> None:
        rng = random.Random(1)
        state = rng.getstate()
        assert not any(
            should_refresh_early(now=0.0, expires_at=gap, delta_s=10.0, beta=0.0, rng=rng)
            for gap in (1e-9, 0.001, 1.0, 100.0)
        )
        assert rng.getstate() == state

    def test_an_instant_load_never_refreshes_early(self) -> None:
        assert not any(decisions(gap_s=1e-6, delta_s=0.0, beta=1.0, seed=2))

    def test_an_expired_entry_is_always_refreshed(self) -> None:
        rng = random.Random(3)
        assert should_refresh_early(now=10.0, expires_at=10.0, delta_s=0.0, beta=0.0, rng=rng)
        assert should_refresh_early(now=11.0, expires_at=10.0, delta_s=1.0, beta=1.0, rng=rng)

    def test_near_expiry_a_refresh_is_very_likely(self) -> None:
        # P = exp(-gap / (delta * beta)) = exp(-0.01) ~ 0.99
        assert sum(decisions(gap_s=0.01, delta_s=1.0, beta=1.0, seed=4)) >= 0.97 * 2_000

    def test_far_from_expiry_a_refresh_is_very_unlikely(self) -> None:
        # P = exp(-20) ~ 2e-9
        assert not any(decisions(gap_s=20.0, delta_s=1.0, beta=1.0, seed=5))

    @pytest.mark.parametrize(
        ("gap_s", "delta_s", "beta"), [(1.0, 1.0, 1.0), (2.0, 1.0, 2.0), (0.5, 2.0, 1.0)]
    )
    def test_the_refresh_rate_follows_the_exponential_law(
        self, gap_s: float, delta_s: float, beta: float
    ) -> None:
        expected = math.exp(-gap_s / (delta_s * beta))
        rate = sum(decisions(gap_s=gap_s, delta_s=delta_s, beta=beta, seed=6, n=20_000)) / 20_000
        assert rate == pytest.approx(expected, abs=0.015)

    def test_a_larger_beta_refreshes_earlier(self) -> None:
        eager = sum(decisions(gap_s=1.0, delta_s=1.0, beta=3.0, seed=7))
        lazy = sum(decisions(gap_s=1.0, delta_s=1.0, beta=0.5, seed=7))
        assert eager > lazy

    def test_a_seeded_rng_makes_the_decisions_repeatable(self) -> None:
        first = decisions(gap_s=1.0, delta_s=1.0, beta=1.0, seed=8)
        assert first == decisions(gap_s=1.0, delta_s=1.0, beta=1.0, seed=8)
        assert first != decisions(gap_s=1.0, delta_s=1.0, beta=1.0, seed=9)


class TestJitteredTtl:
    def test_stays_within_the_jitter_and_is_never_longer_than_the_ttl(self) -> None:
        rng = random.Random(10)
        ttls = [jittered_ttl(100.0, 0.2, rng) for _ in range(10_000)]
        assert all(80.0 < ttl <= 100.0 for ttl in ttls)
        assert min(ttls) < 81.0
        assert max(ttls) > 99.0

    def test_no_jitter_is_the_ttl_itself_and_draws_nothing(self) -> None:
        rng = random.Random(11)
        state = rng.getstate()
        assert jittered_ttl(42.0, 0.0, rng) == 42.0
        assert rng.getstate() == state

    def test_a_seeded_rng_makes_it_repeatable(self) -> None:
        first = [jittered_ttl(60.0, 0.5, random.Random(12)) for _ in range(3)]
        assert len(set(first)) == 1

    @pytest.mark.parametrize("jitter", [-0.1, 1.0, 1.5])
    def test_a_jitter_outside_zero_to_one_is_refused(self, jitter: float) -> None:
        with pytest.raises(ValueError, match="jitter"):
            jittered_ttl(60.0, jitter, random.Random(13))
