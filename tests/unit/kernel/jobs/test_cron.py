"""Cron expressions: five fields, or six with seconds first; bad ones refused up front."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.jobs import CronSchedule, CronScheduler, InvalidScheduleError, JobQueue
from bazaar.kernel.messaging.memory import InMemoryBroker

NOON = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC).timestamp()


class TestSchedule:
    def test_every_second(self) -> None:
        every = CronSchedule("tick", "* * * * * *", job="noop")
        assert every.latest_tick(NOON + 0.5) == NOON
        assert every.next_tick(NOON + 0.5) == NOON + 1

    def test_every_five_minutes(self) -> None:
        five = CronSchedule("purge", "*/5 * * * *", job="noop")
        assert five.latest_tick(NOON + 299) == NOON
        assert five.next_tick(NOON) == NOON + 300

    def test_a_tick_exactly_now_is_due(self) -> None:
        assert CronSchedule("t", "* * * * * *", job="noop").latest_tick(NOON) == NOON

    @pytest.mark.parametrize("expression", ["", "* * *", "61 * * * *", "* * * * * * *", "nope"])
    def test_an_invalid_expression_is_refused(self, expression: str) -> None:
        with pytest.raises(InvalidScheduleError):
            CronSchedule("bad", expression, job="noop")


class Claims:
    """Every (schedule, tick) is won once: what the SQL claims table guarantees."""

    def __init__(self) -> None:
        self.claimed: set[tuple[str, int]] = set()

    async def claim(self, name: str, tick: int, holder: str, now: float) -> bool:
        if (name, tick) in self.claimed:
            return False
        self.claimed.add((name, tick))
        return True


class TestScheduler:
    async def test_between_ticks_a_pass_reads_no_schedule_and_the_tick_still_fires(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Reading a schedule parses its expression (croniter); a pass that knows the next
        tick is not due yet skips it: five passes a second cost nothing between ticks."""
        reads: list[float] = []
        latest_tick = CronSchedule.latest_tick

        def counted(schedule: CronSchedule, now: float) -> int:
            reads.append(now)
            return latest_tick(schedule, now)

        monkeypatch.setattr(CronSchedule, "latest_tick", counted)
        clock = ManualClock(start=NOON + 1)
        five = CronSchedule("purge", "*/5 * * * *", job="noop")
        scheduler = CronScheduler(
            [five], Claims(), JobQueue(InMemoryBroker(), SnowflakeGenerator(1, clock), clock),
            clock, holder="w",
        )  # fmt: skip
        reads.clear()
        for _ in range(29):
            clock.advance(10.0)
            assert await scheduler.run_once() == []
        assert reads == []
        clock.advance(9.0)  # NOON + 300: the next tick
        assert await scheduler.run_once() == [("purge", int(NOON) + 300)]
        assert len(reads) == 1
        clock.advance(1.0)
        assert await scheduler.run_once() == []
        assert len(reads) == 1
        clock.advance(3_600.0)  # an hour later: the latest tick fires, once
        assert await scheduler.run_once() == [("purge", int(NOON) + 3_900)]
