"""The retry schedule (about 24 h, then abandoned) and the auto-disable rule, on a manual clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bazaar.contexts.webhooks import DeliveryStatus, DisablePolicy, RetrySchedule
from bazaar.kernel.clock import ManualClock, utc_from_timestamp
from bazaar.kernel.errors import ConfigurationError

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


class TestRetrySchedule:
    def test_the_default_is_nine_attempts_over_about_a_day(self) -> None:
        schedule = RetrySchedule()
        assert schedule.delays_s == (5.0, 60.0, 300.0, 1800.0, 7200.0, 18000.0, 28800.0, 28800.0)
        assert schedule.max_attempts == 9
        assert 23 * 3600 <= schedule.total_s <= 25 * 3600

    def test_delays_grow_and_jitter_stays_within_ten_percent(self) -> None:
        schedule, rng = RetrySchedule(), random.Random(7)
        for attempt, base in enumerate(schedule.delays_s, start=1):
            for _ in range(50):
                delay = schedule.delay_after(attempt, rng)
                assert delay is not None
                assert base * 0.9 <= delay <= base * 1.1
        assert list(schedule.delays_s) == sorted(schedule.delays_s)

    def test_jitter_spreads_endpoints_that_failed_together(self) -> None:
        rng = random.Random(11)
        delays = {RetrySchedule().delay_after(3, rng) for _ in range(20)}
        assert len(delays) == 20

    def test_no_delay_after_the_last_attempt(self) -> None:
        schedule = RetrySchedule()
        assert schedule.delay_after(9, random.Random(1)) is None
        assert schedule.delay_after(50, random.Random(1)) is None
        with pytest.raises(ValueError, match="from 1"):
            schedule.delay_after(0, random.Random(1))

    def test_success_is_final(self) -> None:
        step = RetrySchedule().after_attempt(4, succeeded=True, now=NOW, rng=random.Random(1))
        assert (step.status, step.next_attempt_at) == (DeliveryStatus.SUCCEEDED, None)

    def test_a_failure_schedules_the_next_attempt(self) -> None:
        schedule = RetrySchedule(jitter=0.0)
        step = schedule.after_attempt(2, succeeded=False, now=NOW, rng=random.Random(1))
        assert step.status is DeliveryStatus.FAILED
        assert step.next_attempt_at == NOW + timedelta(minutes=1)

    def test_a_failed_ninth_attempt_is_abandoned_and_so_is_a_failed_replay(self) -> None:
        schedule = RetrySchedule()
        for attempts in (9, 10):
            step = schedule.after_attempt(attempts, succeeded=False, now=NOW, rng=random.Random())
            assert (step.status, step.next_attempt_at) == (DeliveryStatus.ABANDONED, None)

    def test_following_the_schedule_spans_the_sum_of_its_delays(self) -> None:
        schedule, rng = RetrySchedule(jitter=0.0), random.Random(3)
        at, attempts = NOW, 0
        while True:
            attempts += 1
            step = schedule.after_attempt(attempts, succeeded=False, now=at, rng=rng)
            if step.next_attempt_at is None:
                break
            at = step.next_attempt_at
        assert attempts == 9
        assert (at - NOW).total_seconds() == schedule.total_s

    @pytest.mark.parametrize(
        ("delays", "jitter"), [((), 0.1), ((5.0, 0.0), 0.1), ((5.0,), 1.0), ((5.0,), -0.1)]
    )
    def test_refuses_nonsense(self, delays: tuple[float, ...], jitter: float) -> None:
        with pytest.raises(ConfigurationError):
            RetrySchedule(delays_s=delays, jitter=jitter)


class Streak:
    """An endpoint's failure streak as the dispatcher keeps it, on a manual clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.count = 0
        self.since: datetime | None = None

    def fail(self) -> None:
        self.count += 1
        self.since = self.since or utc_from_timestamp(self.clock.now())

    def succeed(self) -> None:
        self.count, self.since = 0, None

    def disables(self, policy: DisablePolicy) -> bool:
        return policy.should_disable(self.count, self.since, utc_from_timestamp(self.clock.now()))


class TestDisablePolicy:
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock(start=1_800_000_000)

    def test_twenty_failures_in_a_minute_are_not_enough(self, clock: ManualClock) -> None:
        streak, policy = Streak(clock), DisablePolicy()
        for _ in range(100):
            streak.fail()
            clock.advance(0.5)
        assert not streak.disables(policy)

    def test_failing_for_hours_with_few_attempts_is_not_enough(self, clock: ManualClock) -> None:
        streak, policy = Streak(clock), DisablePolicy()
        for _ in range(19):
            streak.fail()
            clock.advance(3600)
        assert not streak.disables(policy)

    def test_twenty_failures_spanning_an_hour_disable(self, clock: ManualClock) -> None:
        streak, policy = Streak(clock), DisablePolicy()
        for _ in range(19):
            streak.fail()
            clock.advance(190)  # 19 × 190 s = 3610 s
        streak.fail()
        assert streak.count == 20
        assert streak.disables(policy)

    def test_one_success_starts_the_streak_over(self, clock: ManualClock) -> None:
        streak, policy = Streak(clock), DisablePolicy()
        for _ in range(19):
            streak.fail()
            clock.advance(600)
        streak.succeed()
        reset_at = utc_from_timestamp(clock.now())
        for _ in range(19):
            streak.fail()
            clock.advance(200)
        assert not streak.disables(policy)  # 19 in a row since the success, over 3800 s
        streak.fail()
        assert streak.since == reset_at
        assert streak.disables(policy)

    def test_the_reason_says_how_many_and_since_when(self) -> None:
        reason = DisablePolicy().reason(20, NOW)
        assert reason == "20 consecutive failed attempts since 2026-01-01T12:00:00+00:00"

    @pytest.mark.parametrize(("count", "seconds"), [(0, 60.0), (5, -1.0), (5, float("inf"))])
    def test_refuses_nonsense(self, count: int, seconds: float) -> None:
        with pytest.raises(ConfigurationError):
            DisablePolicy(consecutive_failures=count, failing_for_s=seconds)
