"""Cron expressions: five fields, or six with seconds first; bad ones refused up front."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bazaar.kernel.jobs import CronSchedule, InvalidScheduleError

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
